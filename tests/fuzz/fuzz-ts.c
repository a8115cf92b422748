/* fuzz-ts.c — the MPEG-TS indexer and its gathering read: one-shot vs.
 * growing, and the produced payload of both, see fuzz-indexer.h; then the
 * finish (recording_finish: the writer is done) of a whole and of a grown
 * recording, which must agree, keep the tables consistent, and leave every
 * earlier snapshot's produced payload a prefix of the finished one's. */
#include "fuzz-indexer.h"

static void
fuzz_ts_finish (const guint8 *data, gsize size)
{
  FuzzRng rng;
  fuzz_rng_init (&rng, data, size);
  Source whole = source_from_memory (data, size);
  Recording *once = recording_new (&ts_indexer, "finished");
  recording_update (once, &whole);
  Snapshot *before = recording_snapshot (once);
  recording_finish (once, &whole);
  recording_finish (once, &whole);   /* once only */
  fuzz_assert_consistent (once, size);

  Recording *grown = recording_new (&ts_indexer, "grown, finished");
  Source half = source_from_memory (data, size ? fuzz_rng_range (&rng, 0, size) : 0);
  recording_update (grown, &half);
  recording_update (grown, &whole);
  recording_finish (grown, &whole);
  fuzz_assert_same_recording (once, grown, "finished: one-shot vs grown");

  Snapshot *after = recording_snapshot (once);
  GBytes *pb = fuzz_produced_payload (once, before, &whole, &rng);
  GBytes *pa = fuzz_produced_payload (once, after, &whole, &rng);
  gsize n;
  const guint8 *d = g_bytes_get_data (pb, &n);
  FUZZ_CHECK (n <= g_bytes_get_size (pa) && (n == 0 || memcmp (d, g_bytes_get_data (pa, NULL), n) == 0),
              "the produced payload before the finish is not a prefix of the one after");
  g_bytes_unref (pa);
  g_bytes_unref (pb);
  snapshot_free (before);
  snapshot_free (after);
  recording_unref (once);
  recording_unref (grown);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_indexer_input (&ts_indexer, data, size);
  fuzz_ts_finish (data, size);
  return 0;
}

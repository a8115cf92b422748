/* fuzz-indexer.h — the body shared by the per-container indexer targets.
 *
 * The input is one source file.  It is indexed in one go, and again as a
 * file that grows in steps derived from the input (some steps of one byte,
 * some large, some repeated sizes).  Both must give the same recording:
 * tracks, every sample's size, duration, composition offset, sync flag and
 * chunk, and the payload extents.  Along the way every intermediate state
 * must be consistent with the bytes seen so far, and the virtual file of an
 * early snapshot must be byte-identical when rebuilt after the recording has
 * grown (entries never move).
 */
#pragma once

#include "fuzz-common.h"

/* The first len bytes of the produced payload of snap (whole if len is
 * G_MAXUINT64), read in pieces of varying size; every read must succeed:
 * the tables promise those bytes. */
static GBytes *
fuzz_produced_payload (Recording *rec, Snapshot *snap, const Source *src, FuzzRng *rng)
{
  Layout *l = layout_new (rec, snapshot_copy (snap));
  GByteArray *out = g_byte_array_new ();
  GArray *pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  GByteArray *buffer = g_byte_array_new ();
  for (guint64 pos = l->header_len; pos < l->size;) {
    gsize want = (gsize) fuzz_rng_range (rng, 1, 1 << 16);
    g_array_set_size (pieces, 0);
    gsize got = layout_read (l, src, pos, want, pieces, buffer);
    FUZZ_CHECK (got == MIN (want, l->size - pos), "produced payload at %" G_GUINT64_FORMAT ": %zu of %zu bytes", pos,
                got, want);
    for (guint i = 0; i < pieces->len; i++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      FUZZ_CHECK (p->data != NULL, "a produced payload piece refers to the source");
      g_byte_array_append (out, p->data, (guint) p->len);
    }
    pos += got;
  }
  g_array_unref (pieces);
  g_byte_array_unref (buffer);
  layout_unref (l);
  return g_byte_array_free_to_bytes (out);
}

static void
fuzz_indexer_input (const IndexerClass *indexer, const guint8 *data, gsize size)
{
  FuzzRng rng;
  fuzz_rng_init (&rng, data, size);

  /* Detection on the whole file and on a prefix must not crash either. */
  Source whole = source_from_memory (data, size);
  gboolean need_more;
  (void) recording_detect (&whole, &need_more);
  Source part = source_from_memory (data, size ? fuzz_rng_range (&rng, 0, size) : 0);
  (void) recording_detect (&part, &need_more);

  Recording *once = recording_new (indexer, "once");
  recording_update (once, &whole);
  fuzz_assert_consistent (once, size);

  Recording *grown = recording_new (indexer, "grown");
  guint64 pos = 0;
  guint steps = 0, pin_step = (guint) fuzz_rng_range (&rng, 0, 12);
  Snapshot *pinned = NULL;
  GBytes *pinned_header = NULL;
  guint64 pinned_size = 0;
  while (pos < size && steps < 4096) {
    guint64 step;
    switch (fuzz_rng_next (&rng) % 5) {
    case 0: step = 1; break;
    case 1: step = fuzz_rng_range (&rng, 0, 16); break;
    case 2: step = fuzz_rng_range (&rng, 1, 256); break;
    case 3: step = fuzz_rng_range (&rng, 1, 4096); break;
    default: step = fuzz_rng_range (&rng, 1, size); break;
    }
    pos = MIN (size, pos + step);
    Source src = source_from_memory (data, pos);
    recording_update (grown, &src);
    fuzz_assert_consistent (grown, pos);
    if (steps == pin_step && !pinned) {
      Snapshot *snap = recording_snapshot (grown);
      pinned = snapshot_copy (snap);
      Layout *l = layout_new (grown, snap);
      pinned_header = layout_header (l);
      pinned_size = l->size;
      layout_unref (l);
    }
    steps++;
  }
  if (pos < size) {
    recording_update (grown, &whole);
    fuzz_assert_consistent (grown, size);
  }

  fuzz_assert_same_recording (once, grown, "one-shot vs grown");
  if (indexer->read_payload) {
    /* The gathering read gives the same bytes for both, and a snapshot
     * taken while the source grew reads as a prefix of the whole. */
    Snapshot *a = recording_snapshot (once), *b = recording_snapshot (grown);
    GBytes *pa = fuzz_produced_payload (once, a, &whole, &rng), *pb = fuzz_produced_payload (grown, b, &whole, &rng);
    FUZZ_CHECK (g_bytes_equal (pa, pb), "one-shot vs grown: the produced payloads differ");
    if (pinned) {
      GBytes *pp = fuzz_produced_payload (grown, pinned, &whole, &rng);
      gsize n;
      const guint8 *d = g_bytes_get_data (pp, &n);
      FUZZ_CHECK (n <= g_bytes_get_size (pa) && (n == 0 || memcmp (d, g_bytes_get_data (pa, NULL), n) == 0),
                  "an early snapshot's produced payload is not a prefix of the whole");
      g_bytes_unref (pp);
    }
    g_bytes_unref (pa);
    g_bytes_unref (pb);
    snapshot_free (a);
    snapshot_free (b);
  }

  if (pinned) {
    for (guint i = 0; i < pinned->n_tracks; i++)
      FUZZ_CHECK (pinned->counts[i] <= ((Track *) g_ptr_array_index (grown->tracks, i))->table.count,
                  "track %u shrank", i);
    Layout *l = layout_new (grown, pinned);
    GBytes *header = layout_header (l);
    FUZZ_CHECK (l->size == pinned_size && g_bytes_equal (header, pinned_header),
                "a snapshot's virtual file changed after the recording grew");
    g_bytes_unref (header);
    layout_unref (l);
    g_bytes_unref (pinned_header);
  }
  recording_unref (once);
  recording_unref (grown);
}

/* The libFuzzer entry points of a target that feeds one indexer. */
#define FUZZ_INDEXER_TARGET(indexer)                               \
  int LLVMFuzzerInitialize (int *argc, char ***argv)               \
  {                                                                \
    (void) argc;                                                   \
    (void) argv;                                                   \
    fuzz_init_logging ();                                          \
    return 0;                                                      \
  }                                                                \
  int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)    \
  {                                                                \
    fuzz_indexer_input (&(indexer), data, size);                   \
    return 0;                                                      \
  }

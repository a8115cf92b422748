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

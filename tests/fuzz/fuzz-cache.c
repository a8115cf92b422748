/* fuzz-cache.c — the index cache reader (muxer/index_cache.h).
 *
 * The input is a cache file, read with its checksum skipped (a forger's
 * view: the checksum only stops accidents).  Whatever it holds, restoring it
 * must not crash; a Recording it gives must be consistent with the source
 * size its key names (extents inside it, tables inside the payload), its
 * whole virtual file must be produced as the layout promises, and saving it
 * again and restoring that (checksum checked) must give the same Recording
 * and the same header bytes.  Seeds: real cache files of the fMP4, Matroska
 * and MP4 seed recordings.
 */
#include "fuzz-common.h"
#include "muxer/index_cache.h"

static GBytes *
header_of (Recording *rec)
{
  Layout *l = layout_new (rec, recording_snapshot (rec));
  GBytes *h = layout_header (l);
  GArray *pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  /* The payload is spliced from the source: its pieces name source bytes. */
  for (guint64 pos = l->header_len; pos < l->size;) {
    gsize want = (gsize) MIN (l->size - pos, 1 << 20);
    g_array_set_size (pieces, 0);
    gsize got = layout_read (l, NULL, pos, want, pieces, NULL);
    FUZZ_CHECK (got == want, "payload at %" G_GUINT64_FORMAT ": %zu of %zu bytes", pos, got, want);
    for (guint i = 0; i < pieces->len; i++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      FUZZ_CHECK (p->data == NULL && p->source_offset + p->len <= rec->source_size,
                  "a payload piece lies outside the source");
    }
    pos += got;
  }
  g_array_unref (pieces);
  layout_unref (l);
  return h;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean init;
  if (!init) {
    fuzz_init_logging ();
    init = TRUE;
  }
  IndexCacheKey key;
  char *strings;
  (void) index_cache_read_key (data, size, &key, &strings, NULL);
  g_free (strings);
  Recording *rec = index_cache_restore (data, size, NULL, "fuzz", INDEX_CACHE_SKIP_CHECKSUM, NULL);
  if (!rec)
    return 0;
  fuzz_assert_consistent (rec, rec->source_size);
  GBytes *header = header_of (rec);

  FUZZ_CHECK (index_cache_read_key (data, size, &key, &strings, NULL), "a restored file has no key");
  IndexCacheKey copy = key;
  GBytes *again = index_cache_serialise (rec, &copy);
  FUZZ_CHECK (again != NULL, "a restored recording cannot be saved");
  gsize len;
  const guint8 *bytes = g_bytes_get_data (again, &len);
  Recording *back = index_cache_restore (bytes, len, &copy, "again", 0, NULL);
  FUZZ_CHECK (back != NULL, "a saved recording cannot be restored");
  fuzz_assert_same_recording (rec, back, "saved again");
  GBytes *header_back = header_of (back);
  FUZZ_CHECK (g_bytes_equal (header, header_back), "the header changed through a save");
  g_bytes_unref (header_back);
  g_bytes_unref (header);
  g_bytes_unref (again);
  g_free (strings);
  recording_unref (back);
  recording_unref (rec);
  return 0;
}

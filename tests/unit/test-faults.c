/* test-faults.c — read errors never give a wrong file (issue 15).
 *
 * In the manner of SQLite's test VFS: every recording the unit and fuzz
 * suites keep (tests/fuzz/corpus, tests/fuzz/regressions, tests/golden) is
 * exported once without faults, counting the source reads; then again with
 * one fault injected at the Nth read, for every N (a sample of them for the
 * longest files): EIO, a short read, EINTR, and EIO at every read from the
 * Nth on.  The export does what the daemon does (catalog.c): a recording
 * whose update met an I/O error is indexed again in a new Recording, a read
 * of the virtual file (its source bytes read through Source, as the read
 * path does under fault injection) that fails is tried again.  The result must be the
 * same bytes, or, only while EIO persists, a clear error: never other bytes.
 * The export is whole and growing (the source shown in two steps).
 */
#include <errno.h>
#include <string.h>

#include "test-files.h"
#include "muxer/layout.h"
#include "muxer/recording.h"

/* At most this many fault positions per file and fault kind. */
#define MAX_POSITIONS 120
/* Attempts at indexing (and at each read) before a persistent error is an error. */
#define ATTEMPTS 3

static GPtrArray *inputs;   /* paths */

typedef struct {
  GBytes *bytes;            /* the virtual file, or NULL */
  char *error;              /* why not */
} Export;

static void
export_clear (Export *e)
{
  g_clear_pointer (&e->bytes, g_bytes_unref);
  g_clear_pointer (&e->error, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Export, export_clear)

/* Indexes src into *rec (made or remade as needed), as catalog.c does. */
static gboolean
update (Recording **rec, const IndexerClass *indexer, const Source *src)
{
  for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (*rec && recording_io_failed (*rec)) {
      recording_unref (*rec);
      *rec = NULL;
    }
    if (!*rec)
      *rec = recording_new (indexer, "faults");
    recording_update (*rec, src);
    if (!recording_io_failed (*rec))
      return TRUE;
  }
  return FALSE;
}

/* The virtual file of data, shown first up to half its length (steps > 1). */
static Export
export (const guint8 *data, gsize len, int steps)
{
  Export e = { 0 };
  Source whole = source_from_memory (data, len);
  gboolean need_more = TRUE;
  const IndexerClass *indexer = NULL;
  for (int attempt = 0; attempt < ATTEMPTS && !indexer && need_more; attempt++)
    indexer = recording_detect (&whole, &need_more);
  if (!indexer) {
    e.error = g_strdup (need_more ? "cannot tell what it is" : "not a recording");
    return e;
  }
  Recording *rec = NULL;
  for (int step = 1; step <= steps; step++) {
    Source src = source_from_memory (data, len / steps * step + (step == steps ? len % steps : 0));
    if (!update (&rec, indexer, &src)) {
      e.error = recording_describe_problems (rec);
      recording_unref (rec);
      return e;
    }
  }
  g_autoptr (Layout) layout = layout_new (rec, recording_snapshot (rec));
  recording_unref (rec);
  GByteArray *out = g_byte_array_new ();
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  for (guint64 pos = 0; pos < layout->size;) {
    gsize want = (gsize) MIN (layout->size - pos, 1 << 16), got = 0;
    for (int attempt = 0; attempt < ATTEMPTS && got < want; attempt++) {
      g_array_set_size (pieces, 0);
      got = layout_read (layout, &whole, pos, want, pieces, buffer);
    }
    if (got < want) {
      e.error = g_strdup_printf ("cannot read the virtual file at %" G_GUINT64_FORMAT, pos);
      g_byte_array_unref (out);
      return e;
    }
    /* Source bytes are read as the daemon's read path reads them under
     * fault injection (fs/ops_file.c): through Source, again if that fails. */
    gboolean read_ok = TRUE;
    for (guint i = 0; i < pieces->len && read_ok; i++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      if (p->data) {
        g_byte_array_append (out, p->data, (guint) p->len);
        continue;
      }
      g_autofree guint8 *bytes = g_malloc (MAX (p->len, 1));
      read_ok = FALSE;
      for (int attempt = 0; attempt < ATTEMPTS && !read_ok; attempt++)
        read_ok = source_read (&whole, p->source_offset, bytes, p->len);
      if (read_ok)
        g_byte_array_append (out, bytes, (guint) p->len);
    }
    if (!read_ok) {
      e.error = g_strdup_printf ("cannot read the source for the virtual file at %" G_GUINT64_FORMAT, pos);
      g_byte_array_unref (out);
      return e;
    }
    pos += want;
  }
  e.bytes = g_byte_array_free_to_bytes (out);
  return e;
}


static void
test_input (gconstpointer path)
{
  g_autoptr (GBytes) bytes = test_load_file (path);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  static const struct { SourceFault fault; gboolean persistent; const char *name; } kinds[] = {
    { SOURCE_FAULT_EIO, FALSE, "EIO once" },
    { SOURCE_FAULT_SHORT, FALSE, "a short read" },
    { SOURCE_FAULT_EINTR, FALSE, "EINTR" },
    { SOURCE_FAULT_EIO, TRUE, "EIO from then on" },
  };
  for (int steps = 1; steps <= 2; steps++) {
    /* Counting the reads: a fault planned past the end. */
    source_fault_set (SOURCE_FAULT_EIO, G_MAXUINT64, FALSE);
    g_auto (Export) clean = export (data, len, steps);
    guint64 reads = source_fault_reads ();
    source_fault_set (SOURCE_FAULT_NONE, 0, FALSE);
    if (!clean.bytes)
      continue;   /* not a recording, or damaged at the start: nothing to compare */
    guint64 stride = MAX (reads / MAX_POSITIONS, 1);
    for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
      for (guint64 nth = 1; nth <= reads; nth += stride) {
        source_fault_set (kinds[k].fault, nth, kinds[k].persistent);
        g_auto (Export) got = export (data, len, steps);
        gboolean injected = source_fault_injected ();
        source_fault_set (SOURCE_FAULT_NONE, 0, FALSE);
        g_assert_true (injected);
        if (got.bytes) {
          if (!g_bytes_equal (got.bytes, clean.bytes))
            g_error ("%s, %d step(s): %s at read %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                     " gave other bytes (%" G_GSIZE_FORMAT " instead of %" G_GSIZE_FORMAT ")",
                     (const char *) path, steps, kinds[k].name, nth, reads, g_bytes_get_size (got.bytes),
                     g_bytes_get_size (clean.bytes));
        } else if (!kinds[k].persistent) {
          g_error ("%s, %d step(s): %s at read %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   " was not overcome: %s", (const char *) path, steps, kinds[k].name, nth, reads, got.error);
        } else {
          g_assert_nonnull (got.error);   /* a clear error */
        }
      }
  }
}


static void
add_dir (const char *tests, const char *sub)
{
  g_autofree char *dir = g_build_filename (tests, sub, NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  if (!d)
    return;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (!g_str_has_suffix (name, ".sh") && !g_str_has_suffix (name, ".md") && strcmp (name, "SHA256SUMS") != 0)
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++) {
    char *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
    g_ptr_array_add (inputs, path);
    g_autofree char *test = g_strdup_printf ("/faults/%s/%s", sub, (char *) g_ptr_array_index (names, i));
    g_test_add_data_func (test, path, test_input);
  }
}

static void
quiet (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) domain, (void) level, (void) message, (void) data;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  /* Damaged inputs and injected errors log a warning each. */
  g_log_set_handler ("livemp4", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, quiet, NULL);
  inputs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *tests = test_tests_dir ();
  g_assert_nonnull (tests);
  add_dir (tests, "golden");
  add_dir (tests, "fuzz/corpus/fmp4");
  add_dir (tests, "fuzz/corpus/mkv");
  add_dir (tests, "fuzz/corpus/mp4");
  add_dir (tests, "fuzz/corpus/ts");
  add_dir (tests, "fuzz/regressions");
  int ret = g_test_run ();
  g_ptr_array_unref (inputs);
  return ret;
}

/* test-regressions.c — every input a fuzz target once failed on, replayed.
 *
 * The inputs live in tests/fuzz/regressions/, named TARGET-WHAT.EXT; each
 * becomes one test case (g_test_add_data_func) that runs the same checks as
 * the fuzz targets (tests/fuzz/fuzz-indexer.h: one-shot vs. growing source;
 * tests/fuzz/fuzz-writer.c: the virtual file parsed back and checked against
 * the tables) under this build's flags, plus what the fix promised, where
 * a test below says so.  Every input also goes through every check, whatever
 * target found it: a fix must not move the crash elsewhere.
 */
#define HAVE_MKV 1
#include "tests/fuzz/fuzz-indexer.h"

/* The writer target's checks, under other names. */
#define LLVMFuzzerInitialize fuzz_writer_initialize
#define LLVMFuzzerTestOneInput fuzz_writer_one_input
#include "tests/fuzz/fuzz-writer.c"

#include <unistd.h>

static char *regressions_dir;

static char *
find_regressions_dir (void)
{
  const char *srcdir = g_getenv ("G_TEST_SRCDIR");
  if (srcdir) {
    char *d = g_build_filename (srcdir, "..", "fuzz", "regressions", NULL);
    if (g_file_test (d, G_FILE_TEST_IS_DIR))
      return d;
    g_free (d);
  }
  /* From the repository root (make check), or next to this binary
   * (build/<flavour>/tests/test-regressions). */
  if (g_file_test ("tests/fuzz/regressions", G_FILE_TEST_IS_DIR))
    return g_strdup ("tests/fuzz/regressions");
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe) {
    g_autofree char *dir = g_path_get_dirname (exe);
    char *d = g_build_filename (dir, "..", "..", "..", "tests", "fuzz", "regressions", NULL);
    if (g_file_test (d, G_FILE_TEST_IS_DIR))
      return d;
    g_free (d);
  }
  return NULL;
}

static GBytes *
load (const char *name)
{
  g_autofree char *path = g_build_filename (regressions_dir, name, NULL);
  char *data;
  gsize len;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

/* Every fuzz check, on one input. */
static void
test_input (gconstpointer data)
{
  const char *name = data;
  g_autoptr (GBytes) bytes = load (name);
  gsize len;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  for (gsize i = 0; i < G_N_ELEMENTS (fuzz_indexers); i++)
    fuzz_indexer_input (fuzz_indexers[i], p, len);
  fuzz_writer_one_input (p, len);
}

/* Indexes the whole input with the first indexer that takes it. */
static Recording *
index_whole (GBytes *bytes)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  Source src = source_from_memory (p, len);
  gboolean need_more;
  const IndexerClass *indexer = recording_detect (&src, &need_more);
  g_assert_nonnull (indexer);
  Recording *rec = recording_new (indexer, "regression");
  recording_update (rec, &src);
  return rec;
}

/* A trex naming sample description 0 (there is one, number 1): the samples
 * were indexed and the moov's stsc pointed at a missing entry.  Now the
 * recording stops there, with the reason, and shows no invalid sample. */
static void
test_description_index_0 (void)
{
  g_autoptr (GBytes) bytes = load ("writer-description-index-0.mp4");
  g_autoptr (Recording) rec = index_whole (bytes);
  g_assert_true (rec->failed);
  g_assert_nonnull (strstr (rec->error, "sample description 0 does not exist"));
  for (guint i = 0; i < rec->tracks->len; i++) {
    const SampleTable *t = &((Track *) g_ptr_array_index (rec->tracks, i))->table;
    for (guint c = 0; c < t->chunks->len; c++)
      g_assert_cmpuint (sample_table_chunk (t, c).description_index, >=, 1);
  }
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fuzz_init_logging ();
  regressions_dir = find_regressions_dir ();
  if (!regressions_dir) {
    g_printerr ("tests/fuzz/regressions not found (set G_TEST_SRCDIR to tests/unit)\n");
    return 1;
  }
  g_autoptr (GDir) dir = g_dir_open (regressions_dir, 0, NULL);
  g_assert_nonnull (dir);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_strdup_printf ("/regressions/fuzz/%s", (char *) names->pdata[i]);
    g_test_add_data_func (path, names->pdata[i], test_input);
  }
  g_test_add_func ("/regressions/description-index-0", test_description_index_0);
  int status = g_test_run ();
  g_ptr_array_unref (names);
  g_free (regressions_dir);
  return status;
}

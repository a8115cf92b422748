/* test-files.h — the repository's test files, for the unit tests that read
 * every recording the suites keep (test-faults.c, test-index-cache.c). */
#pragma once

#include <glib.h>

/* A whole file; the test fails if it cannot be read. */
static inline GBytes *
test_load_file (const char *path)
{
  char *data;
  gsize len;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  return g_bytes_new_take (data, len);
}

/* The repository's tests/ directory, from the repository root or the
 * binary (build/<kind>/tests/); NULL if neither finds it. */
static inline char *
test_tests_dir (void)
{
  if (g_file_test ("tests/fuzz/corpus", G_FILE_TEST_IS_DIR))
    return g_strdup ("tests");
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = exe ? g_path_get_dirname (exe) : NULL;
  char *d = dir ? g_build_filename (dir, "..", "..", "..", "tests", NULL) : NULL;
  if (d && g_file_test (d, G_FILE_TEST_IS_DIR))
    return d;
  g_free (d);
  return NULL;
}

/* test-index-cache.c — a recording read back from its cache file is the
 * indexed one (issue 14 item 2), and no damaged cache file is trusted.
 *
 * Every fMP4, Matroska/WebM and plain MP4 recording the suites keep
 * (tests/golden, tests/fuzz/corpus) is indexed, saved and restored: the
 * restored Recording must give the same snapshot (counts, pins, payload)
 * and the same virtual file, byte for byte, and the same problems.  Then
 * every truncation and every single-byte change of the golden recordings'
 * cache files must be refused (the checksum), and, with the checksum
 * skipped as a forger would, either refused by the parser or give a
 * recording whose whole virtual file can be produced (under ASan: safely).
 */
#include <glib/gstdio.h>
#include <string.h>

#include "test-files.h"
#include "muxer/index_cache.h"
#include "muxer/layout.h"



/* The whole virtual file of a snapshot of rec, its source bytes from data;
 * NULL if some bytes cannot be produced. */
static GBytes *
export (Recording *rec, const guint8 *data, gsize len)
{
  Source src = source_from_memory (data, len);
  g_autoptr (Layout) layout = layout_new (rec, recording_snapshot (rec));
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  for (guint64 pos = 0; pos < layout->size;) {
    gsize want = (gsize) MIN (layout->size - pos, 1 << 16);
    g_array_set_size (pieces, 0);
    if (layout_read (layout, &src, pos, want, pieces, buffer) != want)
      return NULL;
    for (guint i = 0; i < pieces->len; i++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      if (p->data) {
        g_byte_array_append (out, p->data, (guint) p->len);
      } else {
        if (p->source_offset > len || p->len > len - p->source_offset)
          return NULL;
        g_byte_array_append (out, data + p->source_offset, (guint) p->len);
      }
    }
    pos += want;
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static Recording *
index_whole (const guint8 *data, gsize len)
{
  Source src = source_from_memory (data, len);
  gboolean need_more;
  const IndexerClass *indexer = recording_detect (&src, &need_more);
  if (!indexer)
    return NULL;
  Recording *rec = recording_new (indexer, "test");
  recording_update (rec, &src);
  return rec;
}

static IndexCacheKey
key_of (const guint8 *data, gsize len, guint64 virtual_size)
{
  IndexCacheKey key = { .path = "dir/rec.mp4", .source_size = len, .mtime_sec = 1700000000, .mtime_nsec = 123456789,
                        .dev = 2049, .ino = 4242, .virtual_size = virtual_size };
  Source src = source_from_memory (data, len);
  g_assert_true (index_cache_hash_head (&src, &key));
  return key;
}

static gboolean
same_snapshot (const Snapshot *a, const Snapshot *b)
{
  return a->n_tracks == b->n_tracks && a->payload_len == b->payload_len && a->source_size == b->source_size &&
         memcmp (a->counts, b->counts, a->n_tracks * sizeof (guint32)) == 0 &&
         memcmp (a->configured, b->configured, a->n_tracks * sizeof (gboolean)) == 0 &&
         memcmp (a->pins, b->pins, a->n_tracks * sizeof (TablePin)) == 0;
}

static void
test_round_trip (gconstpointer path)
{
  g_autoptr (GBytes) bytes = test_load_file (path);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  g_autoptr (Recording) rec = index_whole (data, len);
  if (!rec || !index_cache_supported (rec)) {
    g_test_skip ("not a cacheable recording");
    return;
  }
  g_autoptr (GBytes) virtual_file = export (rec, data, len);
  g_assert_nonnull (virtual_file);
  IndexCacheKey key = key_of (data, len, g_bytes_get_size (virtual_file));
  g_autoptr (GBytes) cache = index_cache_serialise (rec, &key);
  g_assert_nonnull (cache);
  key.indexer = recording_format_name (rec);

  gsize cache_len;
  const guint8 *cache_data = g_bytes_get_data (cache, &cache_len);
  g_autoptr (GError) error = NULL;
  g_autoptr (Recording) back = index_cache_restore (cache_data, cache_len, &key, "back", 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_true (recording_restored (back));

  g_autoptr (Snapshot) a = recording_snapshot (rec);
  g_autoptr (Snapshot) b = recording_snapshot (back);
  g_assert_true (same_snapshot (a, b));
  g_autoptr (GBytes) virtual_back = export (back, data, len);
  g_assert_nonnull (virtual_back);
  g_assert_true (g_bytes_equal (virtual_file, virtual_back));
  g_autofree char *problems = recording_describe_problems (rec);
  g_autofree char *problems_back = recording_describe_problems (back);
  g_assert_cmpstr (problems, ==, problems_back);
  g_assert_cmpint (recording_failed (rec), ==, recording_failed (back));
  g_assert_cmpuint (recording_memory (rec), ==, recording_memory (back));

  /* The header alone gives the key, virtual size included (issue 14 item 5). */
  IndexCacheKey read;
  g_autofree char *strings = NULL;
  g_assert_true (index_cache_read_key (cache_data, cache_len, &read, &strings, NULL));
  g_assert_true (index_cache_key_equal (&read, &key));
  g_assert_cmpuint (read.virtual_size, ==, g_bytes_get_size (virtual_file));

  /* A restored recording is never fed: a grown source needs a new one. */
  g_autofree guint8 *longer = g_malloc0 (len + 100);
  memcpy (longer, data, len);
  Source grown = source_from_memory (longer, len + 100);
  g_assert_false (recording_update (back, &grown));
  g_autoptr (Snapshot) c = recording_snapshot (back);
  g_assert_true (same_snapshot (b, c));
}

/* The golden recording at path, indexed, and its cache file. */
static GBytes *
golden_cache (const char *path, GBytes **source, IndexCacheKey *key)
{
  *source = test_load_file (path);
  gsize len;
  const guint8 *data = g_bytes_get_data (*source, &len);
  g_autoptr (Recording) rec = index_whole (data, len);
  g_assert_nonnull (rec);
  *key = key_of (data, len, 0);
  key->indexer = recording_format_name (rec);
  return index_cache_serialise (rec, key);
}

static void
test_damage (gconstpointer path)
{
  g_autoptr (GBytes) source = NULL;
  IndexCacheKey key;
  g_autoptr (GBytes) cache = golden_cache (path, &source, &key);
  gsize len, src_len;
  const guint8 *data = g_bytes_get_data (cache, &len);
  const guint8 *src = g_bytes_get_data (source, &src_len);
  g_autofree guint8 *copy = g_memdup2 (data, len);
  guint forged_ok = 0, forged_refused = 0;

  for (gsize cut = 0; cut < len; cut++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (Recording) rec = index_cache_restore (data, cut, &key, "cut", 0, &error);
    g_assert_null (rec);
    g_assert_nonnull (error);
    /* Truncated with the checksum skipped: always short of its body. */
    g_autoptr (Recording) forged = index_cache_restore (data, cut, NULL, "cut", INDEX_CACHE_SKIP_CHECKSUM, NULL);
    g_assert_null (forged);
  }
  for (gsize i = 0; i < len; i++) {
    static const guint8 changes[] = { 0x01, 0x80, 0xff };
    for (gsize k = 0; k < G_N_ELEMENTS (changes); k++) {
      copy[i] = data[i] ^ changes[k];
      g_autoptr (Recording) rec = index_cache_restore (copy, len, &key, "corrupt", 0, NULL);
      g_assert_null (rec);
      g_autoptr (Recording) forged = index_cache_restore (copy, len, NULL, "forged", INDEX_CACHE_SKIP_CHECKSUM, NULL);
      if (forged) {
        /* Whatever it claims, its file can be produced from the source. */
        g_autoptr (GBytes) out = export (forged, src, src_len);
        g_assert_nonnull (out);
        forged_ok++;
      } else {
        forged_refused++;
      }
      copy[i] = data[i];
    }
  }
  g_test_message ("%s: %" G_GSIZE_FORMAT " bytes; forged changes: %u refused, %u served", (const char *) path, len,
                  forged_refused, forged_ok);
  g_assert_cmpuint (forged_refused, >, 0);
}

static void
test_stale_keys (gconstpointer path)
{
  g_autoptr (GBytes) source = NULL;
  IndexCacheKey key;
  g_autoptr (GBytes) cache = golden_cache (path, &source, &key);
  gsize len;
  const guint8 *data = g_bytes_get_data (cache, &len);
  g_autoptr (Recording) ok = index_cache_restore (data, len, &key, "ok", 0, NULL);
  g_assert_nonnull (ok);
  for (int field = 0; field < 9; field++) {
    IndexCacheKey k = key;
    switch (field) {
    case 0: k.source_size++; break;
    case 1: k.mtime_sec++; break;
    case 2: k.mtime_nsec++; break;
    case 3: k.dev++; break;
    case 4: k.ino++; break;
    case 5: k.head_hash[7] ^= 1; break;
    case 6: k.head_len--; break;
    case 7: k.path = "dir/other.mp4"; break;
    case 8: k.indexer = "ts"; break;
    }
    g_autoptr (GError) error = NULL;
    g_autoptr (Recording) rec = index_cache_restore (data, len, &k, "stale", 0, &error);
    g_assert_null (rec);
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  /* Another format version is refused whatever its checksum says. */
  g_autofree guint8 *copy = g_memdup2 (data, len);
  copy[11] ^= 2;
  g_autoptr (GError) error = NULL;
  g_autoptr (Recording) rec = index_cache_restore (copy, len, NULL, "v", INDEX_CACHE_SKIP_CHECKSUM, &error);
  g_assert_null (rec);
  g_assert_nonnull (strstr (error->message, "format"));
}

static void
test_write_atomic (void)
{
  g_autofree char *dir = g_dir_make_tmp ("index-cache-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "a.idx", NULL);
  g_autoptr (GBytes) one = g_bytes_new_static ("first", 5);
  g_autoptr (GBytes) two = g_bytes_new_static ("second!", 7);
  g_assert_true (index_cache_write_file (path, one, NULL));
  g_assert_true (index_cache_write_file (path, two, NULL));
  g_autofree char *got = NULL;
  gsize got_len;
  g_assert_true (g_file_get_contents (path, &got, &got_len, NULL));
  g_assert_cmpmem (got, got_len, "second!", 7);
  /* No temporary file is left behind. */
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d))
    n++;
  g_assert_cmpuint (n, ==, 1);
  g_autoptr (GError) error = NULL;
  g_autofree char *nowhere = g_build_filename (dir, "missing", "b.idx", NULL);
  g_assert_false (index_cache_write_file (nowhere, one, &error));
  g_assert_nonnull (error);
  g_unlink (path);
  g_rmdir (dir);
}

/* sample_cursor_next reads back what was appended, the last duration as
 * amended: the contract the cache's writer relies on (table.h). */
static void
test_table_iter (void)
{
  GRand *rand = g_rand_new_with_seed (14);
  for (int round = 0; round < 50; round++) {
    SampleTable t;
    sample_table_init (&t);
    guint32 n = (guint32) g_rand_int_range (rand, 0, 3000);
    SampleInfo *want = g_new0 (SampleInfo, MAX (n, 1));
    guint64 payload = 0;
    for (guint32 i = 0; i < n; i++) {
      SampleInfo s = {
        .size = g_rand_boolean (rand) ? 100 : (guint32) g_rand_int_range (rand, 0, 5000),
        .duration = g_rand_int_range (rand, 0, 4) ? 1024 : (guint32) g_rand_int_range (rand, 1, 3000),
        .composition_offset = g_rand_int_range (rand, 0, 3) ? 0 : g_rand_int_range (rand, -2000, 2000),
        .sync = g_rand_int_range (rand, 0, 5) == 0 || round % 7 == 0,
        .description_index = g_rand_int_range (rand, 0, 50) ? 1 : 2,
      };
      payload += g_rand_int_range (rand, 0, 4) ? 0 : (guint64) g_rand_int_range (rand, 1, 9000);
      s.payload_offset = payload;
      payload += s.size;
      sample_table_append (&t, &s);
      want[i] = s;
      if (g_rand_int_range (rand, 0, 10) == 0) {
        guint32 d = (guint32) g_rand_int_range (rand, 1, 3000);
        sample_table_set_last_duration (&t, d);
        want[i].duration = d;
      }
    }
    SampleCursor it;
    guint64 decode_time;
    SampleInfo got;
    sample_cursor_init (&it);
    for (guint32 i = 0; i < n; i++) {
      g_assert_true (sample_cursor_next (&t, &it, &got, &decode_time));
      g_assert_cmpuint (got.size, ==, want[i].size);
      g_assert_cmpuint (got.duration, ==, want[i].duration);
      g_assert_cmpint (got.composition_offset, ==, want[i].composition_offset);
      g_assert_cmpint (!!got.sync, ==, !!want[i].sync || t.all_sync);
      g_assert_cmpuint (got.description_index, ==, want[i].description_index);
      g_assert_cmpuint (got.payload_offset, ==, want[i].payload_offset);
    }
    g_assert_false (sample_cursor_next (&t, &it, &got, &decode_time));
    g_free (want);
    sample_table_clear (&t);
  }
  g_rand_free (rand);
}

static void
quiet (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) domain, (void) level, (void) message, (void) data;
}

static void
add_dir (const char *tests, const char *sub, const char *prefix, GTestDataFunc func)
{
  g_autofree char *dir = g_build_filename (tests, sub, NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (!g_str_has_suffix (name, ".ts") && !g_str_has_suffix (name, ".sh") && strcmp (name, "SHA256SUMS"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++) {
    const char *n = g_ptr_array_index (names, i);
    g_autofree char *test = g_strdup_printf ("%s/%s/%s", prefix, sub, n);
    g_test_add_data_func_full (test, g_build_filename (dir, n, NULL), func, g_free);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  g_log_set_handler ("livemp4", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, quiet, NULL);
  g_autofree char *tests = test_tests_dir ();
  g_assert_nonnull (tests);
  add_dir (tests, "golden", "/index-cache/round-trip", test_round_trip);
  add_dir (tests, "fuzz/corpus/fmp4", "/index-cache/round-trip", test_round_trip);
  add_dir (tests, "fuzz/corpus/mkv", "/index-cache/round-trip", test_round_trip);
  add_dir (tests, "fuzz/corpus/mp4", "/index-cache/round-trip", test_round_trip);
  add_dir (tests, "golden", "/index-cache/damage", test_damage);
  add_dir (tests, "golden", "/index-cache/stale-key", test_stale_keys);
  g_test_add_func ("/index-cache/write-atomic", test_write_atomic);
  g_test_add_func ("/index-cache/table-iter", test_table_iter);
  return g_test_run ();
}

/* test-node-id.c — node ids and generations derived from identities (fs/node_id.h). */
#include "fs/node_id.h"

#include <string.h>

enum { DIR_KIND = 0, FILE_KIND = 1, SYMLINK_KIND = 2, SNAPSHOT_KIND = 3, HLS_FILE_KIND = 6 };

static struct stat
source (guint64 dev, guint64 ino, mode_t mode, uid_t uid)
{
  struct stat st = { 0 };
  st.st_dev = dev;
  st.st_ino = ino;
  st.st_mode = mode;
  st.st_uid = uid;
  st.st_gid = 100;
  return st;
}

static guint64
id_of (int kind, const struct stat *st, const char *key, guint32 *generation)
{
  return node_id_make (kind, st->st_ino, key, 0, generation);
}

static void
test_same_identity_same_id (void)
{
  /* Twice from fresh strings, as after a forget or a restart. */
  struct stat st = source (2049, 1234567, S_IFREG | 0644, 1000);
  g_autofree char *k1 = node_key_snapshot (&st, 9399);
  g_autofree char *k2 = node_key_snapshot (&st, 9399);
  guint32 g1, g2;
  guint64 a = id_of (SNAPSHOT_KIND, &st, k1, &g1), b = id_of (SNAPSHOT_KIND, &st, k2, &g2);
  g_assert_cmpuint (a, ==, b);
  g_assert_cmpuint (g1, ==, g2);
  g_autofree char *m1 = node_key_mirrored (FILE_KIND, &st, "sub/notes.txt");
  g_autofree char *m2 = node_key_mirrored (FILE_KIND, &st, "sub/notes.txt");
  g_assert_cmpuint (id_of (FILE_KIND, &st, m1, NULL), ==, id_of (FILE_KIND, &st, m2, NULL));
}

static void
test_pinned_values (void)
{
  /* Handles held by NFS clients outlive daemon versions: a change of the
   * derivation must be deliberate. */
  struct stat st = source (2049, 1234567, S_IFREG | 0644, 1000);
  g_autofree char *key = node_key_snapshot (&st, 9399);
  g_assert_cmpstr (key, ==, "s:2049:1234567:9399:444:1000:100");
  guint32 generation;
  guint64 id = id_of (SNAPSHOT_KIND, &st, key, &generation);
  g_autofree char *text = g_strdup_printf ("%016" G_GINT64_MODIFIER "x/%08x", id, generation);
  /* kind 3 + 1, inode 1234567, and the first 8 + 4 bytes of
   * printf %s 's:2049:1234567:9399:444:1000:100' | sha256sum = 17e34038247ef96e18f84227... */
  g_assert_cmpstr (text, ==, "80025ad0e47ef96e/18f84227");
}

static void
test_snapshots_differ_by_length_and_permissions (void)
{
  struct stat st = source (2049, 77, S_IFREG | 0644, 1000);
  GHashTable *seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  /* Every snapshot a growing recording had, 2000 of them. */
  for (guint64 length = 1000; length < 1000 + 2000 * 4099; length += 4099) {
    g_autofree char *key = node_key_snapshot (&st, length);
    guint64 id = id_of (SNAPSHOT_KIND, &st, key, NULL);
    g_array_append_val (ids, id);
  }
  for (guint i = 0; i < ids->len; i++) {
    g_assert_false (g_hash_table_contains (seen, &g_array_index (ids, guint64, i)));
    g_hash_table_add (seen, &g_array_index (ids, guint64, i));
  }
  g_autofree char *before = node_key_snapshot (&st, 5000);
  st.st_mode = S_IFREG | 0600;   /* chmod 600: a new node, not readable */
  g_autofree char *after = node_key_snapshot (&st, 5000);
  g_assert_cmpstr (before, !=, after);
  g_assert_cmpuint (id_of (SNAPSHOT_KIND, &st, before, NULL), !=, id_of (SNAPSHOT_KIND, &st, after, NULL));
  st.st_mode = S_IFREG | 0644;
  st.st_mtime = 12345;           /* times are no part of a snapshot's identity */
  g_autofree char *touched = node_key_snapshot (&st, 5000);
  g_assert_cmpstr (before, ==, touched);
  g_hash_table_unref (seen);
  g_array_unref (ids);
}

static void
test_mirrored_identity (void)
{
  struct stat st = source (2049, 500, S_IFDIR | 0755, 0);
  g_autofree char *dir = node_key_mirrored (DIR_KIND, &st, "a/b");
  g_autofree char *renamed = node_key_mirrored (DIR_KIND, &st, "a/c");
  g_assert_cmpuint (id_of (DIR_KIND, &st, dir, NULL), !=, id_of (DIR_KIND, &st, renamed, NULL));
  struct stat other_dev = source (2050, 500, S_IFDIR | 0755, 0);
  g_autofree char *moved = node_key_mirrored (DIR_KIND, &other_dev, "a/b");
  g_assert_cmpuint (id_of (DIR_KIND, &st, dir, NULL), !=, id_of (DIR_KIND, &other_dev, moved, NULL));
  /* The kind is part of the id: a symlink replacing a directory never shares it. */
  g_autofree char *link = node_key_mirrored (SYMLINK_KIND, &st, "a/b");
  g_assert_cmpuint (id_of (DIR_KIND, &st, dir, NULL) >> 61, !=, id_of (SYMLINK_KIND, &st, link, NULL) >> 61);
  /* HLS segments carry their size. */
  struct stat seg = source (2049, 500, S_IFREG | 0444, 0);
  seg.st_size = 100;
  g_autofree char *s100 = node_key_hls (HLS_FILE_KIND, &seg, "cam.mp4", "g1/seg1.m4s");
  seg.st_size = 200;
  g_autofree char *s200 = node_key_hls (HLS_FILE_KIND, &seg, "cam.mp4", "g1/seg1.m4s");
  g_assert_cmpstr (s100, !=, s200);
}

static void
test_decode (void)
{
  for (int kind = 0; kind < 7; kind++) {
    guint64 inos[] = { 1, 2, 0xffffffffu, G_GUINT64_CONSTANT (0x123456789abcdef0) };
    for (guint i = 0; i < G_N_ELEMENTS (inos); i++) {
      struct stat st = source (1, inos[i], S_IFREG, 0);
      g_autofree char *key = node_key_mirrored (kind, &st, "x");
      guint64 id = id_of (kind, &st, key, NULL);
      g_assert_cmpuint (id, >, 1);   /* never 0 nor FUSE_ROOT_ID */
      int got_kind;
      guint32 ino_low;
      g_assert_true (node_id_decode (id, &got_kind, &ino_low));
      g_assert_cmpint (got_kind, ==, kind);
      g_assert_cmpuint (ino_low, ==, (guint32) inos[i]);
    }
  }
  int kind;
  guint32 ino_low;
  g_assert_false (node_id_decode (1, &kind, &ino_low));                        /* the root */
  g_assert_false (node_id_decode (node_id_fallback (12345), &kind, &ino_low));  /* counted */
  g_assert_cmpuint (node_id_fallback (12345), ==, 12345);
}

static void
test_probes (void)
{
  /* The ids a collision moves to: distinct, same kind and inode, same generation. */
  struct stat st = source (9, 4242, S_IFREG, 0);
  g_autofree char *key = node_key_mirrored (FILE_KIND, &st, "f");
  GHashTable *seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  guint64 ids[NODE_ID_PROBES];
  guint32 gen0 = 0;
  for (guint p = 0; p < NODE_ID_PROBES; p++) {
    guint32 gen;
    ids[p] = node_id_make (FILE_KIND, st.st_ino, key, p, &gen);
    if (p == 0)
      gen0 = gen;
    g_assert_cmpuint (gen, ==, gen0);
    g_assert_false (g_hash_table_contains (seen, &ids[p]));
    g_hash_table_add (seen, &ids[p]);
    int kind;
    guint32 ino_low;
    g_assert_true (node_id_decode (ids[p], &kind, &ino_low));
    g_assert_cmpint (kind, ==, FILE_KIND);
    g_assert_cmpuint (ino_low, ==, 4242);
  }
  g_hash_table_unref (seen);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/node-id/same-identity-same-id", test_same_identity_same_id);
  g_test_add_func ("/node-id/pinned-values", test_pinned_values);
  g_test_add_func ("/node-id/snapshots-differ-by-length-and-permissions", test_snapshots_differ_by_length_and_permissions);
  g_test_add_func ("/node-id/mirrored-identity", test_mirrored_identity);
  g_test_add_func ("/node-id/decode", test_decode);
  g_test_add_func ("/node-id/probes", test_probes);
  return g_test_run ();
}

/* nodes.c — the inode table: nodes by identity (mirrored ones by source
 * inode and path, snapshots by source inode and length) and by node id, which
 * the identity derives (node_id.h); freed when the kernel forgets them, when
 * a memo of what they were made from is kept for export.c. */
#include "livemp4fs.h"
#include "fs/node_id.h"

#include <stdint.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

SourceFd *
source_fd_new (int fd)
{
  SourceFd *s = g_new0 (SourceFd, 1);
  s->ref = 1;
  s->fd = fd;
  return s;
}

SourceFd *
source_fd_ref (SourceFd *s)
{
  g_atomic_int_inc (&s->ref);
  return s;
}

void
source_fd_unref (SourceFd *s)
{
  if (s && g_atomic_int_dec_and_test (&s->ref)) {
    close (s->fd);
    g_free (s);
  }
}

char *
path_join (const char *dir, const char *name)
{
  return strcmp (dir, ".") == 0 ? g_strdup (name) : g_strconcat (dir, "/", name, NULL);
}

static void
node_free (Node *node)
{
  g_free (node->path);
  g_free (node->key);
  g_free (node->hls_name);
  g_clear_pointer (&node->layout, layout_unref);
  g_clear_pointer (&node->fd, source_fd_unref);
  g_free (node);
}

/* How many forgotten nodes' origins are remembered: a handle on one of
 * them is resolved without a scan of the source tree (export.c). */
#define NODE_MEMO_MAX 65536

typedef struct {
  guint64 ino;
  NodeKind kind;
  char *path;
} NodeMemo;

static void
node_memo_free (NodeMemo *m)
{
  g_free (m->path);
  g_free (m);
}

/* With fs.lock held.  A ring, not a GQueue: GSlice's per-thread caches
 * (GLib 2.74) crashed at exit in libfuse's worker threads. */
static void
node_memo_add (const Node *node)
{
  if (node->kind >= NODE_HLS_PLAYLIST)
    return;   /* HLS nodes are not found again (README, NFS export) */
  NodeMemo *m = g_hash_table_lookup (fs.memo, &(gint64) { (gint64) node->ino });
  if (m) {
    g_free (m->path);
    m->path = g_strdup (node->path);
    m->kind = node->kind;
    return;
  }
  guint64 *oldest = &fs.memo_ring[fs.memo_next];
  if (*oldest)
    g_hash_table_remove (fs.memo, &(gint64) { (gint64) *oldest });
  m = g_new0 (NodeMemo, 1);
  m->ino = node->ino;
  m->kind = node->kind;
  m->path = g_strdup (node->path);
  g_hash_table_insert (fs.memo, &m->ino, m);
  *oldest = node->ino;
  fs.memo_next = (fs.memo_next + 1) % NODE_MEMO_MAX;
}

gboolean
node_memo (fuse_ino_t ino, NodeKind *kind, char **path)
{
  g_mutex_lock (&fs.lock);
  NodeMemo *m = fs.memo ? g_hash_table_lookup (fs.memo, &(gint64) { (gint64) ino }) : NULL;
  if (m) {
    *kind = m->kind;
    *path = g_strdup (m->path);
  }
  g_mutex_unlock (&fs.lock);
  return m != NULL;
}

void
nodes_init (void)
{
  fs.nodes = g_hash_table_new (g_int64_hash, g_int64_equal);
  fs.keys = g_hash_table_new (g_str_hash, g_str_equal);
  fs.memo = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) node_memo_free);
  fs.memo_ring = g_new0 (guint64, NODE_MEMO_MAX);
  fs.memo_next = 0;
  fs.next_ino = FUSE_ROOT_ID + 1;
  Node *root = g_new0 (Node, 1);
  root->ino = FUSE_ROOT_ID;
  root->kind = NODE_DIR;
  root->path = g_strdup (".");
  root->wd = -1;
  root->nlookup = 1;   /* never forgotten */
  g_hash_table_insert (fs.nodes, &root->ino, root);
}

Node *
node_get (fuse_ino_t ino)
{
  g_mutex_lock (&fs.lock);
  Node *node = g_hash_table_lookup (fs.nodes, &(gint64) { (gint64) ino });
  g_mutex_unlock (&fs.lock);
  return node;
}

/* A new node of identity key (taken), current for it in fs.keys; its id is
 * derived from the key unless another node holds it (fs.lock held). */
Node *
node_get_counted (fuse_ino_t ino)
{
  g_mutex_lock (&fs.lock);
  Node *node = g_hash_table_lookup (fs.nodes, &(gint64) { (gint64) ino });
  if (node)
    node->nlookup++;
  g_mutex_unlock (&fs.lock);
  return node;
}

static Node *
node_insert (NodeKind kind, const char *path, guint64 source_ino, char *key)
{
  Node *node = g_new0 (Node, 1);
  for (guint probe = 0; probe < NODE_ID_PROBES && !node->ino; probe++) {
    guint64 id = node_id_make (kind, source_ino, key, probe, &node->generation);
    if (!g_hash_table_contains (fs.nodes, &(gint64) { (gint64) id }))
      node->ino = id;
  }
  if (!node->ino) {
    g_warning ("%s: no free node id for %s; its handles will not outlive it", path, key);
    node->ino = node_id_fallback (fs.next_ino++);
  }
  node->kind = kind;
  node->path = g_strdup (path);
  node->key = key;
  node->wd = -1;
  g_hash_table_insert (fs.nodes, &node->ino, node);
  g_hash_table_insert (fs.keys, node->key, node);
  return node;
}

Node *
node_lookup_mirrored (NodeKind kind, const char *path, const struct stat *st)
{
  /* The key holds the source inode, so a replaced file gets a new node. */
  g_autofree char *key = node_key_mirrored (kind, st, path);
  g_mutex_lock (&fs.lock);
  Node *node = g_hash_table_lookup (fs.keys, key);
  if (!node && kind == NODE_DIR) {
    /* A new directory's watch is added outside fs.lock; another lookup may
     * make its node meanwhile (inotify gives both the same wd). */
    g_mutex_unlock (&fs.lock);
    int wd = watch_add (path);
    g_mutex_lock (&fs.lock);
    node = g_hash_table_lookup (fs.keys, key);
    if (!node) {
      node = node_insert (kind, path, st->st_ino, g_steal_pointer (&key));
      watch_dir (node, wd);
    } else if (wd >= 0 && !g_hash_table_contains (fs.watches, GINT_TO_POINTER (wd))) {
      inotify_rm_watch (fs.inotify_fd, wd);
    }
  } else if (!node) {
    node = node_insert (kind, path, st->st_ino, g_steal_pointer (&key));
  }
  node->nlookup++;
  g_mutex_unlock (&fs.lock);
  return node;
}

Node *
node_lookup_hls (NodeKind kind, const char *path, const char *name, const struct stat *st)
{
  /* The key holds the source inode and, for segments, the size: a new
   * recording under the name is a new node. */
  g_autofree char *key = node_key_hls (kind, st, path, name);
  g_mutex_lock (&fs.lock);
  Node *node = g_hash_table_lookup (fs.keys, key);
  if (!node) {
    node = node_insert (kind, path, st->st_ino, g_steal_pointer (&key));
    node->hls_name = g_strdup (name);
    node->attr = *st;
  }
  node->nlookup++;
  g_mutex_unlock (&fs.lock);
  return node;
}

Node *
node_lookup_snapshot (Entry *entry)
{
  /* A snapshot is known by its source, its length and the source's
   * permissions and owner (a chmod 600 of the source must not leave its
   * virtual file readable), so the same snapshot gets the same node id after
   * a forget or a restart. */
  g_autofree char *key = node_key_snapshot (&entry->seen, entry->layout->size);
  g_mutex_lock (&fs.lock);
  Node *node = entry->node;
  if (!node || node->layout != entry->layout || strcmp (node->key, key) != 0)
    node = g_hash_table_lookup (fs.keys, key);
  if (node && node->layout != entry->layout) {
    /* The same length from another index of the source (rewritten in place,
     * or evicted and read again): a new node, under another id. */
    g_hash_table_remove (fs.keys, node->key);
    node = NULL;
  }
  if (!node) {
    node = node_insert (NODE_SNAPSHOT, entry->path, entry->seen.st_ino, g_steal_pointer (&key));
    node->layout = layout_ref (entry->layout);
    node->fd = source_fd_ref (entry->fd);
    node->entry = entry;
    g_atomic_int_inc (&entry->ref);
    struct stat *a = &node->attr;
    *a = entry->seen;
    a->st_mode = S_IFREG | (entry->seen.st_mode & 0444);
    a->st_nlink = 1;
    a->st_size = (off_t) entry->layout->size;
    a->st_blocks = (blkcnt_t) ((entry->layout->size + 511) / 512);
    a->st_blksize = 1 << 20;
  }
  entry->node = node;
  node->nlookup++;
  g_mutex_unlock (&fs.lock);
  return node;
}

void
node_forget (fuse_ino_t ino, guint64 n)
{
  Entry *entry = NULL;
  g_mutex_lock (&fs.lock);
  Node *node = g_hash_table_lookup (fs.nodes, &(gint64) { (gint64) ino });
  if (node && ino != FUSE_ROOT_ID) {
    node->nlookup -= MIN (n, node->nlookup);
    if (node->nlookup == 0) {
      g_hash_table_remove (fs.nodes, &node->ino);
      if (g_hash_table_lookup (fs.keys, node->key) == node)
        g_hash_table_remove (fs.keys, node->key);
      node_memo_add (node);
      if (node->entry && node->entry->node == node)
        node->entry->node = NULL;
      if (node->kind == NODE_DIR)
        watch_forget_dir (node);
      entry = node->entry;
      node_free (node);
    }
  }
  g_mutex_unlock (&fs.lock);
  if (entry)
    entry_unref (entry);
}

void
nodes_shutdown (void)
{
  /* The kernel forgets nothing once the session has ended: free the rest. */
  GHashTableIter it;
  gpointer value;
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_unref);
  g_mutex_lock (&fs.lock);
  g_hash_table_iter_init (&it, fs.nodes);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Node *node = value;
    if (node->entry)
      g_ptr_array_add (entries, node->entry);
    g_hash_table_iter_steal (&it);
    node_free (node);
  }
  g_clear_pointer (&fs.nodes, g_hash_table_unref);
  g_clear_pointer (&fs.keys, g_hash_table_unref);
  g_clear_pointer (&fs.memo_ring, g_free);
  g_clear_pointer (&fs.memo, g_hash_table_unref);
  g_mutex_unlock (&fs.lock);
}

guint
nodes_count (void)
{
  /* Called with fs.lock held. */
  return g_hash_table_size (fs.nodes);
}

Node *
nodes_root (void)
{
  /* Called with fs.lock held. */
  return g_hash_table_lookup (fs.nodes, &(gint64) { FUSE_ROOT_ID });
}

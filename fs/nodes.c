/* nodes.c — the inode table: mirrored nodes by source path, snapshot nodes
 * by recording, all by inode number; freed when the kernel forgets them. */
#include "livemp4fs.h"

#include <stdint.h>
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

void
nodes_init (void)
{
  fs.nodes = g_hash_table_new (g_int64_hash, g_int64_equal);
  fs.keys = g_hash_table_new (g_str_hash, g_str_equal);
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

static Node *
node_insert (NodeKind kind, const char *path)
{
  Node *node = g_new0 (Node, 1);
  node->ino = fs.next_ino++;
  node->kind = kind;
  node->path = g_strdup (path);
  node->wd = -1;
  g_hash_table_insert (fs.nodes, &node->ino, node);
  return node;
}

Node *
node_lookup_mirrored (NodeKind kind, const char *path, const struct stat *st)
{
  /* The key holds the source inode, so a replaced file gets a new node. */
  g_autofree char *key = g_strdup_printf ("%d:%lu:%s", kind, (unsigned long) st->st_ino, path);
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
      node = node_insert (kind, path);
      node->key = g_steal_pointer (&key);
      g_hash_table_insert (fs.keys, node->key, node);
      watch_dir (node, wd);
    } else if (wd >= 0 && !g_hash_table_contains (fs.watches, GINT_TO_POINTER (wd))) {
      inotify_rm_watch (fs.inotify_fd, wd);
    }
  } else if (!node) {
    node = node_insert (kind, path);
    node->key = g_steal_pointer (&key);
    g_hash_table_insert (fs.keys, node->key, node);
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
  g_autofree char *key = g_strdup_printf ("%d:%lu:%jd:%s/%s", kind, (unsigned long) st->st_ino,
                                          kind == NODE_HLS_FILE ? (intmax_t) st->st_size : (intmax_t) 0, path,
                                          name ? name : "");
  g_mutex_lock (&fs.lock);
  Node *node = g_hash_table_lookup (fs.keys, key);
  if (!node) {
    node = node_insert (kind, path);
    node->key = g_steal_pointer (&key);
    node->hls_name = g_strdup (name);
    node->attr = *st;
    g_hash_table_insert (fs.keys, node->key, node);
  }
  node->nlookup++;
  g_mutex_unlock (&fs.lock);
  return node;
}

Node *
node_lookup_snapshot (Entry *entry)
{
  g_mutex_lock (&fs.lock);
  Node *node = entry->node;
  /* A new node for a new snapshot, and for new permissions or owner (a
   * chmod 600 of the source must not leave its virtual file readable). */
  if (!node || node->layout != entry->layout || (node->attr.st_mode & 0444) != (entry->seen.st_mode & 0444) ||
      node->attr.st_uid != entry->seen.st_uid || node->attr.st_gid != entry->seen.st_gid) {
    node = node_insert (NODE_SNAPSHOT, entry->path);
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
    entry->node = node;
  }
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
      if (node->key)
        g_hash_table_remove (fs.keys, node->key);
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

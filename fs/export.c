/* export.c — the lookups of "." and ".." that the kernel's export
 * operations send (fs/fuse/inode.c: fuse_fh_to_dentry asks for "." in a node
 * it no longer has an inode for, fuse_get_parent for ".." of a directory),
 * so NFS servers and open_by_handle_at work after a forget or a restart.
 *
 * A node id is derived from the node's identity (node_id.h).  A node the
 * daemon no longer has is found again from the memo of forgotten nodes
 * (nodes.c), else by a scan of the source tree for its source inode number
 * (readdir's d_ino, no stat): each candidate is looked up as the mirror
 * shows it and kept only if it derives the same id.  A snapshot is found
 * only while it is its recording's current one: the settled file of a
 * finished recording always is; a live snapshot that has grown since gives
 * ESTALE, as do HLS nodes and counted ids.  No lock is held while the source
 * is read. */
#include "livemp4fs.h"
#include "fs/node_id.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Bounds of one scan: directories read, and depth. */
#define SCAN_MAX_DIRS 100000
#define SCAN_MAX_DEPTH 64

/* The item that shows source path in its directory's listing as a node of
 * kind, or NULL (with keep_sources, a Matroska recording is listed twice). */
static DirItem *
shown_item (const char *path, NodeKind kind)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  int err;
  g_autoptr (GPtrArray) items = catalog_list (dir, &err);
  for (guint i = 0; items && i < items->len; i++) {
    DirItem *item = g_ptr_array_index (items, i);
    gboolean role_fits = kind == NODE_SNAPSHOT ? item->role == SOURCE_RECORDING
                         : item->role == SOURCE_PLAIN || item->role == SOURCE_HIDDEN;
    if (strcmp (item->source_name, base) == 0 && role_fits)
      return g_ptr_array_steal_index (items, i);
  }
  return NULL;
}

/* The node of kind at source path if it derives id, with one more lookup;
 * *here tells whether the path shows id's source inode at all (its snapshot
 * may be another now). */
static Node *
rebuild (fuse_ino_t id, NodeKind kind, const char *path, gboolean *here)
{
  *here = FALSE;
  struct stat st;
  if (fstatat (fs.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return NULL;
  int id_kind;
  guint32 ino_low;
  if (!node_id_decode (id, &id_kind, &ino_low) || (guint32) st.st_ino != ino_low)
    return NULL;
  g_autoptr (DirItem) item = shown_item (path, kind);
  if (!item)
    return NULL;
  *here = TRUE;
  Node *node = NULL;
  if (kind == NODE_SNAPSHOT) {
    int err;
    Entry *entry = S_ISREG (st.st_mode) ? catalog_entry (path, &st, item->indexer, &err) : NULL;
    if (!entry)
      return NULL;
    g_mutex_lock (&entry->lock);
    node = node_lookup_snapshot (entry);
    g_mutex_unlock (&entry->lock);
    entry_unref (entry);
  } else {
    gboolean fits = kind == NODE_DIR ? S_ISDIR (st.st_mode)
                    : kind == NODE_SYMLINK ? S_ISLNK (st.st_mode)
                    : kind == NODE_FILE && S_ISREG (st.st_mode);
    if (!fits)
      return NULL;
    g_autofree char *key = node_key_mirrored (kind, &st, path);
    if (node_id_make (kind, st.st_ino, key, 0, NULL) != id)
      return NULL;   /* renamed or replaced: its old handles are stale */
    node = node_lookup_mirrored (kind, path, &st);
  }
  if (node->ino != id) {
    node_forget (node->ino, 1);
    return NULL;
  }
  return node;
}

static gboolean
type_fits (NodeKind kind, unsigned char type)
{
  if (type == DT_UNKNOWN)
    return TRUE;
  return kind == NODE_DIR ? type == DT_DIR : kind == NODE_SYMLINK ? type == DT_LNK : type == DT_REG;
}

static int
depth_of (const char *path)
{
  int depth = 1;
  for (const char *p = path; *p; p++)
    depth += *p == '/';
  return depth;
}

/* Walks the source tree breadth first for kind's source inode ino_low.
 * dirs is an array used as a queue (no GQueue: see nodes.c's memo). */
static Node *
scan (fuse_ino_t id, NodeKind kind, guint32 ino_low)
{
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (dirs, g_strdup ("."));
  Node *node = NULL;
  for (guint next = 0; !node && next < dirs->len && next < SCAN_MAX_DIRS; next++) {
    const char *dir = g_ptr_array_index (dirs, next);
    g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
    int fd = openat (fs.root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    if (!d && fd >= 0)
      close (fd);
    struct dirent *de;
    while (d && (de = readdir (d))) {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      char *path = path_join (dir, de->d_name);
      if ((guint32) de->d_ino == ino_low && type_fits (kind, de->d_type))
        g_ptr_array_add (candidates, g_strdup (path));
      if ((de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) && depth_of (path) < SCAN_MAX_DEPTH)
        g_ptr_array_add (dirs, path);   /* a DT_UNKNOWN file fails its openat */
      else
        g_free (path);
    }
    if (d)
      closedir (d);
    gboolean here;
    for (guint i = 0; !node && i < candidates->len; i++)
      node = rebuild (id, kind, g_ptr_array_index (candidates, i), &here);
  }
  return node;
}

Node *
export_lookup_self (fuse_ino_t ino, int *err)
{
  *err = ESTALE;
  /* The kernel asks when it has no inode for ino: its forget may be on the
   * way, so the node is found and counted at once. */
  Node *node = node_get_counted (ino);
  if (node)
    return node;
  int kind;
  guint32 ino_low;
  if (!node_id_decode (ino, &kind, &ino_low) || kind >= NODE_HLS_PLAYLIST)
    return NULL;
  NodeKind memo_kind;
  g_autofree char *path = NULL;
  gboolean here = FALSE;
  if (node_memo (ino, &memo_kind, &path) && ((node = rebuild (ino, memo_kind, path, &here)) || here))
    return node;   /* found, or its source is still there but shows another snapshot */
  node = scan (ino, kind, ino_low);
  if (!node)
    g_debug ("node %#" G_GINT64_MODIFIER "x: not found again (ESTALE)", (guint64) ino);
  return node;
}

Node *
export_lookup_parent (fuse_ino_t ino, int *err)
{
  *err = ESTALE;
  Node *node = node_get (ino);
  if (!node || (node->kind == NODE_HLS_DIR && node->hls_name) || node->kind == NODE_HLS_FILE)
    return NULL;   /* NAME.hls/gN/ and its files: not found again */
  g_autofree char *dir = ino == FUSE_ROOT_ID ? g_strdup (".") : g_path_get_dirname (node->path);
  if (strcmp (dir, ".") == 0) {
    g_mutex_lock (&fs.lock);
    Node *root = nodes_root ();
    g_mutex_unlock (&fs.lock);
    return root;   /* never forgotten: no count kept */
  }
  struct stat st;
  if (fstatat (fs.root_fd, dir, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode)) {
    *err = ESTALE;
    return NULL;
  }
  return node_lookup_mirrored (NODE_DIR, dir, &st);
}

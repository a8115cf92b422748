/* ops_tree.c — lookup, forget, getattr, readlink, readdir, statfs. */
#include "livemp4fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <unistd.h>

/* Mirrored entries may change at any time; a second is the usual trade. */
#define MIRROR_TIMEOUT 1.0
/* A snapshot never changes, so its attributes can be kept; only the name's
 * mapping to the current snapshot must be looked up again. */
#define SNAPSHOT_ATTR_TIMEOUT 3600.0
/* A settled recording's name may be cached while inotify would tell us of a
 * change (watch.c invalidates it); without inotify, only as long as a mirror. */
#define SETTLED_TIMEOUT (watch_is_complete () ? 30.0 : MIRROR_TIMEOUT)

static void
mirror_attr (struct stat *st)
{
  st->st_mode &= ~(mode_t) 0222;   /* read-only mirror */
}

void
ops_fill_entry (struct fuse_entry_param *e, Node *node)
{
  e->ino = node->ino;
  e->generation = node->generation;
  if (node->kind == NODE_SNAPSHOT) {
    e->attr = node->attr;
    e->attr_timeout = SNAPSHOT_ATTR_TIMEOUT;
    g_mutex_lock (&node->entry->lock);
    gboolean live = entry_is_live (node->entry);
    /* inotify names only the link a change was made through, so the other
     * names of a hard-linked recording are not invalidated: cache them only
     * as long as a mirror. */
    gboolean linked = node->entry->seen.st_nlink > 1;
    /* A read error is tried again on the next access: it must reach us. */
    gboolean io_failed = recording_io_failed (node->entry->rec);
    g_mutex_unlock (&node->entry->lock);
    e->entry_timeout = live || io_failed ? 0.0 : linked ? MIRROR_TIMEOUT : SETTLED_TIMEOUT;
  } else {
    e->attr_timeout = MIRROR_TIMEOUT;
    e->entry_timeout = MIRROR_TIMEOUT;
  }
}

/* The attributes of a node that is not a snapshot, as getattr gives them. */
static gboolean
node_attr (Node *node, struct stat *st, int *err)
{
  if (node->kind >= NODE_HLS_PLAYLIST)   /* HLS hook (hls.c) */
    return hls_getattr (node, st, err);
  if (fstatat (fs.root_fd, node->path, st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0) {
    *err = errno;
    return FALSE;
  }
  mirror_attr (st);
  return TRUE;
}

/* "." and "..": only the kernel's export operations ask (export.c). */
static void
lookup_export (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  int err;
  Node *node = strcmp (name, ".") == 0 ? export_lookup_self (parent, &err) : export_lookup_parent (parent, &err);
  if (!node) {
    fuse_reply_err (req, err);
    return;
  }
  struct fuse_entry_param e = { 0 };
  ops_fill_entry (&e, node);
  if (node->kind != NODE_SNAPSHOT && !node_attr (node, &e.attr, &err)) {
    node_forget (node->ino, 1);
    fuse_reply_err (req, err);
    return;
  }
  if (node->kind >= NODE_HLS_PLAYLIST)
    e.attr_timeout = e.entry_timeout = 0.0;
  fuse_reply_entry (req, &e);
}

static void
op_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0) {
    lookup_export (req, parent, name);
    return;
  }
  Node *dir = node_get (parent);
  int err;
  /* HLS hook (hls.c): the files of NAME.hls/. */
  if (dir && dir->kind == NODE_HLS_DIR) {
    struct fuse_entry_param e = { 0 };
    if (hls_lookup (dir, name, &e, &err) && err == 0)
      fuse_reply_entry (req, &e);
    else
      fuse_reply_err (req, err ? err : ENOENT);
    return;
  }
  if (!dir || dir->kind != NODE_DIR) {
    fuse_reply_err (req, dir ? ENOTDIR : ESTALE);
    return;
  }
  g_autoptr (DirItem) item = catalog_resolve (dir->path, name, &err);
  if (!item && err == ENOENT) {
    /* HLS hook (hls.c): NAME.m3u8 and NAME.hls of a recording NAME.mp4. */
    struct fuse_entry_param e = { 0 };
    int hls_err;
    if (hls_lookup (dir, name, &e, &hls_err)) {
      if (hls_err == 0)
        fuse_reply_entry (req, &e);
      else
        fuse_reply_err (req, hls_err);
      return;
    }
  }
  if (!item) {
    fuse_reply_err (req, err);
    return;
  }
  if (item->role == SOURCE_UNREADABLE) {
    fuse_reply_err (req, EIO);   /* never shown as a plain file it may not be */
    return;
  }
  g_autofree char *path = path_join (dir->path, item->source_name);
  struct stat st;
  if (fstatat (fs.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    fuse_reply_err (req, errno);
    return;
  }
  struct fuse_entry_param e = { 0 };
  Node *node;
  if (S_ISDIR (st.st_mode)) {
    node = node_lookup_mirrored (NODE_DIR, path, &st);
  } else if (S_ISLNK (st.st_mode)) {
    node = node_lookup_mirrored (NODE_SYMLINK, path, &st);
  } else if (!S_ISREG (st.st_mode)) {
    fuse_reply_err (req, ENOENT);
    return;
  } else if (item->role == SOURCE_RECORDING) {
    Entry *entry = catalog_entry (path, &st, item->indexer, &err);
    if (!entry && err == EIO) {
      fuse_reply_err (req, EIO);   /* a recording that cannot be read now: never shown as plain */
      return;
    }
    if (!entry) {
      /* No longer a recording (replaced while we looked): shown as it is
       * when it kept its name, gone otherwise. */
      if (strcmp (item->name, item->source_name) != 0) {
        fuse_reply_err (req, ENOENT);
        return;
      }
      node = node_lookup_mirrored (NODE_FILE, path, &st);
    } else {
      g_mutex_lock (&entry->lock);
      node = node_lookup_snapshot (entry);
      g_mutex_unlock (&entry->lock);
      entry_unref (entry);
    }
  } else {
    node = node_lookup_mirrored (NODE_FILE, path, &st);
  }
  ops_fill_entry (&e, node);
  if (node->kind != NODE_SNAPSHOT) {
    e.attr = st;
    mirror_attr (&e.attr);
  }
  fuse_reply_entry (req, &e);
}

static void
op_forget (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
  node_forget (ino, nlookup);
  fuse_reply_none (req);
}

static void
op_forget_multi (fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
  for (size_t i = 0; i < count; i++)
    node_forget (forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none (req);
}

static void
op_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void) fi;
  Node *node = node_get (ino);
  if (!node) {
    fuse_reply_err (req, ESTALE);
    return;
  }
  if (node->kind == NODE_SNAPSHOT) {
    fuse_reply_attr (req, &node->attr, SNAPSHOT_ATTR_TIMEOUT);
    return;
  }
  struct stat st;
  int err;
  if (!node_attr (node, &st, &err))
    fuse_reply_err (req, err);
  else if (node->kind >= NODE_HLS_PLAYLIST)
    fuse_reply_attr (req, &st, node->kind == NODE_HLS_FILE ? SNAPSHOT_ATTR_TIMEOUT : 0.0);
  else
    fuse_reply_attr (req, &st, MIRROR_TIMEOUT);
}

static void
op_readlink (fuse_req_t req, fuse_ino_t ino)
{
  Node *node = node_get (ino);
  char buf[PATH_MAX + 1];
  if (!node || node->kind != NODE_SYMLINK) {
    fuse_reply_err (req, node ? EINVAL : ESTALE);
    return;
  }
  ssize_t n = readlinkat (fs.root_fd, node->path, buf, sizeof buf - 1);
  if (n < 0) {
    fuse_reply_err (req, errno);
    return;
  }
  buf[n] = '\0';
  fuse_reply_readlink (req, buf);
}

/* An open directory: its listing, and the atomic that shows the kernel's
 * ordering of opendir, readdir and releasedir (as Handle.uses, ops_file.c). */
typedef struct {
  GPtrArray *items;
  gint uses;
} DirHandle;

static void
dir_handle_free (DirHandle *d)
{
  g_ptr_array_unref (d->items);
  g_free (d);
}

/* Open directory listings, freed at exit if the kernel never releases them
 * (ops_file.c does the same for files).  dir_handles_lock is a leaf. */
static GMutex dir_handles_lock;
static GHashTable *dir_handles;   /* DirHandle* set */

void
ops_tree_shutdown (void)
{
  g_mutex_lock (&dir_handles_lock);
  g_clear_pointer (&dir_handles, g_hash_table_unref);
  g_mutex_unlock (&dir_handles_lock);
}

static void
op_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  Node *node = node_get (ino);
  int err = 0;
  if (!node || (node->kind != NODE_DIR && node->kind != NODE_HLS_DIR)) {
    fuse_reply_err (req, node ? ENOTDIR : ESTALE);
    return;
  }
  /* HLS hook (hls.c): the playlists are listed, NAME.hls/ is not. */
  GPtrArray *items = node->kind == NODE_HLS_DIR ? hls_list_segments (node, &err) : catalog_list (node->path, &err);
  if (items && node->kind == NODE_DIR)
    hls_list (node->path, items);
  if (!items) {
    fuse_reply_err (req, err);
    return;
  }
  DirHandle *d = g_new0 (DirHandle, 1);
  d->items = items;
  fi->fh = (uint64_t) (uintptr_t) d;
  g_mutex_lock (&dir_handles_lock);
  if (!dir_handles)
    dir_handles = g_hash_table_new_full (g_direct_hash, g_direct_equal, (GDestroyNotify) dir_handle_free, NULL);
  g_hash_table_add (dir_handles, d);
  g_mutex_unlock (&dir_handles_lock);
  g_atomic_int_set (&d->uses, 1);
  fuse_reply_open (req, fi);
}

static void
op_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
  (void) ino;
  DirHandle *d = (DirHandle *) (uintptr_t) fi->fh;
  (void) g_atomic_int_get (&d->uses);   /* after opendir (DirHandle) */
  GPtrArray *items = d->items;
  g_autofree char *buf = g_malloc (size);
  size_t used = 0;
  /* Offsets 0 and 1 are "." and ".."; item i is offset i + 2. */
  for (off_t i = off; i < (off_t) items->len + 2; i++) {
    const DirItem *item = i < 2 ? NULL : g_ptr_array_index (items, i - 2);
    const char *name = i == 0 ? "." : i == 1 ? ".." : item->name;
    unsigned char type = item ? item->type : DT_DIR;
    /* The inode number the node's attributes show: the kernel's export
     * operations find a directory's name by it (exportfs_get_name).  Never
     * 0, or readdir(3) skips the entry: where there is none, the real number
     * comes with the lookup (newer libfuse calls this FUSE_UNKNOWN_INO). */
    struct stat st = { .st_ino = item && item->ino ? item->ino : 0xffffffff, .st_mode = (mode_t) DTTOIF (type) };
    size_t n = fuse_add_direntry (req, buf + used, size - used, name, &st, i + 1);
    if (n > size - used)
      break;
    used += n;
  }
  g_atomic_int_inc (&d->uses);          /* before releasedir */
  fuse_reply_buf (req, buf, used);
}

static void
op_releasedir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void) ino;
  DirHandle *d = (DirHandle *) (uintptr_t) fi->fh;
  (void) g_atomic_int_get (&d->uses);
  g_mutex_lock (&dir_handles_lock);
  g_hash_table_remove (dir_handles, d);   /* frees it */
  g_mutex_unlock (&dir_handles_lock);
  fuse_reply_err (req, 0);
}

static void
op_statfs (fuse_req_t req, fuse_ino_t ino)
{
  (void) ino;
  struct statvfs sv;
  if (fstatvfs (fs.root_fd, &sv) < 0)
    fuse_reply_err (req, errno);
  else
    fuse_reply_statfs (req, &sv);
}

/* Defined in ops_file.c and ops_xattr.c. */
void ops_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void ops_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void ops_listxattr (fuse_req_t req, fuse_ino_t ino, size_t size);
void ops_init (void *userdata, struct fuse_conn_info *conn);

static void
op_init (void *userdata, struct fuse_conn_info *conn)
{
  ops_init (userdata, conn);
  /* Lookups of "." and ".." (export.c): NFS export and open_by_handle_at
   * of a node the kernel has forgotten. */
  if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
    conn->want |= FUSE_CAP_EXPORT_SUPPORT;
}

static void
op_destroy (void *userdata)
{
  (void) userdata;
  /* The session's loop has ended; it is freed after this returns. */
  watch_stop ();
}

const struct fuse_lowlevel_ops livemp4fs_ops = {
  .init = op_init,
  .destroy = op_destroy,
  .lookup = op_lookup,
  .forget = op_forget,
  .forget_multi = op_forget_multi,
  .getattr = op_getattr,
  .readlink = op_readlink,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .releasedir = op_releasedir,
  .statfs = op_statfs,
  .open = ops_open,
  .read = ops_read,
  .release = ops_release,
  .getxattr = ops_getxattr,
  .listxattr = ops_listxattr,
};

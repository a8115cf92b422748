/* ops_file.c — open, read and release: each handle pins its snapshot, and
 * payload is handed to the kernel as descriptor-backed buffers so it is
 * spliced from the source, never copied through the daemon; bytes the daemon
 * produces (the header, MPEG-TS payload) are written from its memory. */
#include "livemp4fs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

typedef struct {
  Layout *layout;           /* snapshot handles */
  SourceFd *fd;             /* the source's descriptor (both kinds) */
  int plain_fd;             /* mirrored files: fd->fd, else -1 */
  GBytes *contents;         /* HLS playlists and segments (hls.c): their bytes */
  /* The kernel orders open, reads and release of a handle, each in any
   * thread; this atomic shows that order (happens-before) to the memory
   * model and ThreadSanitizer: set by open, incremented by every read, read
   * by release. */
  gint uses;
} Handle;

/* Open handles, so that those the kernel never releases (the daemon told to
 * stop while files are open) are freed at exit.  handles_lock is a leaf. */
static GMutex handles_lock;
static GHashTable *handles;   /* Handle* set */

static void
handle_free (Handle *h)
{
  g_clear_pointer (&h->layout, layout_unref);
  g_clear_pointer (&h->fd, source_fd_unref);
  g_clear_pointer (&h->contents, g_bytes_unref);
  g_free (h);
}

static void
handle_register (Handle *h)
{
  g_mutex_lock (&handles_lock);
  if (!handles)
    handles = g_hash_table_new_full (g_direct_hash, g_direct_equal, (GDestroyNotify) handle_free, NULL);
  g_hash_table_add (handles, h);
  g_mutex_unlock (&handles_lock);
}

void
ops_file_shutdown (void)
{
  g_mutex_lock (&handles_lock);
  g_clear_pointer (&handles, g_hash_table_unref);
  g_mutex_unlock (&handles_lock);
}

void
ops_init (void *userdata, struct fuse_conn_info *conn)
{
  (void) userdata;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE)
    conn->want |= FUSE_CAP_SPLICE_WRITE;
  /* Large reads: the kernel sends up to max_write/page-size pages a read.
   * libfuse splices a reply only if it fits its pipe with a page to spare
   * for each piece, and an unprivileged pipe holds at most 1 MiB
   * (/proc/sys/fs/pipe-max-size): a 1 MiB read would be copied through a
   * buffer instead.  960 KiB leaves room for 13 pieces. */
  conn->max_write = (1 << 20) - (64 << 10);
  conn->max_readahead = 1 << 20;
}

void
ops_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  Node *node = node_get (ino);
  if (!node) {
    fuse_reply_err (req, ESTALE);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
    fuse_reply_err (req, EROFS);
    return;
  }
  Handle *h = g_new0 (Handle, 1);
  h->plain_fd = -1;
  if (node->kind == NODE_SNAPSHOT) {
    h->layout = layout_ref (node->layout);
    h->fd = source_fd_ref (node->fd);
    g_mutex_lock (&node->entry->lock);
    gboolean live = entry_is_live (node->entry);
    g_mutex_unlock (&node->entry->lock);
    /* A snapshot's bytes never change, so its cache can be kept once the
     * recording settles; live snapshots are short-lived and bypass it. */
    fi->direct_io = live;
    fi->keep_cache = !live;
  } else if (node->kind == NODE_HLS_PLAYLIST || node->kind == NODE_HLS_FILE) {
    /* HLS hook (hls.c): bytes built at open. */
    int err;
    h->contents = hls_open (node, fi, &err);
    if (!h->contents) {
      g_free (h);
      fuse_reply_err (req, err);
      return;
    }
  } else if (node->kind == NODE_FILE) {
    h->plain_fd = openat (fs.root_fd, node->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (h->plain_fd < 0) {
      int err = errno;
      g_free (h);
      fuse_reply_err (req, err);
      return;
    }
    h->fd = source_fd_new (h->plain_fd);
  } else {
    g_free (h);
    fuse_reply_err (req, node->kind == NODE_DIR ? EISDIR : ELOOP);
    return;
  }
  fi->fh = (uint64_t) (uintptr_t) h;
  handle_register (h);
  g_atomic_int_set (&h->uses, 1);
  fuse_reply_open (req, fi);
}

/* Before each reply of a read, after its last use of h: the kernel may send
 * the release as soon as the reply reaches it (Handle.uses). */
static inline void
handle_done (Handle *h)
{
  g_atomic_int_inc (&h->uses);
}

static void
read_plain (fuse_req_t req, Handle *h, size_t size, off_t off)
{
  struct fuse_bufvec buf = FUSE_BUFVEC_INIT (size);
  buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
  buf.buf[0].fd = h->plain_fd;
  buf.buf[0].pos = off;
  handle_done (h);
  fuse_reply_data (req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void read_handle (fuse_req_t req, Handle *h, size_t size, off_t off);
/* A reply of at most this many pieces, all in memory, is written from them. */
#define MEMORY_PIECES 16

void
ops_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
  (void) ino;
  Handle *h = (Handle *) (uintptr_t) fi->fh;
  (void) g_atomic_int_get (&h->uses);   /* after open (Handle.uses) */
  /* libfuse reads the descriptor while it replies, and the release may
   * follow the reply at once: the descriptor is closed by whichever of the
   * two lets go of it last. */
  if (h->contents) {   /* HLS hook (hls.c) */
    /* The release may free the handle once the reply is on its way. */
    g_autoptr (GBytes) contents = g_bytes_ref (h->contents);
    gsize len;
    const guint8 *data = g_bytes_get_data (contents, &len);
    gsize from = MIN ((guint64) off, len);
    gsize n = MIN (size, len - from);
    handle_done (h);
    fuse_reply_buf (req, (const char *) data + from, n);
    return;
  }
  SourceFd *fd = source_fd_ref (h->fd);
  read_handle (req, h, size, off);
  source_fd_unref (fd);
}

static void
read_handle (fuse_req_t req, Handle *h, size_t size, off_t off)
{
  if (h->plain_fd >= 0) {
    read_plain (req, h, size, off);
    return;
  }
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  /* Only a read of the header, or of a payload the indexer produces (MPEG-TS
   * samples gathered from their packets), needs memory of its own. */
  gboolean produced = layout_produces_payload (h->layout);
  g_autoptr (GByteArray) buffer = produced || (guint64) off < h->layout->header_len ? g_byte_array_new () : NULL;
  Source src = { .fd = h->fd->fd, .size = h->layout->snap->source_size };
  gsize total = layout_read (h->layout, &src, (guint64) off, size, pieces, buffer);
  if (total == 0 && (guint64) off >= h->layout->size) {
    handle_done (h);
    fuse_reply_buf (req, NULL, 0);
    return;
  }
  if (total < MIN ((guint64) size, h->layout->size - (guint64) off)) {
    handle_done (h);
    fuse_reply_err (req, EIO);   /* the source no longer holds what the snapshot promised */
    return;
  }
  /* A source cut below what the snapshot covers is an I/O error, not a short
   * file: the snapshot promised these bytes. */
  const LayoutPiece *last = &g_array_index (pieces, LayoutPiece, pieces->len - 1);
  struct stat st;
  if (!last->data && (fstat (h->fd->fd, &st) < 0 || (guint64) st.st_size < last->source_offset + last->len)) {
    handle_done (h);
    fuse_reply_err (req, EIO);
    return;
  }
  /* Under fault injection (tests: muxer/source.h) source bytes are read
   * through Source, so that the read path fails as the indexers do. */
  g_autofree guint8 *copied = NULL;
  gsize copied_at = 0;
  if (source_faults_active ()) {
    gsize n = 0;
    for (guint i = 0; i < pieces->len; i++)
      n += g_array_index (pieces, LayoutPiece, i).data ? 0 : g_array_index (pieces, LayoutPiece, i).len;
    copied = g_malloc (MAX (n, 1));
  }
  gboolean any_fd = FALSE;
  struct fuse_bufvec *bv = g_malloc0 (sizeof *bv + pieces->len * sizeof (struct fuse_buf));
  bv->count = pieces->len;
  for (guint i = 0; i < pieces->len; i++) {
    const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
    struct fuse_buf *b = &bv->buf[i];
    b->size = p->len;
    if (p->data) {
      b->mem = (void *) p->data;
    } else if (copied) {
      if (!source_read (&src, p->source_offset, copied + copied_at, p->len)) {
        g_free (bv);
        handle_done (h);
        fuse_reply_err (req, EIO);
        return;
      }
      b->mem = copied + copied_at;
      copied_at += p->len;
    } else {
      b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
      b->fd = h->fd->fd;
      b->pos = (off_t) p->source_offset;
      any_fd = TRUE;
    }
  }
  handle_done (h);
  if (!any_fd && pieces->len <= MEMORY_PIECES) {
    /* Bytes in memory only (the header, a gathered payload): written to the
     * device as they are, where libfuse would copy them into a pipe and
     * the kernel out of it. */
    struct iovec iov[MEMORY_PIECES];
    for (guint i = 0; i < pieces->len; i++)
      iov[i] = (struct iovec) { bv->buf[i].mem, bv->buf[i].size };
    fuse_reply_iov (req, iov, (int) pieces->len);
  } else {
    fuse_reply_data (req, bv, any_fd ? FUSE_BUF_SPLICE_MOVE : FUSE_BUF_NO_SPLICE);
  }
  g_free (bv);
}

void
ops_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void) ino;
  Handle *h = (Handle *) (uintptr_t) fi->fh;
  (void) g_atomic_int_get (&h->uses);
  g_mutex_lock (&handles_lock);
  g_hash_table_remove (handles, h);   /* frees it */
  g_mutex_unlock (&handles_lock);
  fuse_reply_err (req, 0);
}

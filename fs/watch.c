/* watch.c — noticing changes the kernel has cached.
 *
 * Live recordings are looked up on every access (entry timeout 0), so their
 * growth is seen without help.  A settled recording's name is cached; when
 * its source changes again, inotify tells us and the kernel's entry is
 * invalidated so the next access sees the new snapshot.  Network filesystems
 * do not report remote writes, so there (or with -o noinotify) settled names
 * are cached only briefly and changes are found by size and mtime on access.
 * The thread also drops indexes of deleted, unused recordings.
 */
#include "livemp4fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#define SWEEP_INTERVAL_MS 2000
#define WATCH_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
                    IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR)
#define STRUCTURE_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)

static gboolean
is_network_fs (int fd)
{
  struct statfs sf;
  if (fstatfs (fd, &sf) < 0)
    return FALSE;
  switch ((unsigned long) sf.f_type) {
  case NFS_SUPER_MAGIC:
  case SMB_SUPER_MAGIC:
  case 0xff534d42:   /* CIFS */
  case 0xfe534d42:   /* SMB2 */
  case 0x00c36400:   /* Ceph */
  case 0x01021997:   /* 9p */
  case 0x65735546:   /* FUSE (sshfs, another livemp4fs ...) */
  case 0x47504653:   /* GPFS */
  case 0x6b414653:   /* AFS */
    return TRUE;
  }
  return FALSE;
}

/* One inotify watch: a directory inode, which several nodes share when it
 * was seen under several paths (inotify gives the same wd for one inode). */
typedef struct {
  char *path;                /* the newest path it was looked up under */
  guint refs;                /* nodes holding it */
} Watch;

static void
watch_free (Watch *w)
{
  g_free (w->path);
  g_free (w);
}

gboolean
watch_is_complete (void)
{
  return g_atomic_int_get (&fs.inotify_fd) >= 0 && !g_atomic_int_get (&fs.watch_incomplete);
}

int
watch_add (const char *path)
{
  /* Outside fs.lock: resolving the path may wait on the source. */
  int ifd = g_atomic_int_get (&fs.inotify_fd);
  if (ifd < 0)
    return -1;
  g_autofree char *proc = g_strdup_printf ("/proc/self/fd/%d/%s", fs.root_fd, path);
  int wd = inotify_add_watch (ifd, proc, WATCH_MASK);
  if (wd < 0) {
    /* Without a watch nothing would invalidate this directory's settled
     * names: from now on they are cached only briefly (ops_tree.c). */
    if (!g_atomic_int_get (&fs.watch_incomplete))
      g_warning ("cannot watch %s (%s): settled recordings are looked at again every second",
                 path, g_strerror (errno));
    g_atomic_int_set (&fs.watch_incomplete, TRUE);
  }
  return wd;
}

void
watch_dir (Node *node, int wd)
{
  /* Called with fs.lock held. */
  g_hash_table_replace (fs.dir_inos, g_strdup (node->path), GSIZE_TO_POINTER (node->ino));
  if (wd < 0 || fs.inotify_fd < 0)
    return;
  Watch *w = g_hash_table_lookup (fs.watches, GINT_TO_POINTER (wd));
  if (!w) {
    w = g_new0 (Watch, 1);
    g_hash_table_insert (fs.watches, GINT_TO_POINTER (wd), w);
  }
  g_free (w->path);
  w->path = g_strdup (node->path);
  w->refs++;
  node->wd = wd;
}

void
watch_forget_dir (Node *node)
{
  /* Called with fs.lock held, when the kernel has forgotten node. */
  if (fs.dir_inos && GPOINTER_TO_SIZE (g_hash_table_lookup (fs.dir_inos, node->path)) == node->ino)
    g_hash_table_remove (fs.dir_inos, node->path);
  Watch *w = node->wd >= 0 && fs.watches ? g_hash_table_lookup (fs.watches, GINT_TO_POINTER (node->wd)) : NULL;
  if (w && --w->refs == 0) {
    /* EINVAL: the kernel dropped it already (the directory was deleted). */
    inotify_rm_watch (fs.inotify_fd, node->wd);
    g_hash_table_remove (fs.watches, GINT_TO_POINTER (node->wd));
  }
  node->wd = -1;
}

static void
invalidate_name (fuse_ino_t parent, const char *name)
{
  /* ENOENT only means the kernel had nothing cached under that name. */
  fuse_lowlevel_notify_inval_entry (fs.se, parent, name, strlen (name));
}

/* The names a source file may be shown under: its own, and the names a
 * Matroska recording takes (NAME.mp4, NAME.EXT.mp4). */
static void
invalidate_names (fuse_ino_t parent, const char *name)
{
  invalidate_name (parent, name);
  g_autofree char *with_ext = g_strconcat (name, ".mp4", NULL);
  invalidate_name (parent, with_ext);
  const char *dot = strrchr (name, '.');
  if (dot && dot != name) {
    g_autofree char *base = g_strndup (name, dot - name);
    g_autofree char *renamed = g_strconcat (base, ".mp4", NULL);
    invalidate_name (parent, renamed);
  }
}

/* TRUE when path is a recording the kernel may have cached: one that was
 * settled when it was last looked up may have become live, or have changed
 * since (a write, its writer closing it, a chmod). */
static gboolean
is_recording (const char *path)
{
  struct stat st;
  if (fstatat (fs.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return FALSE;
  Entry *entry = catalog_find_entry (&st);
  if (!entry)
    return FALSE;
  entry_unref (entry);
  return TRUE;
}

/* A name removed from a directory is invalidated once more a little later:
 * a lookup the kernel had in flight when the first invalidation came may
 * have put it back, and the kernel would then keep the node of a deleted
 * file or directory (and the daemon its node, descriptor and watch) until
 * memory pressure.  Only the watch thread touches the queue. */
#define RECHECK_DELAY_US (G_USEC_PER_SEC)
#define RECHECK_TIMES 3

typedef struct {
  char *dir;
  char *name;
  gint64 due;
  int times;
} Recheck;

static GQueue rechecks = G_QUEUE_INIT;

static void
recheck_free (Recheck *r)
{
  g_free (r->dir);
  g_free (r->name);
  g_free (r);
}

static void
recheck_later (const char *dir, const char *name, int times)
{
  Recheck *r = g_new0 (Recheck, 1);
  *r = (Recheck) { g_strdup (dir), g_strdup (name), g_get_monotonic_time () + RECHECK_DELAY_US, times };
  g_queue_push_tail (&rechecks, r);
}

/* Invalidates again the removed names that are due and still absent. */
static void
run_rechecks (void)
{
  gint64 now = g_get_monotonic_time ();
  Recheck *r;
  while ((r = g_queue_peek_head (&rechecks)) && r->due <= now) {
    g_queue_pop_head (&rechecks);
    g_autofree char *path = path_join (r->dir, r->name);
    struct stat st;
    if (fstatat (fs.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
      g_mutex_lock (&fs.lock);
      fuse_ino_t parent = GPOINTER_TO_SIZE (g_hash_table_lookup (fs.dir_inos, r->dir));
      g_mutex_unlock (&fs.lock);
      if (parent) {
        invalidate_names (parent, r->name);
        if (--r->times > 0) {
          recheck_later (r->dir, r->name, r->times);
        }
      }
    }
    recheck_free (r);
  }
}

static void
handle_event (const struct inotify_event *ev)
{
  if (ev->mask & IN_Q_OVERFLOW) {
    catalog_forget_dir (NULL);
    return;
  }
  g_mutex_lock (&fs.lock);
  if (ev->mask & IN_IGNORED) {
    g_hash_table_remove (fs.watches, GINT_TO_POINTER (ev->wd));
    g_mutex_unlock (&fs.lock);
    return;
  }
  Watch *w = g_hash_table_lookup (fs.watches, GINT_TO_POINTER (ev->wd));
  g_autofree char *dir = w ? g_strdup (w->path) : NULL;
  fuse_ino_t parent = dir ? GPOINTER_TO_SIZE (g_hash_table_lookup (fs.dir_inos, dir)) : 0;
  g_mutex_unlock (&fs.lock);
  if (!dir || !parent || ev->len == 0)
    return;

  if (ev->mask & STRUCTURE_MASK) {
    catalog_forget_dir (dir);
    if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
      recheck_later (dir, ev->name, RECHECK_TIMES);
  } else {
    g_autofree char *path = path_join (dir, ev->name);
    gboolean known = is_recording (path);
    if (known && (ev->mask & IN_CLOSE_WRITE))
      g_debug ("%s: closed by its writer", path);   /* before the indexing it queues */
    if (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE))
      catalog_index_later (dir, ev->name);
    if (!known)
      return;
  }
  invalidate_names (parent, ev->name);
}

/* The sizes of the daemon's tables, at debug level when they change: what
 * tests/integration/29-bounded-state.t and the soak test watch return to
 * their starting level. */
static char *last_state;

static void
log_state (void)
{
  guint entries, listings, probes;
  g_mutex_lock (&fs.lock);
  catalog_count (&entries, &listings, &probes);
  g_autofree char *now = g_strdup_printf ("state: %u nodes, %u recordings, %u listings, %u probes, %u watches, "
                                          "%u directory inodes",
                                          nodes_count (), entries, listings, probes,
                                          g_hash_table_size (fs.watches), g_hash_table_size (fs.dir_inos));
  g_mutex_unlock (&fs.lock);
  if (g_strcmp0 (now, last_state) != 0) {
    g_debug ("%s", now);
    g_free (last_state);
    last_state = g_steal_pointer (&now);
  }
}

/* The thread, and the eventfd that tells it to stop (watch_stop). */
static GThread *watcher;
static int stop_fd = -1;

static gpointer
watch_thread (gpointer data)
{
  (void) data;
  char buf[64 * 1024] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  gint64 last_sweep = g_get_monotonic_time ();
  for (;;) {
    struct pollfd pfd[2] = { { .fd = stop_fd, .events = POLLIN }, { .fd = fs.inotify_fd, .events = POLLIN } };
    int n = poll (pfd, fs.inotify_fd >= 0 ? 2 : 1, g_queue_is_empty (&rechecks) ? SWEEP_INTERVAL_MS : 250);
    if (n > 0 && pfd[0].revents)
      break;
    if (n > 0 && pfd[1].revents) {
      ssize_t len = read (fs.inotify_fd, buf, sizeof buf);
      for (char *p = buf; len > 0 && p < buf + len;) {
        const struct inotify_event *ev = (const struct inotify_event *) p;
        handle_event (ev);
        p += sizeof *ev + ev->len;
      }
    }
    run_rechecks ();
    /* Growing recordings keep inotify busy: sweep by the clock, not on idle. */
    if (g_get_monotonic_time () - last_sweep >= SWEEP_INTERVAL_MS * 1000) {
      last_sweep = g_get_monotonic_time ();
      guint dropped = catalog_sweep ();
      if (dropped)
        g_debug ("dropped %u indexes of deleted recordings", dropped);
      log_state ();
    }
  }
  return NULL;
}

void
watch_start (void)
{
  fs.watches = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) watch_free);
  fs.dir_inos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fs.inotify_fd = -1;
  if (fs.opts.no_inotify) {
    g_info ("inotify switched off: changes are found by size and mtime on access");
  } else if (is_network_fs (fs.root_fd)) {
    fs.opts.no_inotify = TRUE;
    g_info ("%s is on a network filesystem: changes are found by size and mtime on access", fs.opts.source);
  } else {
    fs.inotify_fd = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
    if (fs.inotify_fd < 0) {
      fs.opts.no_inotify = TRUE;
      g_warning ("inotify unavailable (%s): changes are found by size and mtime on access", g_strerror (errno));
    }
  }
  int wd = watch_add (".");
  g_mutex_lock (&fs.lock);
  watch_dir (nodes_root (), wd);
  g_mutex_unlock (&fs.lock);
  stop_fd = eventfd (0, EFD_CLOEXEC);
  if (stop_fd < 0)
    g_error ("eventfd: %s", g_strerror (errno));
  /* Termination signals go to the session's threads (libfuse's handlers end
   * its loop), never to this one. */
  sigset_t block, old;
  sigemptyset (&block);
  sigaddset (&block, SIGTERM);
  sigaddset (&block, SIGINT);
  sigaddset (&block, SIGHUP);
  sigaddset (&block, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &block, &old);
  watcher = g_thread_new ("watch", watch_thread, NULL);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

void
watch_stop (void)
{
  /* Called once the session's loop has ended (ops .destroy), before the
   * session is freed: the thread must not notify the kernel after that. */
  if (!watcher)
    return;
  eventfd_write (stop_fd, 1);
  g_thread_join (g_steal_pointer (&watcher));
  catalog_stop_indexing ();   /* the watcher fed it */
  close (stop_fd);
  stop_fd = -1;
  /* Under fs.lock: a FUSE_DESTROY is handled by a worker (.destroy). */
  g_mutex_lock (&fs.lock);
  g_clear_pointer (&fs.watches, g_hash_table_unref);
  g_clear_pointer (&fs.dir_inos, g_hash_table_unref);
  int fd = fs.inotify_fd;
  g_atomic_int_set (&fs.inotify_fd, -1);
  g_mutex_unlock (&fs.lock);
  if (fd >= 0)
    close (fd);
  g_clear_pointer (&last_state, g_free);
  g_queue_clear_full (&rechecks, (GDestroyNotify) recheck_free);
}

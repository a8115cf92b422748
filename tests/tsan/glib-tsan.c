/* glib-tsan.c — GLib's locks made visible to ThreadSanitizer (make tsan).
 *
 * GLib implements GMutex, GRWLock and GCond on Linux with futexes (or with
 * pthread objects inside an uninstrumented library), so ThreadSanitizer does
 * not see them as locks and would report every access they protect as a
 * race.  Linked into the tsan build only, this file interposes the GLib lock
 * functions our code calls: each calls GLib's own (found with RTLD_NEXT) and
 * tells ThreadSanitizer what happened (tsan_interface.h's mutex
 * annotations), so happens-before edges and lock-order inversions are seen.
 */
#include <dlfcn.h>
#include <glib.h>
#include <sanitizer/tsan_interface.h>

/* GLib's own functions, found once before main (no thread runs yet). */
#define REAL(name) static __typeof__ (&name) real_##name;
REAL (g_mutex_lock)
REAL (g_mutex_trylock)
REAL (g_mutex_unlock)
REAL (g_mutex_clear)
REAL (g_rw_lock_writer_lock)
REAL (g_rw_lock_writer_unlock)
REAL (g_rw_lock_reader_lock)
REAL (g_rw_lock_reader_unlock)
REAL (g_rw_lock_clear)
REAL (g_cond_wait)
REAL (g_cond_wait_until)

__attribute__ ((constructor)) static void
find_real_functions (void)
{
#define FIND(name) real_##name = (__typeof__ (&name)) dlsym (RTLD_NEXT, #name)
  FIND (g_mutex_lock);
  FIND (g_mutex_trylock);
  FIND (g_mutex_unlock);
  FIND (g_mutex_clear);
  FIND (g_rw_lock_writer_lock);
  FIND (g_rw_lock_writer_unlock);
  FIND (g_rw_lock_reader_lock);
  FIND (g_rw_lock_reader_unlock);
  FIND (g_rw_lock_clear);
  FIND (g_cond_wait);
  FIND (g_cond_wait_until);

  /* GLib's own lazily made locks are published with atomics inside the
   * library, which ThreadSanitizer cannot see either: the first GError of the
   * process allocates gerror.c's error-domain GRWLock, and two FUSE threads
   * making their first GErrors at once (two index cache misses) were reported
   * as a race in g_rw_lock_reader_lock.  One GError made here, before any
   * thread, makes that lock once. */
  g_error_free (g_error_new_literal (G_FILE_ERROR, G_FILE_ERROR_NOENT, "warm-up"));
}

void
g_mutex_lock (GMutex *m)
{
  __tsan_mutex_pre_lock (m, 0);
  real_g_mutex_lock (m);
  __tsan_mutex_post_lock (m, 0, 0);
}

gboolean
g_mutex_trylock (GMutex *m)
{
  __tsan_mutex_pre_lock (m, __tsan_mutex_try_lock);
  gboolean ok = real_g_mutex_trylock (m);
  __tsan_mutex_post_lock (m, ok ? __tsan_mutex_try_lock : __tsan_mutex_try_lock_failed, 0);
  return ok;
}

void
g_mutex_unlock (GMutex *m)
{
  __tsan_mutex_pre_unlock (m, 0);
  real_g_mutex_unlock (m);
  __tsan_mutex_post_unlock (m, 0);
}

void
g_mutex_clear (GMutex *m)
{
  __tsan_mutex_destroy (m, 0);
  real_g_mutex_clear (m);
}

void
g_rw_lock_writer_lock (GRWLock *l)
{
  __tsan_mutex_pre_lock (l, 0);
  real_g_rw_lock_writer_lock (l);
  __tsan_mutex_post_lock (l, 0, 0);
}

void
g_rw_lock_writer_unlock (GRWLock *l)
{
  __tsan_mutex_pre_unlock (l, 0);
  real_g_rw_lock_writer_unlock (l);
  __tsan_mutex_post_unlock (l, 0);
}

void
g_rw_lock_reader_lock (GRWLock *l)
{
  __tsan_mutex_pre_lock (l, __tsan_mutex_read_lock);
  real_g_rw_lock_reader_lock (l);
  __tsan_mutex_post_lock (l, __tsan_mutex_read_lock, 0);
}

void
g_rw_lock_reader_unlock (GRWLock *l)
{
  __tsan_mutex_pre_unlock (l, __tsan_mutex_read_lock);
  real_g_rw_lock_reader_unlock (l);
  __tsan_mutex_post_unlock (l, __tsan_mutex_read_lock);
}

void
g_rw_lock_clear (GRWLock *l)
{
  __tsan_mutex_destroy (l, 0);
  real_g_rw_lock_clear (l);
}

void
g_cond_wait (GCond *c, GMutex *m)
{
  __tsan_mutex_pre_unlock (m, 0);
  __tsan_mutex_post_unlock (m, 0);
  real_g_cond_wait (c, m);
  __tsan_mutex_pre_lock (m, 0);
  __tsan_mutex_post_lock (m, 0, 0);
}

gboolean
g_cond_wait_until (GCond *c, GMutex *m, gint64 end_time)
{
  __tsan_mutex_pre_unlock (m, 0);
  __tsan_mutex_post_unlock (m, 0);
  gboolean ok = real_g_cond_wait_until (c, m, end_time);
  __tsan_mutex_pre_lock (m, 0);
  __tsan_mutex_post_lock (m, 0, 0);
  return ok;
}

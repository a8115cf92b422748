/* source.c — exact reads from a file descriptor or from memory, through one
 * primitive that tests can make fail (source.h). */
#include "source.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static _Thread_local guint io_errors;
static _Thread_local int last_errno;
static _Thread_local guint64 last_offset;

/* The fault plan: read only with atomics, so any thread may read sources. */
static gint fault_kind;
static gint fault_persistent;
static gint fault_hit;
static guint64 fault_nth;
static guint64 fault_every;
static guint64 fault_reads;
/* eio-while:PATH: every read fails with EIO while PATH exists. */
static char *eio_flag;

void
source_fault_set_every (SourceFault fault, guint64 every)
{
  source_fault_set (SOURCE_FAULT_NONE, 0, FALSE);
  __atomic_store_n (&fault_every, every, __ATOMIC_SEQ_CST);
  g_atomic_int_set (&fault_kind, fault);
}


/* LIVEMP4_SOURCE_FAULTS=short or eintr: every second read of the process is
 * short or interrupted, which source_read must make invisible (make check
 * runs the unit tests so); eio-while:PATH: every read fails with EIO while
 * the file PATH exists (tests/integration/65-read-errors.t). */
__attribute__ ((constructor)) static void
fault_from_environment (void)
{
  const char *v = g_getenv ("LIVEMP4_SOURCE_FAULTS");
  if (!v || !*v)
    return;
  if (g_str_has_prefix (v, "eio-while:"))
    eio_flag = g_strdup (v + strlen ("eio-while:"));
  else if (g_strcmp0 (v, "short") == 0)
    source_fault_set_every (SOURCE_FAULT_SHORT, 2);
  else if (g_strcmp0 (v, "eintr") == 0)
    source_fault_set_every (SOURCE_FAULT_EINTR, 2);
  else
    g_error ("LIVEMP4_SOURCE_FAULTS=%s: short, eintr or eio-while:PATH", v);
}

void
source_fault_set (SourceFault fault, guint64 nth, gboolean persistent)
{
  g_atomic_int_set (&fault_kind, SOURCE_FAULT_NONE);
  __atomic_store_n (&fault_every, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n (&fault_reads, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n (&fault_nth, nth, __ATOMIC_SEQ_CST);
  g_atomic_int_set (&fault_persistent, persistent);
  g_atomic_int_set (&fault_hit, FALSE);
  g_atomic_int_set (&fault_kind, fault);
}

gboolean
source_faults_active (void)
{
  return eio_flag || g_atomic_int_get (&fault_kind) != SOURCE_FAULT_NONE;
}

guint64
source_fault_reads (void)
{
  return __atomic_load_n (&fault_reads, __ATOMIC_SEQ_CST);
}

gboolean
source_fault_injected (void)
{
  return g_atomic_int_get (&fault_hit);
}

/* The fault for this primitive read, if one is planned for it. */
static SourceFault
next_fault (void)
{
  if (G_UNLIKELY (eio_flag) && access (eio_flag, F_OK) == 0)
    return SOURCE_FAULT_EIO;
  SourceFault kind = g_atomic_int_get (&fault_kind);
  if (kind == SOURCE_FAULT_NONE)
    return SOURCE_FAULT_NONE;
  guint64 n = __atomic_add_fetch (&fault_reads, 1, __ATOMIC_SEQ_CST);
  guint64 nth = __atomic_load_n (&fault_nth, __ATOMIC_SEQ_CST);
  guint64 every = __atomic_load_n (&fault_every, __ATOMIC_SEQ_CST);
  if ((every && n % every == 0) || (!every && (n == nth || (n > nth && g_atomic_int_get (&fault_persistent))))) {
    g_atomic_int_set (&fault_hit, TRUE);
    return kind;
  }
  return SOURCE_FAULT_NONE;
}

/* One primitive read: up to len bytes at offset, as pread(2) returns them. */
static gssize
read_some (const Source *s, guint64 offset, void *buf, gsize len)
{
  switch (next_fault ()) {
  case SOURCE_FAULT_EIO:
    errno = EIO;
    return -1;
  case SOURCE_FAULT_EINTR:
    errno = EINTR;
    return -1;
  case SOURCE_FAULT_SHORT:
    len = MAX (len / 2, 1);
    break;
  case SOURCE_FAULT_NONE:
    break;
  }
  if (s->fd < 0) {
    memcpy (buf, s->data + offset, len);
    return (gssize) len;
  }
  return pread (s->fd, buf, len, (off_t) offset);
}

gboolean
source_read (const Source *s, guint64 offset, void *buf, gsize len)
{
  if (offset > s->size || len > s->size - offset) {
    errno = ENODATA;
    return FALSE;
  }
  gsize done = 0;
  while (done < len) {
    gssize n = read_some (s, offset + done, (guint8 *) buf + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0) {
        errno = ENODATA;   /* the file shrank under us */
      } else {
        io_errors++;
        last_errno = errno;
        last_offset = offset + done;
      }
      return FALSE;
    }
    done += (gsize) n;
  }
  return TRUE;
}

guint8 *
source_read_alloc (const Source *s, guint64 offset, guint64 len, guint64 max_len)
{
  if (len > max_len) {
    errno = EFBIG;
    return NULL;
  }
  guint8 *buf = g_malloc (len ? len : 1);
  if (!source_read (s, offset, buf, len)) {
    int saved = errno;
    g_free (buf);
    errno = saved;
    return NULL;
  }
  return buf;
}

guint
source_io_errors (void)
{
  return io_errors;
}

int
source_last_io_error (guint64 *offset)
{
  if (offset)
    *offset = last_offset;
  return last_errno;
}

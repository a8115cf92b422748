/* source.c — exact reads from a file descriptor or from memory. */
#include "source.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

gboolean
source_read (const Source *s, guint64 offset, void *buf, gsize len)
{
  if (offset > s->size || len > s->size - offset) {
    errno = ENODATA;
    return FALSE;
  }
  if (s->fd < 0) {
    memcpy (buf, s->data + offset, len);
    return TRUE;
  }
  gsize done = 0;
  while (done < len) {
    ssize_t n = pread (s->fd, (guint8 *) buf + done, len - done, (off_t) (offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = ENODATA;   /* the file shrank under us */
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

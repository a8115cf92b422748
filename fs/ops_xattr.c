/* ops_xattr.c — status of each virtual recording as extended attributes:
 * user.livemp4.{state,duration,samples,format,error}; and, not listed, for
 * tests and tools: user.livemp4.source_size, the source bytes the snapshot
 * was made from (livemp4 export of that prefix of the source gives the same
 * file: tests/integration/64-soak.t). */
#include "livemp4fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

static const char *const names[] = {
  "user.livemp4.state", "user.livemp4.duration", "user.livemp4.samples",
  "user.livemp4.format", "user.livemp4.error",
};

/* The value of attribute i for node, or NULL if it has none. */
static char *
xattr_value (Node *node, guint i)
{
  Layout *l = node->layout;
  Recording *rec = l->rec;
  switch (i) {
  case 0: {
    g_mutex_lock (&node->entry->lock);
    char *state = g_strdup (entry_state (node->entry));
    g_mutex_unlock (&node->entry->lock);
    return state;
  }
  case 1:
    return g_strdup_printf ("%.3f", layout_duration_seconds (l));
  case 2:
    return g_strdup_printf ("%" G_GUINT64_FORMAT, snapshot_samples (l->snap));
  case 3:
    return g_strdup (recording_format_name (rec));
  case 4: {
    char *problems = recording_describe_problems (rec);
    if (*problems)
      return problems;
    g_free (problems);
    return NULL;
  }
  }
  return NULL;
}

/* Why a mirrored file that looks like a recording is not shown as one
 * (recording_why_not: a moov-less MP4 that cannot be walked), or NULL.
 * Reads a little of the source; no lock is held. */
static char *
mirrored_error (Node *node)
{
  int fd = openat (fs.root_fd, node->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  if (fd < 0)
    return NULL;
  char *why = NULL;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode)) {
    Source src = { .fd = fd, .size = (guint64) st.st_size };
    why = recording_why_not (&src);
  }
  close (fd);
  return why;
}

static void
reply_value (fuse_req_t req, const char *value, size_t size)
{
  size_t len = strlen (value);
  if (size == 0)
    fuse_reply_xattr (req, len);
  else if (size < len)
    fuse_reply_err (req, ERANGE);
  else
    fuse_reply_buf (req, value, len);
}

void
ops_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
  Node *node = node_get (ino);
  if (node && node->kind == NODE_FILE && strcmp (name, "user.livemp4.error") == 0) {
    g_autofree char *why = mirrored_error (node);
    if (why)
      reply_value (req, why, size);
    else
      fuse_reply_err (req, ENODATA);
    return;
  }
  if (!node || node->kind != NODE_SNAPSHOT) {
    fuse_reply_err (req, node ? ENODATA : ESTALE);
    return;
  }
  if (strcmp (name, "user.livemp4.source_size") == 0) {
    char value[24];
    int len = g_snprintf (value, sizeof value, "%" G_GUINT64_FORMAT, node->layout->snap->source_size);
    if (size == 0)
      fuse_reply_xattr (req, (size_t) len);
    else if (size < (size_t) len)
      fuse_reply_err (req, ERANGE);
    else
      fuse_reply_buf (req, value, (size_t) len);
    return;
  }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    if (strcmp (name, names[i]) != 0)
      continue;
    g_autofree char *value = xattr_value (node, i);
    if (!value)
      break;
    reply_value (req, value, size);
    return;
  }
  fuse_reply_err (req, ENODATA);
}

void
ops_listxattr (fuse_req_t req, fuse_ino_t ino, size_t size)
{
  Node *node = node_get (ino);
  if (!node) {
    fuse_reply_err (req, ESTALE);
    return;
  }
  g_autoptr (GString) list = g_string_new (NULL);
  if (node->kind == NODE_FILE) {
    g_autofree char *why = mirrored_error (node);
    if (why)
      g_string_append_len (list, names[4], (gssize) strlen (names[4]) + 1);
  }
  if (node->kind == NODE_SNAPSHOT)
    for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
      g_autofree char *value = xattr_value (node, i);
      if (value)
        g_string_append_len (list, names[i], (gssize) strlen (names[i]) + 1);
    }
  if (size == 0)
    fuse_reply_xattr (req, list->len);
  else if (size < list->len)
    fuse_reply_err (req, ERANGE);
  else
    fuse_reply_buf (req, list->str, list->len);
}

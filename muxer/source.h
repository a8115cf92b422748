/* source.h — the bytes of a recording as they stand now.
 *
 * Indexers read the source through this, never through stdio, so the same
 * code indexes a file descriptor (daemon, tool) or memory (tests, fuzzers).
 * size is what the indexer may look at; bytes beyond it do not exist yet.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  int fd;                /* -1 when data is set */
  const guint8 *data;
  guint64 size;
} Source;

static inline Source source_from_memory (const guint8 *data, guint64 size)
{
  return (Source) { .fd = -1, .data = data, .size = size };
}

/* Reads exactly len bytes at offset; FALSE (errno set) when they are not all
 * there or the read fails. */
gboolean source_read (const Source *s, guint64 offset, void *buf, gsize len);
/* Reads len bytes into a new buffer, refusing lengths above max_len. */
guint8 *source_read_alloc (const Source *s, guint64 offset, guint64 len, guint64 max_len);

G_END_DECLS

/* source.h — the bytes of a recording as they stand now.
 *
 * Indexers read the source through this, never through stdio, so the same
 * code indexes a file descriptor (daemon, tool) or memory (tests, fuzzers).
 * size is what the indexer may look at; bytes beyond it do not exist yet.
 *
 * A read fails in two ways: the bytes are not there (beyond size, or the file
 * shrank: errno ENODATA), or the read itself failed (EIO from the disk, a
 * network source ...).  The second kind is counted per thread
 * (source_io_errors) so that a caller can tell, after an indexer ran, that
 * what it concluded may rest on bytes it could not read (recording.c).
 *
 * Fault injection, in the manner of SQLite's test VFS: every read goes
 * through one primitive (a pread, or a copy from memory) that a test can make
 * fail at its Nth call from now, once or from then on: with EIO, with a
 * short read (half the bytes), or with EINTR.  Short reads and EINTR are
 * absorbed by source_read's loop; EIO is not.  Off unless a test sets it.
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
 * there (ENODATA) or the read fails (anything else: see source_io_errors). */
gboolean source_read (const Source *s, guint64 offset, void *buf, gsize len);
/* Reads len bytes into a new buffer, refusing lengths above max_len (EFBIG). */
guint8 *source_read_alloc (const Source *s, guint64 offset, guint64 len, guint64 max_len);

/* How many reads failed with an I/O error on this thread so far, and the
 * last one's errno and offset. */
guint source_io_errors (void);
int source_last_io_error (guint64 *offset);

typedef enum {
  SOURCE_FAULT_NONE,
  SOURCE_FAULT_EIO,      /* the read fails with EIO */
  SOURCE_FAULT_SHORT,    /* the read returns half the bytes asked for (at least 1) */
  SOURCE_FAULT_EINTR,    /* the read fails with EINTR */
} SourceFault;

/* From now on, the nth primitive read (1: the next one) has fault; with
 * persistent, every read after it too.  SOURCE_FAULT_NONE switches it off.
 * Process-wide; for tests. */
void source_fault_set (SourceFault fault, guint64 nth, gboolean persistent);
/* Every every-th primitive read from now has fault (short reads and EINTR
 * only: source_read absorbs them).  The environment variable
 * LIVEMP4_SOURCE_FAULTS=short or =eintr sets this, every 2, at start;
 * LIVEMP4_SOURCE_FAULTS=eio-while:PATH fails every read with EIO while the
 * file PATH exists (a disk that fails for a while, in a whole daemon). */
void source_fault_set_every (SourceFault fault, guint64 every);
/* Whether any fault is planned (the daemon's read path then reads source
 * bytes through source_read instead of splicing them: fs/ops_file.c). */
gboolean source_faults_active (void);
/* Primitive reads since source_fault_set, and whether the fault was injected. */
guint64 source_fault_reads (void);
gboolean source_fault_injected (void);

G_END_DECLS

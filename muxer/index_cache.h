/* index_cache.h — a settled recording's index, saved and read back.
 *
 * A cache file holds one Recording: its tracks (header fields, sample
 * descriptions, media header), user data, notes and error, payload extents
 * and sample tables, the latter as the samples' values (sizes, runs of
 * durations and composition offsets, sync samples, chunks), not as table.c
 * keeps them: restoring replays every sample through sample_table_append(),
 * so the restored Recording's snapshots and virtual bytes are the indexed
 * one's.  Version 1, big-endian:
 *
 *   "LMP4IDX\n" u32 version
 *   u32 key_len, key: indexer name, relative path, source size, mtime (s, ns),
 *     device, inode, head length and SHA-256 of the source's first bytes,
 *     the virtual file's size
 *   u64 body_len, body: the Recording
 *   SHA-256 of everything before it
 *
 * Every sample's size is stored, so each sample the reader replays stands on
 * bytes of the file (counts in runs and chunks must add up to them): what a
 * file makes the reader allocate follows its length.
 *
 * The reader trusts nothing: the checksum is checked first, then every count
 * against the bytes that remain and the RECORDING_MAX_* limits, and the
 * tables against the payload and the extents against the source size, so a
 * file that passes (a forged checksum included) gives a Recording that is as
 * safe to serve as an indexed one.  Recordings whose indexer produces the
 * payload (read_payload: MPEG-TS, whose per-sample locators live in the
 * indexer's state) are not cached.
 *
 * The key is found and compared by the caller (fs/cache.c): a file is named
 * after a hash of the recording's path relative to the source root, and its
 * key must match the source as it stands.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

#define INDEX_CACHE_VERSION 1u
/* The source's first bytes, hashed into the key. */
#define INDEX_CACHE_HEAD 65536u

typedef struct {
  const char *indexer;            /* IndexerClass.name */
  const char *path;               /* relative to the source root */
  guint64 source_size;            /* bytes indexed */
  gint64 mtime_sec;
  guint32 mtime_nsec;
  guint64 dev, ino;
  guint32 head_len;
  guint8 head_hash[32];
  guint64 virtual_size;           /* the settled snapshot's virtual file */
} IndexCacheKey;

typedef enum {
  INDEX_CACHE_SKIP_CHECKSUM = 1 << 0,   /* fuzzing and tests: reach the parser */
} IndexCacheFlags;

/* Hashes the first INDEX_CACHE_HEAD bytes of src (fewer if it is shorter)
 * into key->head_len and key->head_hash; FALSE if they cannot be read. */
gboolean index_cache_hash_head (const Source *src, IndexCacheKey *key);

/* Whether rec can be saved: settled state is the caller's business; this
 * says whether the indexer's state is needed to serve it (read_payload), or
 * it failed to read its source. */
gboolean index_cache_supported (Recording *rec);

/* The cache file's bytes for rec, under key (key->indexer is taken from rec);
 * NULL if rec cannot be cached. */
GBytes *index_cache_serialise (Recording *rec, const IndexCacheKey *key);

/* Reads the key of a cache file, without its body (the virtual size of a
 * settled recording, for a getattr: issue 14 item 5).  Its strings lie in
 * *strings, which the caller frees.  FALSE, with error, if the file is not a
 * cache file of this version. */
gboolean index_cache_read_key (const guint8 *data, gsize len, IndexCacheKey *key, char **strings, GError **error);
/* Whether two keys name the same source bytes (virtual_size aside). */
gboolean index_cache_key_equal (const IndexCacheKey *a, const IndexCacheKey *b);

/* A new Recording from a cache file, named name; NULL with error if the file
 * is corrupt, truncated, of another version, or (when expect is not NULL) of
 * another source.  The Recording is never fed: its source_size is the key's,
 * and recording_update() of a source of another size leaves it as it is
 * (recording_restored()). */
Recording *index_cache_restore (const guint8 *data, gsize len, const IndexCacheKey *expect, const char *name,
                                IndexCacheFlags flags, GError **error);

/* Writes bytes to path atomically: a temporary file in the same directory,
 * fsync, rename. */
gboolean index_cache_write_file (const char *path, GBytes *bytes, GError **error);

G_END_DECLS

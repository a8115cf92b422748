/* livemp4fs.h — the daemon's shared state: options, nodes, recordings.
 *
 * Every snapshot of a recording is an inode of its own: a lookup of a live
 * recording returns the node of its current snapshot, and a handle opened on
 * it reads (and fstat()s) exactly that snapshot, however the source grows.
 * Directories, plain files and symlinks are mirrored under nodes keyed by
 * their source path.
 */
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <glib.h>
#include <sys/stat.h>

#include "muxer/layout.h"

G_BEGIN_DECLS

typedef struct {
  char *source;
  unsigned settle;          /* seconds without change before a recording is settled */
  int keep_sources;         /* also show Matroska originals under their own names */
  int no_inotify;
  int list_playlists;       /* hls.c: NAME.m3u8 shown in listings */
  char *loglevel;
  char *cache_dir;          /* -o cache=DIR (cache.c) */
  int no_cache;             /* -o nocache */
  char *index_memory;       /* -o index_memory=SIZE (cache.c) */
  guint64 index_memory_limit;  /* in bytes, from index_memory (default 256 MiB) */
  int show_help;
  int show_version;
} Options;

/* A source descriptor shared by a recording and the snapshots taken of it. */
typedef struct {
  gint ref;
  int fd;
} SourceFd;

SourceFd *source_fd_new (int fd);
SourceFd *source_fd_ref (SourceFd *s);
void source_fd_unref (SourceFd *s);

typedef enum {
  NODE_DIR,
  NODE_FILE,
  NODE_SYMLINK,
  NODE_SNAPSHOT,
  /* hls.c: NAME.m3u8, NAME.hls/ and the files in it; path is the recording's source. */
  NODE_HLS_PLAYLIST,
  NODE_HLS_DIR,
  NODE_HLS_FILE,
} NodeKind;

typedef struct Entry Entry;

/* An inode.  Owned by nodes.c: nlookup under fs.lock; everything else is
 * fixed from creation until the kernel forgets it (wd: watch.c, fs.lock). */
typedef struct {
  fuse_ino_t ino;           /* derived from the node's identity (node_id.h) */
  guint32 generation;       /* likewise; 0 for the root */
  guint64 nlookup;
  NodeKind kind;
  char *path;               /* source path relative to the root, "." for the root */
  char *key;                /* its identity (node_id.h), in fs.keys while it is the current node of it */
  int wd;                   /* NODE_DIR: its inotify watch, or -1 (watch.c) */
  /* NODE_SNAPSHOT: fixed for the node's life. */
  struct stat attr;
  Layout *layout;
  SourceFd *fd;
  Entry *entry;
  /* NODE_HLS_PLAYLIST: the recording's NAME; NODE_HLS_FILE: its file name. */
  char *hls_name;
} Node;

/* A recording in the source tree: its index and its current snapshot.
 * Owned by catalog.c.  lock guards rec, seen, layout and logged_state; path,
 * key and fd are fixed; node is under fs.lock; ref, seen_size and indexer are
 * atomic. */
struct Entry {
  gint ref;
  GMutex lock;
  char *path;
  char *key;                 /* in fs.entries: "dev:ino" of the source */
  SourceFd *fd;
  Recording *rec;            /* replaced after a read error (catalog.c) */
  struct stat seen;          /* the source as last indexed */
  gsize seen_size;           /* seen.st_size, also read under fs.lock alone: atomic */
  const IndexerClass *indexer;  /* rec's, also read under fs.lock alone: atomic */
  Layout *layout;            /* current snapshot */
  Node *node;                /* its node while the kernel knows it */
  const char *logged_state;  /* the state last logged: "live", "settled" or "error" */
  gboolean cached;           /* this index was read from or saved to the cache (cache.c) */
  gint64 used_at;            /* monotonic time of the last lookup, under fs.lock: eviction order */
};

/* Locks, in the order they are taken (never the other way round):
 *   Entry.lock     one recording's index and current snapshot (catalog.c);
 *   fs.lock        the tables below; no source I/O under it: directory
 *                  listings, probes, indexing and inotify_add_watch happen
 *                  outside it (a stalled source holds up only the requests
 *                  that need it; catalog.c, nodes.c);
 *   Recording's locks (muxer/recording.h), then the leaves: the handle sets
 *   of ops_file.c and ops_tree.c.
 * Each table is owned by one module, which alone touches it: nodes and keys
 * by nodes.c, entries and dirs by catalog.c, watches and dir_inos by watch.c.
 * Without a lock: opts, root_fd and se (set before the session starts, freed
 * after it ends); inotify_fd (likewise; set to -1 under fs.lock and read
 * atomically elsewhere, as watch_stop may run in a worker); watch_incomplete
 * (atomic). */
typedef struct {
  Options opts;
  int root_fd;
  struct fuse_session *se;
  GMutex lock;
  GHashTable *nodes;        /* ino -> Node: nodes.c */
  GHashTable *keys;         /* key -> Node: nodes.c */
  GHashTable *memo;         /* ino -> NodeMemo of forgotten nodes, bounded: nodes.c */
  guint64 *memo_ring;       /* the memo's inos in the order added, NODE_MEMO_MAX: nodes.c */
  guint memo_next;          /* where the next goes (replacing the oldest): nodes.c */
  GHashTable *entries;      /* "dev:ino" of the source -> Entry: catalog.c */
  GHashTable *dirs;         /* dir path -> DirMap (listing, probes): catalog.c */
  GHashTable *dir_inos;     /* dir path -> inode of its newest node: watch.c */
  GHashTable *watches;      /* inotify wd -> Watch: watch.c */
  int inotify_fd;
  gint watch_incomplete;    /* some directory could not be watched */
  fuse_ino_t next_ino;      /* counted ids, when every derived one is taken (node_id.h) */
} Fs;

extern Fs fs;

/* nodes.c */
void nodes_init (void);
Node *node_get (fuse_ino_t ino);
/* node_get, with one more lookup taken under the same lock: for a node the
 * kernel may be forgetting meanwhile (export.c). */
Node *node_get_counted (fuse_ino_t ino);
/* Returns the mirrored node for path (creating it), with one more lookup. */
Node *node_lookup_mirrored (NodeKind kind, const char *path, const struct stat *st);
Node *node_lookup_snapshot (Entry *entry);
/* hls.c's nodes, by kind, source path and name; st is kept (NODE_HLS_FILE's). */
Node *node_lookup_hls (NodeKind kind, const char *path, const char *name, const struct stat *st);
void node_forget (fuse_ino_t ino, guint64 n);
/* What a node the kernel forgot was made from (kept for the last
 * NODE_MEMO_MAX forgotten): its kind and source path (a copy), or FALSE. */
gboolean node_memo (fuse_ino_t ino, NodeKind *kind, char **path);
/* With fs.lock held: how many nodes there are; the root's node. */
guint nodes_count (void);
Node *nodes_root (void);
/* At exit: frees every node (and their references to entries). */
void nodes_shutdown (void);
char *path_join (const char *dir, const char *name);

/* export.c: the lookups of "." and ".." the kernel's export operations
 * send (NFS, open_by_handle_at); each returns the node with one more lookup,
 * or NULL with *err set (ESTALE: it cannot be found again). */
Node *export_lookup_self (fuse_ino_t ino, int *err);
Node *export_lookup_parent (fuse_ino_t ino, int *err);

/* catalog.c */
typedef enum {
  SOURCE_PLAIN,             /* mirrored as it is */
  SOURCE_RECORDING,         /* shown as a fast-start MP4 */
  SOURCE_HIDDEN,            /* a Matroska original shown under another name */
  SOURCE_UNREADABLE,        /* its content could not be read (EIO) to tell: lookups fail with EIO */
} SourceRole;

typedef struct {
  char *name;               /* virtual name */
  char *source_name;
  SourceRole role;
  unsigned char type;       /* DT_* */
  ino_t ino;                /* the source's st_ino, which its node's attributes show; 0 if none */
  const IndexerClass *indexer;  /* SOURCE_RECORDING: what its listing's probe found */
} DirItem;

void catalog_init (void);
/* At exit, after nodes_shutdown(): frees the entries, probes and listings. */
void catalog_shutdown (void);
/* The virtual entries of a source directory, sorted by name; free with g_ptr_array_unref. */
GPtrArray *catalog_list (const char *dir, int *err);
/* Resolves a virtual name in dir to its item (a copy), or NULL with *err
 * set (ENOENT, or why the directory cannot be read). */
DirItem *catalog_resolve (const char *dir, const char *name, int *err);
void dir_item_free (DirItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DirItem, dir_item_free)
/* The recording entry of a source file, indexed up to st, with one reference.
 * indexer, if not NULL, is what the file's listing probed it as (DirItem), so
 * a new entry does not probe it again. */
Entry *catalog_entry (const char *path, const struct stat *st, const IndexerClass *indexer, int *err);
/* The entry of a source file if it is indexed, with one reference. */
Entry *catalog_find_entry (const struct stat *st);
/* Drops entries whose sources were deleted and that nothing uses, and logs
 * recordings whose state changed. */
guint catalog_sweep (void);
const char *entry_state (Entry *entry);
/* Marks the listing of dir (every listing if NULL) out of date, so the next
 * look rebuilds it. */
void catalog_forget_dir (const char *dir);
/* Sizes of the catalog's tables, for the state log; with fs.lock held. */
void catalog_count (guint *entries, guint *listings, guint *probes);
void entry_unref (Entry *entry);
gboolean entry_is_live (const Entry *entry);
/* Indexes dir/name (source names) in the background: inotify saw it written.
 * Called by the watcher; catalog_stop_indexing ends it (after the watcher). */
void catalog_index_later (const char *dir, const char *name);
void catalog_stop_indexing (void);
/* Drops entry from the table if only the table and the caller hold it;
 * its index is read from the cache or rebuilt on its next lookup. */
gboolean catalog_evict_entry (Entry *entry);

/* watch.c */
/* Starts the change watcher: inotify where it works, and a periodic sweep. */
void watch_start (void);
/* Stops and joins the watcher and frees its tables; safe to call twice. */
void watch_stop (void);
/* Adds an inotify watch on a source directory, outside fs.lock (resolving
 * the path may wait on the source): its wd, or -1.  watch_dir then gives it
 * to the directory's node (fs.lock held); it is released when the node is
 * forgotten (watch_forget_dir, fs.lock held). */
int watch_add (const char *path);
void watch_dir (Node *node, int wd);
void watch_forget_dir (Node *node);
/* Whether every directory looked up has a watch (settled names may be cached). */
gboolean watch_is_complete (void);

/* cache.c: the persistent index cache (muxer/index_cache.h). */
void cache_init (void);
void cache_shutdown (void);
/* With entry->lock held, before the entry's index is fed: reads the first
 * index from the cache, or replaces a cached one whose source changed. */
void cache_refresh (Entry *entry, const struct stat *st);
/* Saves the index of a settled, wholly indexed entry, once; takes
 * entry->lock itself (not held), and writes outside it. */
void cache_save (Entry *entry);
/* Parses a size with an optional K, M or G suffix; FALSE if it is not one. */
gboolean cache_parse_size (const char *text, guint64 *bytes);
/* Given every entry (one reference each, held by the caller), drops the
 * least recently used of those nothing else holds while the indexes take
 * more than index_memory (catalog_evict_entry); outside every lock. */
void cache_evict (GPtrArray *entries);

/* hls.c: the HLS view (NAME.m3u8, NAME.hls/).  hls_lookup() returns FALSE
 * if name is none of its own (dir is a directory of the mirror), else TRUE
 * with e filled or *err set. */
gboolean hls_lookup (Node *dir, const char *name, struct fuse_entry_param *e, int *err);
gboolean hls_getattr (Node *node, struct stat *st, int *err);
/* The bytes an open of a playlist or segment reads; sets direct_io or keep_cache. */
GBytes *hls_open (Node *node, struct fuse_file_info *fi, int *err);
/* Adds the playlists to a directory's listing (catalog_list's items). */
void hls_list (const char *dir, GPtrArray *items);
/* The listing of NAME.hls/: init.mp4 and the segments listed now (or gN/). */
GPtrArray *hls_list_segments (Node *node, int *err);
/* At exit: frees the generations table. */
void hls_shutdown (void);

/* ops_*.c */
extern const struct fuse_lowlevel_ops livemp4fs_ops;
void ops_fill_entry (struct fuse_entry_param *e, Node *node);
/* At exit: free the handles the kernel did not release. */
void ops_file_shutdown (void);
void ops_tree_shutdown (void);

G_END_DECLS

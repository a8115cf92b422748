/* catalog.c — what each source file is shown as, under which name, and the
 * recordings' indexes.  Matroska/WebM recordings NAME.EXT appear as NAME.mp4
 * (NAME.EXT.mp4 where that is taken) and hide their originals unless
 * keep_sources; fragmented MP4 recordings keep their names. */
#include "livemp4fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* How long a directory listing is trusted when the directory itself did not
 * change: files still too short to classify, and network filesystems whose
 * directory times lag, are looked at again after this. */
#define DIR_MAP_MAX_AGE_US (1 * G_USEC_PER_SEC)
/* A listing (and the probes it remembers) not rebuilt for this long is
 * dropped by the sweep: state follows the directories in use, not every
 * directory ever seen. */
#define DIR_MAP_KEEP_US (10 * G_USEC_PER_SEC)

typedef struct {
  ino_t ino;
  off_t size;
  struct timespec mtime;
  const IndexerClass *indexer;   /* NULL: plain */
  gboolean undecided;
} ProbeMemo;

typedef struct {
  struct timespec mtime, ctime;
  gint64 built_at;
  gboolean undecided;            /* some file could still become a recording */
  gboolean stale;                /* the directory changed: rebuild on the next look */
  GPtrArray *items;              /* DirItem, sorted by virtual name */
  GHashTable *probes;            /* source name -> ProbeMemo, of the files listed */
} DirMap;

/* Directories whose listing a thread is building outside fs.lock: dir path
 * -> whether it was marked stale meanwhile (catalog_forget_dir).  Others
 * wanting the same listing wait for dir_built; other directories go on. */
static GHashTable *building;
static GCond dir_built;

void
dir_item_free (DirItem *item)
{
  if (!item)
    return;
  g_free (item->name);
  g_free (item->source_name);
  g_free (item);
}

static DirItem *
dir_item_copy (const DirItem *item)
{
  DirItem *c = g_memdup2 (item, sizeof *item);
  c->name = g_strdup (item->name);
  c->source_name = g_strdup (item->source_name);
  return c;
}

static void
dir_map_free (DirMap *map)
{
  g_ptr_array_unref (map->items);
  g_hash_table_unref (map->probes);
  g_free (map);
}

void
catalog_init (void)
{
  fs.entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) entry_unref);
  fs.dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) dir_map_free);
  building = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
catalog_shutdown (void)
{
  g_mutex_lock (&fs.lock);
  g_clear_pointer (&fs.entries, g_hash_table_unref);
  g_clear_pointer (&fs.dirs, g_hash_table_unref);
  g_clear_pointer (&building, g_hash_table_unref);
  g_mutex_unlock (&fs.lock);
}

static gboolean
same_time (const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Which indexer reads path, from its content; memoised per inode, size and
 * mtime.  A recording stays one while it grows (it is probed again only if
 * it shrank: rewritten in place); anything else is probed again whenever it
 * changes, since a file rewritten in place (ffmpeg -y keeps the inode) may
 * have become a recording.  The memo moves from the directory's previous
 * listing (old, or NULL) to the new one (map), so files gone from the
 * directory are forgotten with it.  Called outside fs.lock, by the one
 * thread building map (old is its own too). */
static const IndexerClass *
classify (DirMap *map, DirMap *old, const char *name, const char *path, const struct stat *st,
          gboolean *undecided, gboolean *unreadable)
{
  *unreadable = FALSE;
  ProbeMemo *memo = NULL;
  gpointer key;
  if (old && g_hash_table_steal_extended (old->probes, name, &key, (gpointer *) &memo))
    g_hash_table_replace (map->probes, key, memo);
  if (memo && memo->ino == st->st_ino && memo->indexer && !memo->undecided && st->st_size >= memo->size) {
    memo->size = st->st_size;
    *undecided = FALSE;
    return memo->indexer;
  }
  if (memo && memo->ino == st->st_ino && memo->size == st->st_size && same_time (&memo->mtime, &st->st_mtim)) {
    *undecided = memo->undecided;
    return memo->indexer;
  }
  /* A file indexed as a recording stays one while it does not shrink: its
   * entry is the authority, since a probe may meet a box half written. */
  g_autofree char *entry_key = g_strdup_printf ("%lu:%lu", (unsigned long) st->st_dev, (unsigned long) st->st_ino);
  g_mutex_lock (&fs.lock);
  Entry *entry = g_hash_table_lookup (fs.entries, entry_key);
  const IndexerClass *indexed = entry && (gsize) st->st_size >= (gsize) g_atomic_pointer_get (&entry->seen_size)
                                  ? g_atomic_pointer_get (&entry->indexer) : NULL;
  g_mutex_unlock (&fs.lock);
  if (indexed) {
    memo = g_new0 (ProbeMemo, 1);
    *memo = (ProbeMemo) { st->st_ino, st->st_size, st->st_mtim, indexed, FALSE };
    g_hash_table_replace (map->probes, g_strdup (name), memo);
    *undecided = FALSE;
    return indexed;
  }
  const IndexerClass *indexer = NULL;
  gboolean need_more = FALSE;
  guint errors = source_io_errors ();
  int fd = openat (fs.root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd >= 0) {
    Source src = { .fd = fd, .size = (guint64) st->st_size };
    indexer = recording_detect (&src, &need_more);
    close (fd);
  }
  if (!indexer && source_io_errors () != errors) {
    /* Not decided, and not remembered: looked at again on the next listing. */
    g_hash_table_remove (map->probes, name);
    *undecided = TRUE;
    *unreadable = TRUE;
    return NULL;
  }
  memo = g_new0 (ProbeMemo, 1);
  *memo = (ProbeMemo) { st->st_ino, st->st_size, st->st_mtim, indexer, need_more };
  g_hash_table_replace (map->probes, g_strdup (name), memo);
  *undecided = need_more;
  return indexer;
}

static gint
compare_items (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(DirItem **) a)->name, (*(DirItem **) b)->name);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char **) a, *(char **) b);
}

static gboolean
has_mp4_suffix (const char *name)
{
  return g_str_has_suffix (name, ".mp4");
}

/* The name a Matroska recording is shown under: NAME.mp4, or NAME.EXT.mp4
 * when NAME.mp4 is taken by a source file or an earlier recording. */
static char *
renamed (const char *source_name, GHashTable *taken)
{
  if (has_mp4_suffix (source_name))
    return g_strdup (source_name);
  const char *dot = strrchr (source_name, '.');
  g_autofree char *base = dot && dot != source_name ? g_strndup (source_name, dot - source_name)
                                                    : g_strdup (source_name);
  char *name = g_strconcat (base, ".mp4", NULL);
  if (!g_hash_table_contains (taken, name))
    return name;
  g_free (name);
  return g_strconcat (source_name, ".mp4", NULL);
}

static DirMap *
dir_map_build (const char *dir, DirMap *old, int *err)
{
  int dfd = strcmp (dir, ".") == 0 ? openat (fs.root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                   : openat (fs.root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0) {
    *err = errno;
    return NULL;
  }
  DIR *d = fdopendir (dfd);
  if (!d) {
    *err = errno;
    close (dfd);
    return NULL;
  }
  DirMap *map = g_new0 (DirMap, 1);
  struct stat dst;
  if (fstat (dfd, &dst) == 0) {
    map->mtime = dst.st_mtim;
    map->ctime = dst.st_ctim;
  }
  map->built_at = g_get_monotonic_time ();
  map->items = g_ptr_array_new_with_free_func ((GDestroyNotify) dir_item_free);
  map->probes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *de;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      g_ptr_array_add (names, g_strdup (de->d_name));
  closedir (d);
  g_ptr_array_sort (names, compare_strings);

  /* Names taken by files shown under their own name come first, so renamed
   * recordings never shadow them. */
  g_autoptr (GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) matroska = g_ptr_array_new ();
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    g_autofree char *path = path_join (dir, name);
    struct stat st;
    if (fstatat (fs.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    DirItem *item = g_new0 (DirItem, 1);
    item->source_name = g_strdup (name);
    item->role = SOURCE_PLAIN;
    item->ino = st.st_ino;
    if (S_ISDIR (st.st_mode)) {
      item->type = DT_DIR;
    } else if (S_ISLNK (st.st_mode)) {
      item->type = DT_LNK;
    } else if (S_ISREG (st.st_mode)) {
      gboolean undecided, unreadable;
      const IndexerClass *indexer = classify (map, old, name, path, &st, &undecided, &unreadable);
      map->undecided |= undecided;
      item->type = DT_REG;
      if (unreadable)
        item->role = SOURCE_UNREADABLE;
      if (indexer) {
        item->role = SOURCE_RECORDING;
        item->indexer = indexer;
        if (strcmp (indexer->name, "fmp4") != 0 && !has_mp4_suffix (name)) {
          g_ptr_array_add (matroska, item);
          continue;
        }
      }
    } else {
      dir_item_free (item);   /* devices, fifos and sockets are not shown */
      continue;
    }
    item->name = g_strdup (name);
    g_hash_table_add (taken, item->name);
    g_ptr_array_add (map->items, item);
  }
  for (guint i = 0; i < matroska->len; i++) {
    DirItem *item = g_ptr_array_index (matroska, i);
    item->name = renamed (item->source_name, taken);
    g_hash_table_add (taken, item->name);
    g_ptr_array_add (map->items, item);
    if (fs.opts.keep_sources) {
      DirItem *orig = g_new0 (DirItem, 1);
      orig->name = g_strdup (item->source_name);
      orig->source_name = g_strdup (item->source_name);
      orig->role = SOURCE_HIDDEN;
      orig->type = DT_REG;
      orig->ino = item->ino;
      g_ptr_array_add (map->items, orig);
    }
  }
  g_ptr_array_sort (map->items, compare_items);
  return map;
}

static gboolean
dir_map_fresh (const DirMap *map, const struct stat *dst)
{
  return !map->stale && same_time (&dst->st_mtim, &map->mtime) && same_time (&dst->st_ctim, &map->ctime) &&
         g_get_monotonic_time () - map->built_at < DIR_MAP_MAX_AGE_US;
}

/* The current map of dir, returned with fs.lock held (also on failure).
 * The directory is read and its files probed outside the lock, so a source
 * directory that stalls (a network or FUSE mount inside the tree) holds up
 * only the requests that need its listing. */
static DirMap *
dir_map_get (const char *dir, int *err)
{
  struct stat dst;
  gboolean have_dst = fstatat (fs.root_fd, dir, &dst, AT_SYMLINK_NOFOLLOW) == 0;
  g_mutex_lock (&fs.lock);
  for (;;) {
    DirMap *map = g_hash_table_lookup (fs.dirs, dir);
    if (map && have_dst && dir_map_fresh (map, &dst))
      return map;
    if (!g_hash_table_contains (building, dir))
      break;
    /* Another thread is reading it: its listing is judged by our stat. */
    g_cond_wait (&dir_built, &fs.lock);
  }
  gpointer key, value;
  DirMap *old = g_hash_table_steal_extended (fs.dirs, dir, &key, &value) ? value : NULL;
  if (old)
    g_free (key);
  g_hash_table_insert (building, g_strdup (dir), GINT_TO_POINTER (FALSE));
  g_mutex_unlock (&fs.lock);

  DirMap *map = dir_map_build (dir, old, err);
  if (old)
    dir_map_free (old);   /* its probes that still apply moved to map */

  g_mutex_lock (&fs.lock);
  gboolean stale = GPOINTER_TO_INT (g_hash_table_lookup (building, dir));
  g_hash_table_remove (building, dir);
  if (map) {
    map->stale |= stale;
    g_hash_table_replace (fs.dirs, g_strdup (dir), map);
  }
  g_cond_broadcast (&dir_built);
  return map;
}

GPtrArray *
catalog_list (const char *dir, int *err)
{
  DirMap *map = dir_map_get (dir, err);
  GPtrArray *copy = NULL;
  if (map) {
    copy = g_ptr_array_new_full (map->items->len, (GDestroyNotify) dir_item_free);
    for (guint i = 0; i < map->items->len; i++)
      g_ptr_array_add (copy, dir_item_copy (g_ptr_array_index (map->items, i)));
  }
  g_mutex_unlock (&fs.lock);
  return copy;
}

DirItem *
catalog_resolve (const char *dir, const char *name, int *err)
{
  DirItem *found = NULL;
  *err = ENOENT;
  DirMap *map = dir_map_get (dir, err);
  if (map) {
    *err = ENOENT;
    guint lo = 0, hi = map->items->len;
    while (lo < hi && !found) {
      guint mid = lo + (hi - lo) / 2;
      DirItem *item = g_ptr_array_index (map->items, mid);
      int c = strcmp (name, item->name);
      if (c == 0)
        found = dir_item_copy (item);
      else if (c < 0)
        hi = mid;
      else
        lo = mid + 1;
    }
  }
  g_mutex_unlock (&fs.lock);
  return found;
}

/* ---- recordings ---------------------------------------------------------- */

void
entry_unref (Entry *entry)
{
  if (!entry || !g_atomic_int_dec_and_test (&entry->ref))
    return;
  g_clear_pointer (&entry->layout, layout_unref);
  recording_unref (entry->rec);
  source_fd_unref (entry->fd);
  g_mutex_clear (&entry->lock);
  g_free (entry->path);
  g_free (entry->key);
  g_free (entry);
}

/* A new entry for the recording at path; reads the source (its probe, when
 * indexer is NULL), so it is called outside fs.lock. */
static Entry *
entry_new (const char *path, const struct stat *st, const IndexerClass *indexer, int *err)
{
  int fd = openat (fs.root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat fst;
  if (fd < 0 || fstat (fd, &fst) < 0) {
    *err = errno;
    if (fd >= 0)
      close (fd);
    return NULL;
  }
  Source src = { .fd = fd, .size = (guint64) fst.st_size };
  gboolean need_more;
  guint errors = source_io_errors ();
  if (!indexer)
    indexer = recording_detect (&src, &need_more);
  if (!indexer || fst.st_ino != st->st_ino) {
    /* Changed under us (the caller looks again), or unreadable for now. */
    *err = source_io_errors () != errors ? EIO : EAGAIN;
    close (fd);
    return NULL;
  }
  Entry *entry = g_new0 (Entry, 1);
  entry->ref = 1;
  g_mutex_init (&entry->lock);
  entry->path = g_strdup (path);
  entry->fd = source_fd_new (fd);
  entry->rec = recording_new (indexer, path);
  entry->indexer = indexer;
  return entry;
}

/* Indexes what the source gained since the last look and moves the current
 * snapshot if samples were added.  Called with entry->lock held. */
static void
entry_refresh (Entry *entry, const struct stat *st)
{
  /* ctime too: a chmod or chown must reach the snapshot node's attributes
   * (node_lookup_snapshot makes a new node when they differ). */
  /* A finalised recording is looked at on every access until its recorder
   * has rewritten the head: that rewrite need not change size nor mtime. */
  if (entry->layout && st->st_size == entry->seen.st_size && same_time (&st->st_mtim, &entry->seen.st_mtim) &&
      same_time (&st->st_ctim, &entry->seen.st_ctim) && !recording_io_failed (entry->rec) &&
      !recording_finalised (entry->rec) && (recording_finished (entry->rec) || entry_is_live (entry)))
    return;
  /* A stat taken before another thread indexed further (the background
   * indexer and a lookup, two lookups): nothing to do.  A source that really
   * shrank gets a new entry (entry_take). */
  if (entry->layout && st->st_size < entry->seen.st_size)
    return;
  Source src = { .fd = entry->fd->fd, .size = (guint64) st->st_size };
  /* A hybrid MP4 finalised by its recorder is indexed again by the indexer
   * that reads it now (recording.h), as after a read error; at once if this
   * update finalised it (the file may change no more). */
  const IndexerClass *successor = recording_successor (entry->rec, &src);
  for (int pass = 0; pass < 2; pass++) {
    if (recording_needs_reindex (entry->rec, (guint64) st->st_size) || successor) {
      /* A read failed last time, or it grew past a finish: index again from
       * the start (recording.h); the current snapshot stays until the new
       * index reaches it. */
      Recording *fresh = recording_new (successor ? successor : entry->rec->indexer, entry->path);
      recording_unref (entry->rec);
      entry->rec = fresh;
      g_atomic_pointer_set (&entry->indexer, fresh->indexer);
    }
    cache_refresh (entry, st);
    recording_update (entry->rec, &src);
    if (successor || !(successor = recording_successor (entry->rec, &src)))
      break;
  }
  if (recording_io_failed (entry->rec))
    return;   /* seen stays: the next access tries again */
  entry->seen = *st;
  g_atomic_pointer_set (&entry->seen_size, (gsize) st->st_size);
  if (!entry_is_live (entry))
    recording_finish (entry->rec, &src);   /* settled: what waits for more bytes is complete */
  g_autoptr (Snapshot) snap = recording_snapshot (entry->rec);
  if (entry->layout && entry->layout->rec == entry->rec && snapshot_equal (snap, entry->layout->snap))
    return;
  /* A new index catches up with the old one's snapshot before replacing it. */
  if (entry->layout && entry->layout->rec != entry->rec &&
      (snapshot_samples (snap) < snapshot_samples (entry->layout->snap) ||
       snap->payload_len < entry->layout->snap->payload_len))
    return;
  g_clear_pointer (&entry->layout, layout_unref);
  entry->layout = layout_new (entry->rec, g_steal_pointer (&snap));
}

/* The table's entry for key, with one more reference, or NULL; a shrunk
 * source (rewritten in place) starts over, while snapshots still open keep
 * the old entry.  Called with fs.lock held. */
static Entry *
entry_take (const char *key, const struct stat *st)
{
  Entry *entry = g_hash_table_lookup (fs.entries, key);
  if (entry && (gsize) st->st_size < (gsize) g_atomic_pointer_get (&entry->seen_size)) {
    g_hash_table_remove (fs.entries, key);
    entry = NULL;
  }
  if (entry) {
    g_atomic_int_inc (&entry->ref);
    entry->used_at = g_get_monotonic_time ();
  }
  return entry;
}

Entry *
catalog_entry (const char *path, const struct stat *st, const IndexerClass *indexer, int *err)
{
  /* Keyed by the source's identity, so a recording renamed at the end (as
   * recorders do with temporary names) keeps its index. */
  g_autofree char *key = g_strdup_printf ("%lu:%lu", (unsigned long) st->st_dev, (unsigned long) st->st_ino);
  g_mutex_lock (&fs.lock);
  Entry *entry = entry_take (key, st);
  g_mutex_unlock (&fs.lock);
  if (!entry) {
    /* Opened and probed outside fs.lock; a thread that made the same entry
     * meanwhile wins, and ours is dropped. */
    Entry *made = entry_new (path, st, indexer, err);
    gboolean kept = FALSE;
    if (!made)
      return NULL;
    g_mutex_lock (&fs.lock);
    entry = entry_take (key, st);
    if (!entry) {
      made->key = g_strdup (key);
      g_hash_table_replace (fs.entries, g_steal_pointer (&key), made);
      g_atomic_int_inc (&made->ref);
      entry = g_steal_pointer (&made);
      kept = TRUE;
    }
    g_mutex_unlock (&fs.lock);
    /* Logged by the thread whose entry is kept (two may have made one), so
     * once per recording. */
    if (kept)
      g_info ("%s: %s recording", path, ((const IndexerClass *) g_atomic_pointer_get (&entry->indexer))->name);
    if (made)
      entry_unref (made);
  }

  g_mutex_lock (&entry->lock);
  entry_refresh (entry, st);
  g_mutex_unlock (&entry->lock);
  return entry;
}

Entry *
catalog_find_entry (const struct stat *st)
{
  g_autofree char *key = g_strdup_printf ("%lu:%lu", (unsigned long) st->st_dev, (unsigned long) st->st_ino);
  g_mutex_lock (&fs.lock);
  Entry *entry = g_hash_table_lookup (fs.entries, key);
  if (entry)
    g_atomic_int_inc (&entry->ref);
  g_mutex_unlock (&fs.lock);
  return entry;
}

/* Whether an entry's source has left the tree: deleted, or no longer at the
 * path it was indexed under (moved away, or renamed: then it is indexed
 * again under its new name when looked up). */
static gboolean
entry_source_gone (Entry *entry)
{
  struct stat st, at;
  if (fstat (entry->fd->fd, &st) == 0 && st.st_nlink == 0)
    return TRUE;
  return fstatat (fs.root_fd, entry->path, &at, AT_SYMLINK_NOFOLLOW) < 0 || at.st_ino != st.st_ino ||
         at.st_dev != st.st_dev;
}

static void
collect_unused (gpointer key, gpointer value, gpointer data)
{
  (void) key;
  Entry *entry = value;
  if (g_atomic_int_get (&entry->ref) == 1) {
    g_atomic_int_inc (&entry->ref);
    g_ptr_array_add (data, entry);
  }
}

/* Drops the entries nothing uses whose sources left the tree; the sources
 * are looked at outside fs.lock. */
static guint
drop_gone_entries (void)
{
  g_autoptr (GPtrArray) unused = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_unref);
  g_mutex_lock (&fs.lock);
  g_hash_table_foreach (fs.entries, collect_unused, unused);
  g_mutex_unlock (&fs.lock);
  guint n = 0;
  for (guint i = 0; i < unused->len; i++) {
    Entry *entry = g_ptr_array_index (unused, i);
    if (!entry_source_gone (entry))
      continue;
    g_mutex_lock (&fs.lock);
    /* Still only the table and this sweep: nobody looked it up meanwhile. */
    if (g_atomic_int_get (&entry->ref) == 2 && g_hash_table_lookup (fs.entries, entry->key) == entry) {
      g_hash_table_remove (fs.entries, entry->key);
      n++;
    }
    g_mutex_unlock (&fs.lock);
  }
  return n;   /* the last references go with unused, outside fs.lock */
}

const char *
entry_state (Entry *entry)
{
  /* Called with entry->lock held. */
  return recording_failed (entry->rec) ? "error" : entry_is_live (entry) ? "live" : "settled";
}

static void
collect_entry (gpointer key, gpointer value, gpointer data)
{
  (void) key;
  Entry *entry = value;
  g_atomic_int_inc (&entry->ref);
  g_ptr_array_add (data, entry);
}

static void
log_state_change (Entry *entry)
{
  g_mutex_lock (&entry->lock);
  const char *state = entry_state (entry);
  if (entry->layout && state != entry->logged_state) {
    g_info ("%s: %s, %u tracks, %.3f s, %" G_GUINT64_FORMAT " samples", entry->path, state,
            entry->layout->n_tracks, layout_duration_seconds (entry->layout),
            snapshot_samples (entry->layout->snap));
    entry->logged_state = state;
  }
  g_mutex_unlock (&entry->lock);
  cache_save (entry);
}

static gboolean
dir_map_is_idle (gpointer key, gpointer value, gpointer data)
{
  (void) key;
  return *(gint64 *) data - ((DirMap *) value)->built_at > DIR_MAP_KEEP_US;
}

guint
catalog_sweep (void)
{
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_unref);
  gint64 now = g_get_monotonic_time ();
  guint n = drop_gone_entries ();
  g_mutex_lock (&fs.lock);
  g_hash_table_foreach_remove (fs.dirs, dir_map_is_idle, &now);
  g_hash_table_foreach (fs.entries, collect_entry, entries);
  g_mutex_unlock (&fs.lock);
  /* Outside fs.lock: lookups take an entry's lock before fs.lock. */
  for (guint i = 0; i < entries->len; i++)
    log_state_change (g_ptr_array_index (entries, i));
  cache_evict (entries);
  return n;
}

gboolean
catalog_evict_entry (Entry *entry)
{
  g_mutex_lock (&fs.lock);
  gboolean unused = g_atomic_int_get (&entry->ref) == 2 && g_hash_table_lookup (fs.entries, entry->key) == entry;
  if (unused)
    g_hash_table_remove (fs.entries, entry->key);
  g_mutex_unlock (&fs.lock);
  return unused;   /* the last reference goes with the caller's, outside fs.lock */
}

void
catalog_forget_dir (const char *dir)
{
  /* Kept for its probes, which the rebuilt listing takes over. */
  g_mutex_lock (&fs.lock);
  DirMap *map = dir ? g_hash_table_lookup (fs.dirs, dir) : NULL;
  if (map) {
    map->stale = TRUE;
  } else if (!dir) {
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init (&it, fs.dirs);
    while (g_hash_table_iter_next (&it, NULL, &value))
      ((DirMap *) value)->stale = TRUE;
  }
  /* A listing being built may have read the directory before the change. */
  if (dir && g_hash_table_contains (building, dir)) {
    g_hash_table_replace (building, g_strdup (dir), GINT_TO_POINTER (TRUE));
  } else if (!dir) {
    GHashTableIter it;
    g_hash_table_iter_init (&it, building);
    while (g_hash_table_iter_next (&it, NULL, NULL))
      g_hash_table_iter_replace (&it, GINT_TO_POINTER (TRUE));
  }
  g_mutex_unlock (&fs.lock);
}

typedef enum { WRITER_UNKNOWN, WRITER_NONE, WRITER_OPEN } WriterState;

/* Whether any process has the file open for writing: a read lease is granted
 * only when none has (fcntl(2), F_SETLEASE), and is given back at once.  The
 * kernel knows every local writer, a recorder that died included (its
 * descriptors are closed), but not a writer on another host: sources where
 * inotify does not work keep the mtime rule.  A writer that opens the file
 * in the instant the lease is held waits for its release (SIGIO, which would
 * tell us, is ignored: main.c). */
static WriterState
writer_state (int fd)
{
  if (fs.opts.no_inotify)
    return WRITER_UNKNOWN;
  if (fcntl (fd, F_SETLEASE, F_RDLCK) == 0) {
    fcntl (fd, F_SETLEASE, F_UNLCK);
    return WRITER_NONE;
  }
  return errno == EAGAIN ? WRITER_OPEN : WRITER_UNKNOWN;   /* EACCES: not ours and no CAP_LEASE */
}

gboolean
entry_is_live (const Entry *entry)
{
  /* Live from the first write until the writer closes the file; by mtime
   * and settle where that cannot be known (design: "Liveness"). */
  switch (writer_state (entry->fd->fd)) {
  case WRITER_OPEN:
    return TRUE;
  case WRITER_NONE:
    return FALSE;
  case WRITER_UNKNOWN:
    break;
  }
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  return now - (gint64) entry->seen.st_mtim.tv_sec < (gint64) fs.opts.settle;
}

void
catalog_count (guint *entries, guint *listings, guint *probes)
{
  /* Called with fs.lock held. */
  GHashTableIter it;
  gpointer value;
  *entries = g_hash_table_size (fs.entries);
  *listings = g_hash_table_size (fs.dirs);
  *probes = 0;
  g_hash_table_iter_init (&it, fs.dirs);
  while (g_hash_table_iter_next (&it, NULL, &value))
    *probes += g_hash_table_size (((DirMap *) value)->probes);
}

/* ---- indexing while the recorder writes ----------------------------------- */

/* Files inotify reported written are indexed by a small pool, while their new
 * bytes are still in the page cache, so the first open of a recording after
 * it ends reads nothing for its index.  The queue is bounded (a path queued
 * twice is there once; past INDEX_QUEUE_MAX, writes are left to the next
 * access), and the threads run at a lower priority than requests.  (Not a
 * GThreadPool: its queue's locks are inside GLib, where ThreadSanitizer
 * cannot see them.) */
#define INDEX_THREADS 2
#define INDEX_QUEUE_MAX 256
/* Files found not to be recordings ("dev:ino:size"), not probed again until
 * they change; cleared when it holds this many. */
#define INDEX_NOT_RECORDINGS_MAX 4096

/* index_lock, a leaf, guards the rest. */
static GMutex index_lock;
static GCond index_wake;
static GThread *index_threads[INDEX_THREADS];
static gboolean index_stopping;
static GQueue index_queue = G_QUEUE_INIT;  /* source paths */
static GHashTable *index_queued;           /* the same paths, to queue each once */
static GHashTable *index_not_recordings;

static void
index_one (const char *path)
{
  struct stat st;
  if (fstatat (fs.root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (st.st_mode))
    return;
  Entry *entry = catalog_find_entry (&st);
  if (entry) {
    g_mutex_lock (&entry->lock);
    entry_refresh (entry, &st);
    g_mutex_unlock (&entry->lock);
    entry_unref (entry);
    g_debug ("%s: indexed in the background up to %lld bytes", path, (long long) st.st_size);
    return;
  }
  g_autofree char *key = g_strdup_printf ("%lu:%lu:%lld", (unsigned long) st.st_dev, (unsigned long) st.st_ino,
                                          (long long) st.st_size);
  g_mutex_lock (&index_lock);
  gboolean known_plain = g_hash_table_contains (index_not_recordings, key);
  g_mutex_unlock (&index_lock);
  if (known_plain)
    return;
  int err = 0;
  entry = catalog_entry (path, &st, NULL, &err);
  if (entry) {
    g_debug ("%s: indexed in the background up to %lld bytes", path, (long long) st.st_size);
    entry_unref (entry);
    return;
  }
  if (err == EAGAIN) {   /* not a recording, or too short to tell yet */
    g_mutex_lock (&index_lock);
    if (g_hash_table_size (index_not_recordings) >= INDEX_NOT_RECORDINGS_MAX)
      g_hash_table_remove_all (index_not_recordings);
    g_hash_table_add (index_not_recordings, g_steal_pointer (&key));
    g_mutex_unlock (&index_lock);
  }
}

static gpointer
index_thread (gpointer data)
{
  (void) data;
  setpriority (PRIO_PROCESS, (id_t) gettid (), 10);   /* this thread only (Linux) */
  g_mutex_lock (&index_lock);
  for (;;) {
    while (!index_stopping && g_queue_is_empty (&index_queue))
      g_cond_wait (&index_wake, &index_lock);
    if (index_stopping)
      break;
    char *path = g_queue_pop_head (&index_queue);
    g_hash_table_remove (index_queued, path);   /* a write from now on queues it again */
    g_mutex_unlock (&index_lock);
    index_one (path);
    g_free (path);
    g_mutex_lock (&index_lock);
  }
  g_mutex_unlock (&index_lock);
  return NULL;
}

void
catalog_index_later (const char *dir, const char *name)
{
  g_autofree char *path = path_join (dir, name);
  g_mutex_lock (&index_lock);
  if (!index_threads[0] && !index_stopping) {
    index_queued = g_hash_table_new (g_str_hash, g_str_equal);
    index_not_recordings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < INDEX_THREADS; i++)
      index_threads[i] = g_thread_new ("index", index_thread, NULL);
  }
  if (!index_stopping && !g_hash_table_contains (index_queued, path) &&
      g_queue_get_length (&index_queue) < INDEX_QUEUE_MAX) {
    g_hash_table_add (index_queued, path);
    g_queue_push_tail (&index_queue, g_steal_pointer (&path));
    g_cond_signal (&index_wake);
  }
  g_mutex_unlock (&index_lock);
}

void
catalog_stop_indexing (void)
{
  /* What is queued is dropped; what runs finishes. */
  g_mutex_lock (&index_lock);
  index_stopping = TRUE;
  g_cond_broadcast (&index_wake);
  g_mutex_unlock (&index_lock);
  for (guint i = 0; i < INDEX_THREADS; i++)
    if (index_threads[i])
      g_thread_join (g_steal_pointer (&index_threads[i]));
  g_mutex_lock (&index_lock);
  g_queue_clear_full (&index_queue, g_free);
  g_clear_pointer (&index_queued, g_hash_table_unref);
  g_clear_pointer (&index_not_recordings, g_hash_table_unref);
  g_mutex_unlock (&index_lock);
}

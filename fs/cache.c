/* cache.c — the daemon's persistent index cache (issue 14 item 2).
 *
 * Where it lives: -o cache=DIR, else $XDG_CACHE_HOME/livemp4fs (~/.cache/
 * livemp4fs), or /var/cache/livemp4fs for root; -o nocache turns it off.
 * Under it, one directory per source root (a hash of its real path, so two
 * mounts never share files) holds one file per recording, named after a
 * hash of the recording's path relative to the root (issue 18 item 2 can
 * share such names across hosts).  muxer/index_cache.h holds the format and
 * what a file is checked against.
 *
 * When: a recording's first index is loaded from its cache file if the key
 * matches the source as it stands (device, inode, size, mtime in ns, the
 * indexer, a hash of its first 64 KiB); a settled recording whose index
 * reached its whole source is saved once (the sweep, catalog.c).  A stale,
 * truncated or corrupt file is ignored (logged at debug) and written anew
 * once the recording is indexed and settled.  A restored index is never fed:
 * once its source changes, it is indexed again from the start.
 */
#include "livemp4fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "muxer/index_cache.h"

/* Fixed once cache_init() returns; NULL when the cache is off. */
static char *cache_root;

static char *
sha256_hex (const char *s, gsize len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) s, len);
}

void
cache_init (void)
{
  if (fs.opts.no_cache)
    return;
  g_autofree char *base = NULL;
  if (fs.opts.cache_dir)
    base = g_strdup (fs.opts.cache_dir);
  else if (geteuid () == 0)
    base = g_strdup ("/var/cache/livemp4fs");
  else
    base = g_build_filename (g_get_user_cache_dir (), "livemp4fs", NULL);
  g_autofree char *real = realpath (fs.opts.source, NULL);
  const char *root = real ? real : fs.opts.source;
  g_autofree char *root_hash = sha256_hex (root, strlen (root));
  root_hash[16] = '\0';
  char *dir = g_build_filename (base, root_hash, NULL);
  if (g_mkdir_with_parents (dir, 0700) < 0) {
    g_warning ("index cache %s: %s; indexes are not cached", dir, g_strerror (errno));
    g_free (dir);
    return;
  }
  cache_root = dir;
  g_info ("index cache: %s", cache_root);
}

void
cache_shutdown (void)
{
  g_clear_pointer (&cache_root, g_free);
}

static char *
cache_file (const char *path)
{
  g_autofree char *name = sha256_hex (path, strlen (path));
  g_autofree char *file = g_strconcat (name, ".idx", NULL);
  return g_build_filename (cache_root, file, NULL);
}

/* The key of rec's source as st shows it; FALSE if its head cannot be read. */
static gboolean
source_key (Recording *rec, int fd, const char *path, const struct stat *st, IndexCacheKey *key)
{
  *key = (IndexCacheKey) {
    .indexer = recording_format_name (rec), .path = path, .source_size = (guint64) st->st_size,
    .mtime_sec = st->st_mtim.tv_sec, .mtime_nsec = (guint32) st->st_mtim.tv_nsec, .dev = st->st_dev,
    .ino = st->st_ino,
  };
  Source src = { .fd = fd, .size = (guint64) st->st_size };
  return index_cache_hash_head (&src, key);
}

static Recording *
load (Entry *entry, const struct stat *st)
{
  g_autofree char *file = cache_file (entry->path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GMappedFile) mapped = g_mapped_file_new (file, FALSE, &error);
  if (!mapped) {
    g_debug ("%s: no index cache (%s)", entry->path, error->message);
    return NULL;
  }
  IndexCacheKey key;
  if (!source_key (entry->rec, entry->fd->fd, entry->path, st, &key))
    return NULL;
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (mapped);
  gsize len = g_mapped_file_get_length (mapped);
  Recording *rec = index_cache_restore (data, len, &key, entry->path, 0, &error);
  if (!rec)
    g_debug ("%s: index cache %s ignored: %s", entry->path, file, error->message);
  else
    g_info ("%s: index read from the cache", entry->path);
  return rec;
}

void
cache_refresh (Entry *entry, const struct stat *st)
{
  Recording *rec = entry->rec;
  if (recording_restored (rec)) {
    if ((guint64) st->st_size == rec->source_size && st->st_mtim.tv_sec == entry->seen.st_mtim.tv_sec &&
        st->st_mtim.tv_nsec == entry->seen.st_mtim.tv_nsec)
      return;
    /* The source changed: index it again; the current snapshot stays until
     * the new index reaches it (catalog.c, entry_refresh). */
    g_debug ("%s: changed since its index was cached; indexed again", entry->path);
    entry->rec = recording_new (rec->indexer, entry->path);
    g_atomic_pointer_set (&entry->indexer, entry->rec->indexer);
    entry->cached = FALSE;
    recording_unref (rec);
    return;
  }
  /* Only a Recording nothing has been fed to yet: one attempt each. */
  if (!cache_root || rec->source_size != 0 || rec->generation != 0 || recording_failed (rec))
    return;
  Recording *restored = load (entry, st);
  if (!restored)
    return;
  entry->rec = restored;
  g_atomic_pointer_set (&entry->indexer, restored->indexer);
  entry->cached = TRUE;
  recording_unref (rec);
}

void
cache_save (Entry *entry)
{
  if (!cache_root)
    return;
  g_mutex_lock (&entry->lock);
  Layout *layout = entry->layout;
  gboolean ready = !entry->cached && layout && layout->rec == entry->rec &&
                   entry->rec->source_size == (guint64) entry->seen.st_size && index_cache_supported (entry->rec) &&
                   !entry_is_live (entry);
  g_autoptr (Recording) rec = ready ? recording_ref (entry->rec) : NULL;
  g_autoptr (Layout) settled = ready ? layout_ref (layout) : NULL;
  struct stat st = entry->seen;
  if (ready)
    entry->cached = TRUE;
  g_mutex_unlock (&entry->lock);
  if (!ready)
    return;
  /* Outside the entry's lock: a long index takes a while to write. */
  IndexCacheKey key;
  if (!source_key (rec, entry->fd->fd, entry->path, &st, &key))
    return;
  key.virtual_size = settled->size;
  g_autoptr (GBytes) bytes = index_cache_serialise (rec, &key);
  if (!bytes)
    return;
  g_autofree char *file = cache_file (entry->path);
  g_autoptr (GError) error = NULL;
  if (!index_cache_write_file (file, bytes, &error))
    g_debug ("%s: index not cached: %s", entry->path, error->message);
  else
    g_debug ("%s: index cached in %s (%" G_GSIZE_FORMAT " bytes)", entry->path, file, g_bytes_get_size (bytes));
}

gboolean
cache_parse_size (const char *text, guint64 *bytes)
{
  guint64 n;
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &n, NULL)) {
    /* A number and one suffix. */
    gsize len = strlen (text);
    if (len < 2)
      return FALSE;
    guint shift;
    switch (g_ascii_toupper (text[len - 1])) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    default: return FALSE;
    }
    g_autofree char *digits = g_strndup (text, len - 1);
    if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64 >> shift, &n, NULL))
      return FALSE;
    n <<= shift;
  }
  *bytes = n;
  return TRUE;
}

typedef struct {
  Entry *entry;
  gint64 used_at;
  gsize memory;
} Candidate;

static gint
older_first (gconstpointer a, gconstpointer b)
{
  gint64 x = ((const Candidate *) a)->used_at, y = ((const Candidate *) b)->used_at;
  return x < y ? -1 : x > y;
}

void
cache_evict (GPtrArray *entries)
{
  /* Every index counts; only those nothing but the table and the caller
   * hold (no node, so no handle) can go. */
  guint64 total = 0;
  g_autoptr (GArray) candidates = g_array_new (FALSE, FALSE, sizeof (Candidate));
  for (guint i = 0; i < entries->len; i++) {
    Entry *entry = g_ptr_array_index (entries, i);
    g_mutex_lock (&entry->lock);
    gsize memory = recording_memory (entry->rec);
    if (entry->layout && entry->layout->rec != entry->rec)
      memory += recording_memory (entry->layout->rec);
    g_mutex_unlock (&entry->lock);
    total += memory;
    g_mutex_lock (&fs.lock);
    gint64 used_at = entry->used_at;
    g_mutex_unlock (&fs.lock);
    if (g_atomic_int_get (&entry->ref) == 2)
      g_array_append_val (candidates, ((Candidate) { entry, used_at, memory }));
  }
  if (total <= fs.opts.index_memory_limit)
    return;
  g_array_sort (candidates, older_first);
  guint dropped = 0;
  guint64 before = total;
  for (guint i = 0; i < candidates->len && total > fs.opts.index_memory_limit; i++) {
    const Candidate *c = &g_array_index (candidates, Candidate, i);
    if (catalog_evict_entry (c->entry)) {
      total -= c->memory;
      dropped++;
    }
  }
  if (dropped)
    g_debug ("index memory %" G_GUINT64_FORMAT " bytes, past %" G_GUINT64_FORMAT ": %u unused indexes dropped (%"
             G_GUINT64_FORMAT " bytes left)", before, fs.opts.index_memory_limit, dropped, total);
}

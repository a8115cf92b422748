/* index_cache.c — a settled recording's index, saved and read back: index_cache.h. */
#include "index_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "fmp4.h"
#include "mkv.h"
#include "mp4.h"

static const guint8 magic[8] = { 'L', 'M', 'P', '4', 'I', 'D', 'X', '\n' };
#define CHECKSUM_LEN 32u
/* Bound on a string in the key or the body (paths, notes, errors). */
#define MAX_TEXT (1u << 20)

/* The indexers whose recordings can be cached: their payload is spliced. */
static const IndexerClass *const cacheable[] = { &fmp4_indexer, &mkv_indexer, &mp4_indexer };

static const IndexerClass *
indexer_named (const guint8 *name, gsize len)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cacheable); i++)
    if (strlen (cacheable[i]->name) == len && memcmp (cacheable[i]->name, name, len) == 0)
      return cacheable[i];
  return NULL;
}

gboolean
index_cache_hash_head (const Source *src, IndexCacheKey *key)
{
  guint32 len = (guint32) MIN (src->size, (guint64) INDEX_CACHE_HEAD);
  g_autofree guint8 *head = g_malloc (MAX (len, 1));
  if (len && !source_read (src, 0, head, len))
    return FALSE;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, head, len);
  gsize digest_len = sizeof key->head_hash;
  g_checksum_get_digest (sum, key->head_hash, &digest_len);
  key->head_len = len;
  return TRUE;
}

gboolean
index_cache_supported (Recording *rec)
{
  /* Source bytes read as zeros (recording_mask_source) are not in this
   * format: such a recording is indexed afresh, never cached. */
  gboolean zeros = FALSE;
  g_rw_lock_reader_lock (&rec->lock);
  for (guint i = 0; i < rec->extents->len && !zeros; i++)
    zeros = g_array_index (rec->extents, Extent, i).zeros != 0;
  g_rw_lock_reader_unlock (&rec->lock);
  return !zeros && !rec->indexer->read_payload && !recording_io_failed (rec) &&
         indexer_named ((const guint8 *) rec->indexer->name, strlen (rec->indexer->name)) != NULL;
}

/* ---- writing ------------------------------------------------------------- */

static void
put_text (ByteWriter *w, const char *s)
{
  gsize len = s ? MIN (strlen (s), MAX_TEXT) : 0;
  byte_writer_u32 (w, (guint32) len);
  byte_writer_bytes (w, s, len);
}

/* An optional blob: a presence byte, then its length and bytes. */
static void
put_blob (ByteWriter *w, GBytes *b)
{
  byte_writer_u8 (w, b != NULL);
  if (!b)
    return;
  gsize len;
  const guint8 *data = g_bytes_get_data (b, &len);
  byte_writer_u32 (w, (guint32) len);
  byte_writer_bytes (w, data, len);
}

static void
put_key (ByteWriter *w, const IndexCacheKey *key)
{
  put_text (w, key->indexer);
  put_text (w, key->path);
  byte_writer_u64 (w, key->source_size);
  byte_writer_u64 (w, (guint64) key->mtime_sec);
  byte_writer_u32 (w, key->mtime_nsec);
  byte_writer_u64 (w, key->dev);
  byte_writer_u64 (w, key->ino);
  byte_writer_u32 (w, key->head_len);
  byte_writer_bytes (w, key->head_hash, sizeof key->head_hash);
  byte_writer_u64 (w, key->virtual_size);
}

/* A track's samples as runs and lists, from the table's own order. */
static void
put_samples (ByteWriter *w, const SampleTable *t)
{
  byte_writer_u32 (w, t->count);
  g_autoptr (GArray) sizes = g_array_sized_new (FALSE, FALSE, sizeof (guint32), t->count);
  g_autoptr (GArray) durations = g_array_new (FALSE, FALSE, sizeof (DurationRun));
  g_autoptr (GArray) offsets = g_array_new (FALSE, FALSE, sizeof (OffsetRun));
  g_autoptr (GArray) syncs = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr (GArray) chunks = g_array_new (FALSE, FALSE, sizeof (Chunk));
  gboolean all_sync = TRUE;
  guint64 payload_end = 0;
  SampleCursor it;
  guint64 decode_time;
  SampleInfo s;
  sample_cursor_init (&it);
  for (guint32 i = 0; sample_cursor_next (t, &it, &s, &decode_time); i++) {
    g_array_append_val (sizes, s.size);
    DurationRun *d = durations->len ? &g_array_index (durations, DurationRun, durations->len - 1) : NULL;
    if (d && d->delta == s.duration)
      d->count++;
    else
      g_array_append_val (durations, ((DurationRun) { 1, s.duration }));
    OffsetRun *o = offsets->len ? &g_array_index (offsets, OffsetRun, offsets->len - 1) : NULL;
    if (o && o->offset == s.composition_offset)
      o->count++;
    else
      g_array_append_val (offsets, ((OffsetRun) { 1, s.composition_offset }));
    all_sync &= s.sync;
    if (s.sync)
      g_array_append_val (syncs, i);
    Chunk *c = chunks->len ? &g_array_index (chunks, Chunk, chunks->len - 1) : NULL;
    if (c && payload_end == s.payload_offset && c->description_index == s.description_index)
      c->count++;
    else
      g_array_append_val (chunks, ((Chunk) { s.payload_offset, i, 1, s.description_index }));
    payload_end = s.payload_offset + s.size;
  }
  /* Every sample's size, even where all are equal: then every sample the
   * reader replays stands on 4 bytes of the file, and what a file makes it
   * allocate follows the file's length. */
  for (guint i = 0; i < sizes->len; i++)
    byte_writer_u32 (w, g_array_index (sizes, guint32, i));
  byte_writer_u32 (w, durations->len);
  for (guint i = 0; i < durations->len; i++) {
    byte_writer_u32 (w, g_array_index (durations, DurationRun, i).count);
    byte_writer_u32 (w, g_array_index (durations, DurationRun, i).delta);
  }
  byte_writer_u32 (w, offsets->len);
  for (guint i = 0; i < offsets->len; i++) {
    byte_writer_u32 (w, g_array_index (offsets, OffsetRun, i).count);
    byte_writer_u32 (w, (guint32) g_array_index (offsets, OffsetRun, i).offset);
  }
  byte_writer_u8 (w, all_sync);
  if (!all_sync) {
    byte_writer_u32 (w, syncs->len);
    for (guint i = 0; i < syncs->len; i++)
      byte_writer_u32 (w, g_array_index (syncs, guint32, i));
  }
  byte_writer_u32 (w, chunks->len);
  for (guint i = 0; i < chunks->len; i++) {
    const Chunk *c = &g_array_index (chunks, Chunk, i);
    byte_writer_u64 (w, c->payload_offset);
    byte_writer_u32 (w, c->count);
    byte_writer_u32 (w, c->description_index);
  }
}

static void
put_track (ByteWriter *w, const Track *t)
{
  byte_writer_u32 (w, t->id);
  byte_writer_u32 (w, t->handler);
  byte_writer_u32 (w, t->timescale);
  byte_writer_u16 (w, t->language);
  byte_writer_u16 (w, t->tkhd_flags);
  byte_writer_u16 (w, (guint16) t->layer);
  byte_writer_u16 (w, (guint16) t->alternate_group);
  byte_writer_u16 (w, (guint16) t->volume);
  for (guint i = 0; i < 9; i++)
    byte_writer_u32 (w, (guint32) t->matrix[i]);
  byte_writer_u32 (w, t->width);
  byte_writer_u32 (w, t->height);
  byte_writer_u32 (w, t->codec);
  byte_writer_u64 (w, (guint64) t->edit_base);
  byte_writer_u64 (w, t->first_decode_time);
  put_blob (w, t->media_header);
  put_blob (w, t->sample_descriptions);
  put_samples (w, &t->table);
}

GBytes *
index_cache_serialise (Recording *rec, const IndexCacheKey *key)
{
  if (!index_cache_supported (rec))
    return NULL;
  IndexCacheKey k = *key;
  k.indexer = rec->indexer->name;
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_bytes (&w, magic, sizeof magic);
  byte_writer_u32 (&w, INDEX_CACHE_VERSION);
  gsize key_at = byte_writer_len (&w);
  byte_writer_u32 (&w, 0);
  put_key (&w, &k);
  byte_writer_put_u32_at (&w, key_at, (guint32) (byte_writer_len (&w) - key_at - 4));

  gsize body_at = byte_writer_len (&w);
  byte_writer_u64 (&w, 0);
  g_autofree char *error = NULL;
  g_mutex_lock (&rec->problems_lock);
  error = g_strdup (rec->error);
  g_autofree char *notes = g_strdup (rec->notes->str);
  g_mutex_unlock (&rec->problems_lock);
  byte_writer_u8 (&w, recording_failed (rec));
  put_text (&w, error);
  put_text (&w, notes);

  g_rw_lock_reader_lock (&rec->lock);
  for (guint i = 0; i < rec->tracks->len; i++) {
    gint64 base = ((Track *) g_ptr_array_index (rec->tracks, i))->edit_base;
    if (base < -(G_MAXINT64 / 2) || base > G_MAXINT64 / 2) {
      /* The reader refuses it (get_track). */
      g_rw_lock_reader_unlock (&rec->lock);
      byte_writer_clear (&w);
      return NULL;
    }
  }
  put_blob (&w, rec->user_data);
  byte_writer_u64 (&w, rec->payload_len);
  byte_writer_u32 (&w, rec->extents->len);
  for (guint i = 0; i < rec->extents->len; i++) {
    const Extent *e = &g_array_index (rec->extents, Extent, i);
    byte_writer_u64 (&w, e->source_offset);
    byte_writer_u64 (&w, e->payload_offset);
    byte_writer_u64 (&w, e->length);
  }
  byte_writer_u32 (&w, rec->tracks->len);
  for (guint i = 0; i < rec->tracks->len; i++)
    put_track (&w, g_ptr_array_index (rec->tracks, i));
  g_rw_lock_reader_unlock (&rec->lock);
  byte_writer_put_u64_at (&w, body_at, byte_writer_len (&w) - body_at - 8);

  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, w.buf->data, w.buf->len);
  guint8 digest[CHECKSUM_LEN];
  gsize digest_len = sizeof digest;
  g_checksum_get_digest (sum, digest, &digest_len);
  byte_writer_bytes (&w, digest, sizeof digest);
  return byte_writer_free_to_bytes (&w);
}

/* ---- reading ------------------------------------------------------------- */

#define BAD(...)                                                       \
  G_STMT_START {                                                       \
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, __VA_ARGS__); \
    return FALSE;                                                      \
  } G_STMT_END

static gboolean
get_text (ByteReader *r, const guint8 **s, gsize *len)
{
  guint32 n;
  if (!byte_reader_u32 (r, &n) || n > MAX_TEXT || !byte_reader_bytes (r, n, s))
    return FALSE;
  *len = n;
  return TRUE;
}

static gboolean
get_blob (ByteReader *r, GBytes **out, guint32 max)
{
  guint8 present;
  guint32 n;
  const guint8 *data;
  *out = NULL;
  if (!byte_reader_u8 (r, &present) || present > 1)
    return FALSE;
  if (!present)
    return TRUE;
  if (!byte_reader_u32 (r, &n) || n > max || !byte_reader_bytes (r, n, &data))
    return FALSE;
  *out = g_bytes_new (data, n);
  return TRUE;
}

/* Key strings are kept NUL-free and referenced as (pointer, length) pairs;
 * copies into key_text make them C strings. */
typedef struct {
  char *indexer, *path;
} KeyText;

static gboolean
parse_key (ByteReader *r, IndexCacheKey *key, KeyText *text)
{
  const guint8 *s;
  gsize n;
  guint64 mtime;
  const guint8 *hash;
  if (!get_text (r, &s, &n) || memchr (s, 0, n))
    return FALSE;
  text->indexer = g_strndup ((const char *) s, n);
  if (!get_text (r, &s, &n) || memchr (s, 0, n))
    return FALSE;
  text->path = g_strndup ((const char *) s, n);
  key->indexer = text->indexer;
  key->path = text->path;
  return byte_reader_u64 (r, &key->source_size) && byte_reader_u64 (r, &mtime) &&
         byte_reader_u32 (r, &key->mtime_nsec) && byte_reader_u64 (r, &key->dev) && byte_reader_u64 (r, &key->ino) &&
         byte_reader_u32 (r, &key->head_len) && byte_reader_bytes (r, sizeof key->head_hash, &hash) &&
         (memcpy (key->head_hash, hash, sizeof key->head_hash), (key->mtime_sec = (gint64) mtime), TRUE) &&
         byte_reader_u64 (r, &key->virtual_size);
}

/* The header: magic, version, the key.  The reader is left at the body. */
static gboolean
read_header (ByteReader *r, IndexCacheKey *key, KeyText *text, GError **error)
{
  const guint8 *m;
  guint32 version, key_len;
  ByteReader kr;
  if (!byte_reader_bytes (r, sizeof magic, &m) || memcmp (m, magic, sizeof magic) != 0)
    BAD ("not an index cache file");
  if (!byte_reader_u32 (r, &version) || version != INDEX_CACHE_VERSION)
    BAD ("index cache format %u, not %u", version, INDEX_CACHE_VERSION);
  if (!byte_reader_u32 (r, &key_len) || !byte_reader_sub (r, key_len, &kr) || !parse_key (&kr, key, text) ||
      byte_reader_remaining (&kr) != 0)
    BAD ("its key is truncated or malformed");
  return TRUE;
}

gboolean
index_cache_read_key (const guint8 *data, gsize len, IndexCacheKey *key, char **strings, GError **error)
{
  ByteReader r;
  KeyText text = { 0 };
  byte_reader_init (&r, data, len);
  *key = (IndexCacheKey) { 0 };
  *strings = NULL;
  gboolean ok = read_header (&r, key, &text, error);
  if (ok) {
    /* Both strings in one block, which the caller frees. */
    gsize a = strlen (text.indexer) + 1, b = strlen (text.path) + 1;
    char *buf = g_malloc (a + b);
    memcpy (buf, text.indexer, a);
    memcpy (buf + a, text.path, b);
    key->indexer = buf;
    key->path = buf + a;
    *strings = buf;
  }
  g_free (text.indexer);
  g_free (text.path);
  return ok;
}

gboolean
index_cache_key_equal (const IndexCacheKey *a, const IndexCacheKey *b)
{
  return g_strcmp0 (a->indexer, b->indexer) == 0 && g_strcmp0 (a->path, b->path) == 0 &&
         a->source_size == b->source_size && a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
         a->dev == b->dev && a->ino == b->ino && a->head_len == b->head_len &&
         memcmp (a->head_hash, b->head_hash, sizeof a->head_hash) == 0;
}

/* What the tracks' samples must agree with. */
typedef struct {
  guint64 payload_len;
  guint64 total_samples;
  guint64 moov_table_bytes;
} Totals;

static guint32
description_count (GBytes *descriptions)
{
  gsize len = 0;
  const guint8 *d = descriptions ? g_bytes_get_data (descriptions, &len) : NULL;
  return len >= 4 ? (guint32) d[0] << 24 | (guint32) d[1] << 16 | (guint32) d[2] << 8 | d[3] : 0;
}

/* Reads a list header: n entries of entry_size bytes must remain. */
static gboolean
get_count (ByteReader *r, gsize entry_size, guint32 *n)
{
  return byte_reader_u32 (r, n) && (guint64) *n * entry_size <= byte_reader_remaining (r);
}

/* Reads a track's samples and replays them into its table. */
static gboolean
get_samples (ByteReader *r, Track *t, Totals *totals, GError **error)
{
  guint32 count, n_durations, n_offsets, n_syncs = 0, n_chunks;
  guint8 all_sync;
  const guint8 *sizes, *durations, *offsets, *syncs = NULL, *chunks;
  if (!byte_reader_u32 (r, &count))
    BAD ("a track's sample count is truncated");
  if (count > RECORDING_MAX_SAMPLES - totals->total_samples)
    BAD ("more than %u samples", RECORDING_MAX_SAMPLES);
  if (!byte_reader_bytes (r, 4ull * count, &sizes))
    BAD ("a track's sample sizes are truncated");
  if (!get_count (r, 8, &n_durations) || !byte_reader_bytes (r, 8ull * n_durations, &durations) ||
      !get_count (r, 8, &n_offsets) || !byte_reader_bytes (r, 8ull * n_offsets, &offsets) ||
      !byte_reader_u8 (r, &all_sync) || all_sync > 1 ||
      (!all_sync && (!get_count (r, 4, &n_syncs) || !byte_reader_bytes (r, 4ull * n_syncs, &syncs))) ||
      !get_count (r, 16, &n_chunks) || !byte_reader_bytes (r, 16ull * n_chunks, &chunks))
    BAD ("a track's sample tables are truncated");
  if ((count == 0) != (n_durations == 0) || (count == 0) != (n_offsets == 0) || (count == 0) != (n_chunks == 0))
    BAD ("a track's tables do not agree on its samples");

  guint32 n_desc = description_count (t->sample_descriptions);
  ByteReader dr, orr, sr, cr;
  byte_reader_init (&dr, durations, 8ull * n_durations);
  byte_reader_init (&orr, offsets, 8ull * n_offsets);
  byte_reader_init (&sr, syncs, 4ull * n_syncs);
  byte_reader_init (&cr, chunks, 16ull * n_chunks);
  guint32 d_left = 0, o_left = 0, c_left = 0, delta = 0, offset = 0, desc = 0, next_sync = G_MAXUINT32;
  guint64 payload = 0, payload_end = 0;
  gboolean have_sync = !all_sync && byte_reader_u32 (&sr, &next_sync);
  for (guint32 i = 0; i < count; i++) {
    if (!d_left && (!byte_reader_u32 (&dr, &d_left) || !byte_reader_u32 (&dr, &delta) || !d_left))
      BAD ("a track's duration runs do not add up to its samples");
    if (!o_left && (!byte_reader_u32 (&orr, &o_left) || !byte_reader_u32 (&orr, &offset) || !o_left))
      BAD ("a track's composition offset runs do not add up to its samples");
    if (!c_left) {
      if (!byte_reader_u64 (&cr, &payload) || !byte_reader_u32 (&cr, &c_left) || !byte_reader_u32 (&cr, &desc) ||
          !c_left)
        BAD ("a track's chunks do not add up to its samples");
      if (desc == 0 || desc > n_desc)
        BAD ("track %u: sample description %u does not exist (the track has %u)", t->id, desc, n_desc);
      if (payload < payload_end)
        BAD ("track %u: a chunk goes back in the payload", t->id);
    }
    guint32 size = (guint32) sizes[4ull * i] << 24 | (guint32) sizes[4ull * i + 1] << 16 |
                   (guint32) sizes[4ull * i + 2] << 8 | sizes[4ull * i + 3];
    if (size > totals->payload_len || payload > totals->payload_len - size)
      BAD ("track %u: sample %u lies past the payload", t->id, i);
    gboolean sync = all_sync;
    if (have_sync && next_sync == i) {
      sync = TRUE;
      guint32 v;
      next_sync = byte_reader_u32 (&sr, &v) ? v : G_MAXUINT32;
      if (next_sync <= i)
        BAD ("track %u: sync samples out of order", t->id);
    }
    SampleInfo s = { size, delta, (gint32) offset, sync, desc, payload };
    sample_table_append (&t->table, &s);
    payload += size;
    payload_end = payload;
    d_left--;
    o_left--;
    c_left--;
  }
  if (d_left || o_left || c_left || byte_reader_remaining (&dr) || byte_reader_remaining (&orr) ||
      byte_reader_remaining (&cr) || (have_sync && next_sync != G_MAXUINT32))
    BAD ("track %u: its tables hold more entries than samples", t->id);
  totals->total_samples += count;
  totals->moov_table_bytes += sample_table_moov_bytes (&t->table);
  if (totals->moov_table_bytes > RECORDING_MAX_MOOV_TABLES)
    BAD ("its sample tables would take more than %llu MiB in the moov", RECORDING_MAX_MOOV_TABLES >> 20);
  return TRUE;
}

static gboolean
get_track (ByteReader *r, Recording *rec, Totals *totals, GError **error)
{
  Track *t = recording_add_track (rec);
  if (!t)
    BAD ("more than %d tracks", RECORDING_MAX_TRACKS);
  guint16 layer, group, volume;
  guint64 edit_base;
  gboolean ok = byte_reader_u32 (r, &t->id) && byte_reader_u32 (r, &t->handler) &&
                byte_reader_u32 (r, &t->timescale) && byte_reader_u16 (r, &t->language) &&
                byte_reader_u16 (r, &t->tkhd_flags) && byte_reader_u16 (r, &layer) && byte_reader_u16 (r, &group) &&
                byte_reader_u16 (r, &volume);
  for (guint i = 0; ok && i < 9; i++) {
    guint32 m;
    ok = byte_reader_u32 (r, &m);
    t->matrix[i] = (gint32) m;
  }
  ok = ok && byte_reader_u32 (r, &t->width) && byte_reader_u32 (r, &t->height) && byte_reader_u32 (r, &t->codec) &&
       byte_reader_u64 (r, &edit_base) && byte_reader_u64 (r, &t->first_decode_time) &&
       get_blob (r, &t->media_header, RECORDING_MAX_HEADER_BOX) &&
       get_blob (r, &t->sample_descriptions, RECORDING_MAX_HEADER_BOX);
  if (!ok)
    BAD ("a track header is truncated");
  /* The moov writer's start arithmetic (moov.c, plan_track) holds for an
   * edit base within +-2^62 (the first decode time it clamps itself); a
   * recording beyond that is indexed again rather than cached. */
  if ((gint64) edit_base < -(G_MAXINT64 / 2) || (gint64) edit_base > G_MAXINT64 / 2)
    BAD ("track %u: its start is out of range", t->id);
  t->layer = (gint16) layer;
  t->alternate_group = (gint16) group;
  t->volume = (gint16) volume;
  t->edit_base = (gint64) edit_base;
  return get_samples (r, t, totals, error);
}

/* The payload must be the extents end to end, each inside the source, in
 * source order, all at one distance from it modulo a page (recording.h). */
static gboolean
get_extents (ByteReader *r, Recording *rec, guint64 source_size, GError **error)
{
  guint32 n;
  if (!byte_reader_u64 (r, &rec->payload_len) || !get_count (r, 24, &n))
    BAD ("the extents are truncated");
  guint64 payload = 0, source_end = 0, phase = 0;
  for (guint32 i = 0; i < n; i++) {
    Extent e = { 0 };
    if (!byte_reader_u64 (r, &e.source_offset) || !byte_reader_u64 (r, &e.payload_offset) ||
        !byte_reader_u64 (r, &e.length))
      BAD ("the extents are truncated");
    if (e.length == 0 || e.payload_offset != payload || e.source_offset < source_end ||
        e.source_offset > source_size || e.length > source_size - e.source_offset)
      BAD ("extent %u does not follow the one before it inside the source", i);
    guint64 p = (e.source_offset - e.payload_offset) % RECORDING_PAGE;
    if (i == 0)
      phase = p;
    else if (p != phase)
      BAD ("extent %u is not on the payload's page phase", i);
    payload += e.length;
    source_end = e.source_offset + e.length;
    g_array_append_val (rec->extents, e);
  }
  if (payload != rec->payload_len)
    BAD ("the extents hold %" G_GUINT64_FORMAT " payload bytes, not %" G_GUINT64_FORMAT, payload, rec->payload_len);
  return TRUE;
}

static gboolean
get_body (ByteReader *r, Recording *rec, guint64 source_size, GError **error)
{
  guint8 failed;
  const guint8 *err_text, *notes;
  gsize err_len, notes_len;
  if (!byte_reader_u8 (r, &failed) || failed > 1 || !get_text (r, &err_text, &err_len) ||
      !get_text (r, &notes, &notes_len) || memchr (err_text, 0, err_len) || memchr (notes, 0, notes_len))
    BAD ("its problems are truncated");
  if (failed) {
    rec->error = g_strndup ((const char *) err_text, err_len);
    rec->failed = TRUE;
  }
  g_string_append_len (rec->notes, (const char *) notes, notes_len);
  if (!get_blob (r, &rec->user_data, RECORDING_MAX_HEADER_BOX))
    BAD ("its user data is truncated");
  if (!get_extents (r, rec, source_size, error))
    return FALSE;
  guint32 n_tracks;
  if (!byte_reader_u32 (r, &n_tracks) || n_tracks > RECORDING_MAX_TRACKS)
    BAD ("its track count is truncated or above %d", RECORDING_MAX_TRACKS);
  Totals totals = { .payload_len = rec->payload_len };
  for (guint32 i = 0; i < n_tracks; i++)
    if (!get_track (r, rec, &totals, error))
      return FALSE;
  if (byte_reader_remaining (r) != 0)
    BAD ("bytes follow its last track");
  rec->total_samples = totals.total_samples;
  rec->moov_table_bytes = totals.moov_table_bytes;
  rec->generation = totals.total_samples + 1;
  rec->source_size = source_size;
  return TRUE;
}

Recording *
index_cache_restore (const guint8 *data, gsize len, const IndexCacheKey *expect, const char *name,
                     IndexCacheFlags flags, GError **error)
{
  if (len < sizeof magic + CHECKSUM_LEN) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "truncated (%" G_GSIZE_FORMAT " bytes)", len);
    return NULL;
  }
  if (!(flags & INDEX_CACHE_SKIP_CHECKSUM)) {
    g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
    g_checksum_update (sum, data, len - CHECKSUM_LEN);
    guint8 digest[CHECKSUM_LEN];
    gsize digest_len = sizeof digest;
    g_checksum_get_digest (sum, digest, &digest_len);
    if (memcmp (digest, data + len - CHECKSUM_LEN, CHECKSUM_LEN) != 0) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "its checksum does not match: truncated or corrupt");
      return NULL;
    }
  }
  ByteReader r, body;
  byte_reader_init (&r, data, len - CHECKSUM_LEN);
  IndexCacheKey key = { 0 };
  KeyText text = { 0 };
  Recording *rec = NULL;
  guint64 body_len;
  const IndexerClass *indexer;
  if (!read_header (&r, &key, &text, error))
    goto out;
  if (expect && !index_cache_key_equal (&key, expect)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "stale: made from other source bytes");
    goto out;
  }
  indexer = indexer_named ((const guint8 *) key.indexer, strlen (key.indexer));
  if (!indexer) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no cacheable indexer is called '%s'", key.indexer);
    goto out;
  }
  if (!byte_reader_u64 (&r, &body_len) || !byte_reader_sub (&r, body_len, &body) || byte_reader_remaining (&r)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "its body is truncated");
    goto out;
  }
  rec = recording_new (indexer, name);
  rec->restored = TRUE;
  if (!get_body (&body, rec, key.source_size, error))
    g_clear_pointer (&rec, recording_unref);
out:
  g_free (text.indexer);
  g_free (text.path);
  return rec;
}

gboolean
index_cache_write_file (const char *path, GBytes *bytes, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", tmp, g_strerror (e));
    return FALSE;
  }
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  gsize done = 0;
  while (done < len) {
    ssize_t n = write (fd, data + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += (gsize) n;
  }
  int e = done == len ? 0 : errno ? errno : EIO;
  if (!e && fsync (fd) < 0)
    e = errno;
  if (close (fd) < 0 && !e)
    e = errno;
  if (!e && rename (tmp, path) < 0)
    e = errno;
  if (e) {
    unlink (tmp);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", path, g_strerror (e));
    return FALSE;
  }
  return TRUE;
}

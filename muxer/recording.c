/* recording.c — tracks, payload extents, snapshots; format-neutral. */
#include "recording.h"

#include <stdarg.h>
#include <string.h>

#include "fmp4.h"
#include "mkv.h"
#include "mp4.h"
#include "mp4_salvage.h"
#include "ts.h"

static const IndexerClass *const indexers[] = {
  &fmp4_indexer,
  &mkv_indexer,
  &mp4_indexer,   /* after fmp4: a moov with mvex is a fragmented recording */
  &mp4_salvage_indexer,   /* after mp4: a moov-less MP4 whose moov may still come */
  &ts_indexer,    /* last: sync bytes at a stride are the weakest signature */
};

const IndexerClass *
recording_detect (const Source *src, gboolean *need_more)
{
  *need_more = FALSE;
  guint errors = source_io_errors ();
  for (gsize i = 0; i < G_N_ELEMENTS (indexers); i++) {
    switch (indexers[i]->probe (src)) {
    case PROBE_YES:
      return indexers[i];
    case PROBE_NEED_MORE:
      *need_more = TRUE;
      break;
    case PROBE_NO:
      break;
    }
  }
  /* A probe that could not read its bytes has not decided: look again. */
  if (source_io_errors () != errors)
    *need_more = TRUE;
  return NULL;
}

char *
recording_why_not (const Source *src)
{
  return mp4_salvage_why_not (src);
}

Recording *
recording_new (const IndexerClass *indexer, const char *name)
{
  Recording *rec = g_new0 (Recording, 1);
  rec->ref = 1;
  rec->name = g_strdup (name);
  g_rw_lock_init (&rec->lock);
  g_mutex_init (&rec->feed_lock);
  g_mutex_init (&rec->problems_lock);
  rec->indexer = indexer;
  rec->state = indexer->state_new ();
  rec->tracks = g_ptr_array_new ();
  rec->extents = g_array_new (FALSE, FALSE, sizeof (Extent));
  rec->notes = g_string_new (NULL);
  return rec;
}

Recording *
recording_ref (Recording *rec)
{
  g_atomic_int_inc (&rec->ref);
  return rec;
}

static void
track_free (Track *t)
{
  g_clear_pointer (&t->media_header, g_bytes_unref);
  g_clear_pointer (&t->sample_descriptions, g_bytes_unref);
  sample_table_clear (&t->table);
  g_free (t);
}

void
recording_unref (Recording *rec)
{
  if (!rec || !g_atomic_int_dec_and_test (&rec->ref))
    return;
  rec->indexer->state_free (rec->state);
  for (guint i = 0; i < rec->tracks->len; i++)
    track_free (g_ptr_array_index (rec->tracks, i));
  g_ptr_array_unref (rec->tracks);
  g_array_unref (rec->extents);
  g_string_free (rec->notes, TRUE);
  g_clear_pointer (&rec->user_data, g_bytes_unref);
  g_free (rec->error);
  g_free (rec->io_error);
  g_free (rec->name);
  g_rw_lock_clear (&rec->lock);
  g_mutex_clear (&rec->feed_lock);
  g_mutex_clear (&rec->problems_lock);
  g_free (rec);
}

gboolean
recording_update (Recording *rec, const Source *src)
{
  g_mutex_lock (&rec->feed_lock);
  guint64 before = rec->generation;
  if (src->size < rec->source_size && !rec->restored) {
    /* Sources only grow; a shrunk one is a replaced file and the caller
     * starts a new Recording.  Never index bytes that changed under us. */
    if (!rec->failed)
      recording_fail (rec, "source shrank from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " bytes",
                      rec->source_size, src->size);
  } else if (!rec->failed && !rec->io_failed && !rec->restored &&
             (src->size > rec->source_size || (rec->indexer->rewrites_in_place && src->size > 0)) &&
             !g_atomic_int_get (&rec->finish_provisional)) {
    rec->finished = FALSE;
    guint errors = source_io_errors ();
    rec->io_errors_at_feed = errors;
    rec->indexer->feed (rec->state, rec, src);
    if (source_io_errors () != errors) {
      /* What the indexer concluded may rest on bytes it could not read (a
       * header taken as not written yet, a value as damaged): this index
       * stops here, and the caller indexes the source again in a new
       * Recording (catalog.c), the same bytes giving the same file. */
      guint64 offset;
      int err = source_last_io_error (&offset);
      g_autofree char *msg = g_strdup_printf ("cannot read the source at %" G_GUINT64_FORMAT ": %s (tried again on the "
                                              "next access)", offset, g_strerror (err));
      g_mutex_lock (&rec->problems_lock);
      g_free (rec->io_error);
      rec->io_error = g_steal_pointer (&msg);
      g_mutex_unlock (&rec->problems_lock);
      g_atomic_int_set (&rec->io_failed, TRUE);
      g_warning ("%s: %s", rec->name, rec->io_error);
    } else {
      rec->source_size = src->size;
    }
  }
  gboolean changed = rec->generation != before;
  g_mutex_unlock (&rec->feed_lock);
  return changed;
}

void
recording_finish (Recording *rec, const Source *src)
{
  g_mutex_lock (&rec->feed_lock);
  if (!rec->finished && (rec->failed || rec->io_failed)) {
    rec->finished = TRUE;   /* nothing more will be indexed: nothing to complete */
  } else if (!rec->finished && src->size == rec->source_size) {
    rec->finished = TRUE;
    if (rec->indexer->finish && rec->indexer->finish (rec->state, rec, src))
      g_atomic_int_set (&rec->finish_provisional, TRUE);
  }
  g_mutex_unlock (&rec->feed_lock);
}

gboolean
recording_finished (Recording *rec)
{
  g_mutex_lock (&rec->feed_lock);
  gboolean finished = rec->finished;
  g_mutex_unlock (&rec->feed_lock);
  return finished;
}

gboolean
recording_needs_reindex (Recording *rec, guint64 source_size)
{
  if (recording_io_failed (rec))
    return TRUE;
  if (!g_atomic_int_get (&rec->finish_provisional))
    return FALSE;
  g_mutex_lock (&rec->feed_lock);
  gboolean grown = source_size > rec->source_size;
  g_mutex_unlock (&rec->feed_lock);
  return grown;
}

void
recording_begin_append (Recording *rec)
{
  g_rw_lock_writer_lock (&rec->lock);
}

void
recording_end_append (Recording *rec)
{
  g_rw_lock_writer_unlock (&rec->lock);
}

Track *
recording_add_track (Recording *rec)
{
  if (rec->tracks->len >= RECORDING_MAX_TRACKS) {
    recording_fail (rec, "more than %d tracks", RECORDING_MAX_TRACKS);
    return NULL;
  }
  Track *t = g_new0 (Track, 1);
  t->language = 0x55c4; /* "und" */
  t->tkhd_flags = 3;
  t->matrix[0] = 0x10000;
  t->matrix[4] = 0x10000;
  t->matrix[8] = 0x40000000;
  sample_table_init (&t->table);
  g_ptr_array_add (rec->tracks, t);
  return t;
}

guint64
recording_payload_phase (Recording *rec)
{
  if (!rec->extents->len)
    return 0;
  const Extent *first = &g_array_index (rec->extents, Extent, 0);
  return (first->source_offset - first->payload_offset) % RECORDING_PAGE;
}

/* The largest run of source bytes between two samples that is carried in
 * the payload rather than starting a new extent; at least a page. */
#define EXTENT_MAX_GAP RECORDING_PAGE

/* The limits every appended sample is held to. */
static gboolean
sample_acceptable (Recording *rec, Track *track, const SampleInfo *info)
{
  if (rec->total_samples >= RECORDING_MAX_SAMPLES) {
    recording_fail (rec, "more than %u samples", RECORDING_MAX_SAMPLES);
    return FALSE;
  }
  /* One sample adds at most an entry to every table, and the first non-sync
   * one lists every sample before it in stss. */
  SampleTable *table = &track->table;
  guint64 growth = 48 + (table->all_sync && !info->sync ? 4ull * table->count : 0);
  if (rec->moov_table_bytes + growth > RECORDING_MAX_MOOV_TABLES) {
    recording_fail (rec, "its sample tables would take more than %llu MiB in the moov",
                    RECORDING_MAX_MOOV_TABLES >> 20);
    return FALSE;
  }
  /* The writer copies the index into stsc: it must name an existing entry. */
  guint32 n_desc = 0;
  gsize desc_len = 0;
  const guint8 *desc = track->sample_descriptions ? g_bytes_get_data (track->sample_descriptions, &desc_len) : NULL;
  if (desc_len >= 4)
    n_desc = (guint32) desc[0] << 24 | (guint32) desc[1] << 16 | (guint32) desc[2] << 8 | desc[3];
  if (info->description_index == 0 || info->description_index > n_desc) {
    recording_fail (rec, "track %u: sample description %u does not exist (the track has %u)", track->id,
                    info->description_index, n_desc);
    return FALSE;
  }
  return TRUE;
}

static void
append_to_table (Recording *rec, Track *track, const SampleInfo *s)
{
  SampleTable *table = &track->table;
  guint64 table_bytes = sample_table_moov_bytes (table);
  sample_table_append (table, s);
  rec->moov_table_bytes += sample_table_moov_bytes (table) - table_bytes;
  rec->total_samples++;
  rec->generation++;
}

gboolean
recording_append_produced_sample (Recording *rec, Track *track, const SampleInfo *info)
{
  if (!sample_acceptable (rec, track, info))
    return FALSE;
  if (info->size > G_MAXUINT64 - rec->payload_len) {
    recording_fail (rec, "the payload would pass 2^64 bytes");
    return FALSE;
  }
  SampleInfo s = *info;
  s.payload_offset = rec->payload_len;
  append_to_table (rec, track, &s);
  rec->payload_len += info->size;
  return TRUE;
}

void
recording_mask_source (Recording *rec, guint64 offset, guint64 len)
{
  g_return_if_fail (len <= RECORDING_MAX_MASK && offset <= G_MAXUINT64 - len);
  rec->mask_start = offset;
  rec->mask_end = offset + len;
}

/* Splits the masked source bytes out of the last extent, which just grew,
 * into an extent of zeros; the bytes after them continue at the same
 * distance from the source, so the payload keeps its page phase. */
static void
carve_mask (Recording *rec)
{
  Extent *last = &g_array_index (rec->extents, Extent, rec->extents->len - 1);
  guint64 end = last->source_offset + last->length;
  if (rec->mask_end <= rec->mask_start || last->zeros || rec->mask_start < last->source_offset ||
      rec->mask_end > end)
    return;
  Extent head = *last;
  head.length = rec->mask_start - last->source_offset;
  Extent zeros = (Extent) { rec->mask_start, head.payload_offset + head.length, rec->mask_end - rec->mask_start, TRUE };
  Extent tail = (Extent) { rec->mask_end, zeros.payload_offset + zeros.length, end - rec->mask_end, FALSE };
  g_array_set_size (rec->extents, rec->extents->len - 1);
  if (head.length)
    g_array_append_val (rec->extents, head);
  g_array_append_val (rec->extents, zeros);
  g_array_append_val (rec->extents, tail);
  rec->mask_end = rec->mask_start;   /* carved once */
}

gboolean
recording_append_sample (Recording *rec, Track *track, guint64 source_offset, const SampleInfo *info)
{
  Extent *last = rec->extents->len ? &g_array_index (rec->extents, Extent, rec->extents->len - 1) : NULL;
  guint64 last_end = last ? last->source_offset + last->length : 0;

  if (!sample_acceptable (rec, track, info))
    return FALSE;
  if (source_offset < last_end || source_offset > G_MAXUINT64 - info->size) {
    recording_fail (rec, "sample data at %" G_GUINT64_FORMAT " is out of source order", source_offset);
    return FALSE;
  }
  /* A small gap between samples (a moof, a Matroska block header) is kept
   * in the payload as bytes no sample refers to: one extent then spans many
   * fragments or frames, and a read of the virtual file is one read of the
   * source.  A later extent starts with as many of the gap's last bytes as
   * keep every extent at the same distance from the source, modulo a page,
   * so the layout can put the whole payload on the source's page boundaries.
   * The payload never holds more than the source does. */
  SampleInfo s = *info;
  guint64 gap = last ? source_offset - last_end : 0;
  if (last && gap <= EXTENT_MAX_GAP) {
    last->length += gap + info->size;
    carve_mask (rec);
  } else {
    gap = 0;
    if (info->size > 0) {
      if (last)
        gap = (source_offset - rec->payload_len - recording_payload_phase (rec)) % RECORDING_PAGE;
      g_array_append_val (rec->extents, ((Extent) { source_offset - gap, rec->payload_len, gap + info->size, FALSE }));
      carve_mask (rec);
    }
  }
  s.payload_offset = rec->payload_len + gap;
  append_to_table (rec, track, &s);
  rec->payload_len += gap + info->size;
  return TRUE;
}

void
recording_set_last_duration (Recording *rec, Track *track, guint64 duration)
{
  SampleTable *table = &track->table;
  guint32 d = (guint32) CLAMP (duration, 1, G_MAXUINT32);
  if (table->count == 0 || sample_table_last_duration (table) == d)
    return;
  rec->moov_table_bytes += (guint64) (8 * (gint64) sample_table_set_last_duration (table, d));
  rec->generation++;
}

void
recording_fail (Recording *rec, const char *format, ...)
{
  va_list ap;
  if (rec->failed)
    return;
  va_start (ap, format);
  char *error = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (source_io_errors () != rec->io_errors_at_feed) {
    /* Likely the read error's doing (recording_update): not logged as damage. */
    g_mutex_lock (&rec->problems_lock);
    rec->error = error;
    g_mutex_unlock (&rec->problems_lock);
    g_atomic_int_set (&rec->failed, TRUE);
    return;
  }
  g_mutex_lock (&rec->problems_lock);
  rec->error = error;
  g_mutex_unlock (&rec->problems_lock);
  g_atomic_int_set (&rec->failed, TRUE);
  g_warning ("%s: %s; shown up to its last complete sample", rec->name, error);
}

gboolean
recording_failed (Recording *rec)
{
  return g_atomic_int_get (&rec->failed);
}

gboolean
recording_io_failed (Recording *rec)
{
  return g_atomic_int_get (&rec->io_failed);
}

void
recording_note (Recording *rec, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_mutex_lock (&rec->problems_lock);
  gboolean known = strstr (rec->notes->str, msg) != NULL;
  if (!known)
    g_string_append_printf (rec->notes, "%s\n", msg);
  g_mutex_unlock (&rec->problems_lock);
  if (known)
    return;
  g_message ("%s: %s", rec->name, msg);
}

char *
recording_describe_problems (Recording *rec)
{
  GString *s = g_string_new (NULL);
  g_mutex_lock (&rec->problems_lock);
  if (rec->io_error)
    g_string_append_printf (s, "%s\n", rec->io_error);
  else if (rec->error)
    g_string_append_printf (s, "%s\n", rec->error);
  g_string_append (s, rec->notes->str);
  g_mutex_unlock (&rec->problems_lock);
  if (s->len && s->str[s->len - 1] == '\n')
    g_string_truncate (s, s->len - 1);
  return g_string_free (s, FALSE);
}

void
recording_finalise (Recording *rec)
{
  if (!g_atomic_int_get (&rec->finalised))
    g_info ("%s: finalised by its recorder", rec->name);
  g_atomic_int_set (&rec->finalised, TRUE);
}

gboolean
recording_finalised (Recording *rec)
{
  return g_atomic_int_get (&rec->finalised);
}

const IndexerClass *
recording_successor (Recording *rec, const Source *src)
{
  if (!recording_finalised (rec))
    return NULL;
  gboolean need_more;
  const IndexerClass *now = recording_detect (src, &need_more);
  return now != rec->indexer ? now : NULL;
}

const char *
recording_format_name (Recording *rec)
{
  return rec->indexer->name;
}

gsize
recording_memory (Recording *rec)
{
  g_rw_lock_reader_lock (&rec->lock);
  gsize total = rec->extents->len * sizeof (Extent);
  for (guint i = 0; i < rec->tracks->len; i++)
    total += sample_table_memory (&((Track *) g_ptr_array_index (rec->tracks, i))->table);
  if (rec->indexer->memory)
    total += rec->indexer->memory (rec->state);
  g_rw_lock_reader_unlock (&rec->lock);
  return total;
}

Snapshot *
recording_snapshot (Recording *rec)
{
  Snapshot *snap = g_new0 (Snapshot, 1);
  g_rw_lock_reader_lock (&rec->lock);
  snap->n_tracks = rec->tracks->len;
  snap->counts = g_new0 (guint32, MAX (snap->n_tracks, 1));
  snap->configured = g_new0 (gboolean, MAX (snap->n_tracks, 1));
  snap->pins = g_new0 (TablePin, MAX (snap->n_tracks, 1));
  for (guint i = 0; i < snap->n_tracks; i++) {
    const Track *t = g_ptr_array_index (rec->tracks, i);
    snap->counts[i] = t->table.count;
    sample_table_pin (&t->table, &snap->pins[i]);
    /* A Matroska track waits for its first frame, or is left out, with no
     * sample entry; it has no samples then. */
    snap->configured[i] = t->sample_descriptions && t->timescale;
  }
  snap->payload_len = rec->payload_len;
  snap->source_size = rec->source_size;
  snap->generation = rec->generation;
  g_rw_lock_reader_unlock (&rec->lock);
  return snap;
}

Snapshot *
snapshot_copy (const Snapshot *snap)
{
  Snapshot *c = g_memdup2 (snap, sizeof *snap);
  c->counts = g_memdup2 (snap->counts, MAX (snap->n_tracks, 1) * sizeof (guint32));
  c->configured = g_memdup2 (snap->configured, MAX (snap->n_tracks, 1) * sizeof (gboolean));
  c->pins = g_memdup2 (snap->pins, MAX (snap->n_tracks, 1) * sizeof (TablePin));
  return c;
}

void
snapshot_free (Snapshot *snap)
{
  if (!snap)
    return;
  g_free (snap->counts);
  g_free (snap->configured);
  g_free (snap->pins);
  g_free (snap);
}

gboolean
snapshot_equal (const Snapshot *a, const Snapshot *b)
{
  return a->n_tracks == b->n_tracks && a->payload_len == b->payload_len && a->generation == b->generation &&
         memcmp (a->counts, b->counts, a->n_tracks * sizeof (guint32)) == 0 &&
         memcmp (a->configured, b->configured, a->n_tracks * sizeof (gboolean)) == 0 &&
         memcmp (a->pins, b->pins, a->n_tracks * sizeof (TablePin)) == 0;
}

guint64
snapshot_samples (const Snapshot *snap)
{
  guint64 n = 0;
  for (guint i = 0; i < snap->n_tracks; i++)
    n += snap->counts[i];
  return n;
}

gboolean
recording_restored (Recording *rec)
{
  return rec->restored;
}

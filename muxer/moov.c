/* moov.c — writes the moov of a snapshot from the sample tables. */
#include "moov.h"

#include <string.h>

/* The movie timescale: 1000, as FFmpeg writes it.  Every reader in the
 * suite takes it, where a finer one (the least common multiple of the track
 * timescales, which used to be written here) made Firefox show no frame of a
 * track with an empty edit.  Edits are rounded to it (plan_track). */
#define MOVIE_TIMESCALE 1000

static guint64
rescale (guint64 v, guint64 from, guint64 to)
{
  /* v * to / from without overflow for the magnitudes met here. */
  return v / from * to + (v % from) * to / from;
}

static guint64
rescale_up (guint64 v, guint64 from, guint64 to)
{
  guint64 down = rescale (v, from, to);
  return rescale (down, to, from) < v ? down + 1 : down;
}

typedef struct {
  const Track *track;
  guint32 n;
  const TablePin *pin;
  guint64 media_duration;    /* track timescale */
  guint64 empty_edit;        /* movie timescale */
  guint64 media_start;       /* track timescale, cut from the start */
  guint64 segment;           /* movie timescale */
  gboolean edit;
} TrackPlan;

static void
plan_track (TrackPlan *p, guint32 movie_timescale)
{
  const Track *t = p->track;
  p->media_duration = p->pin->duration;
  /* A sample is presented at start + its media presentation time, where
   * start places the track's first decode time (edit_base carries the
   * source's own edit list).  Negative composition offsets are written
   * shifted up to zero (moov_tables.c), as FFmpeg's remux writes them, so
   * the track starts that much earlier in its media.  The media edit begins
   * at the first sample's presentation time, as FFmpeg's faststart remux
   * does, so a B-frame delay neither shortens the track nor moves it (8.6.6). */
  gint64 shift = -(gint64) sample_table_min_offset (&t->table, p->n);
  gint64 start = t->edit_base + (gint64) MIN (t->first_decode_time, (guint64) G_MAXINT64 / 2) - shift;
  gint64 first_offset = p->n && t->table.offsets->len ? sample_table_offset_run (&t->table, 0).offset : 0;
  first_offset += shift;
  /* A track with no sample in the snapshot has no start yet: what the
   * indexer learns of it later must not reach this snapshot. */
  if (p->n == 0)
    start = 0;
  gint64 empty = MAX (0, start + first_offset);
  /* The movie tick cannot say every delay.  An audio track's empty edit is
   * rounded up and its media starts that much later, to the nearest track
   * tick: readers skip that much of its first frame (FFmpeg as priming).
   * Any other track's would lose its first frame: FFmpeg discards a frame
   * that starts before the media edit (mov_fix_index), so its empty edit is
   * rounded to the nearest tick and the track starts at most half a tick
   * off (a qtmux video delayed 10.4 ms: edit 11 ms from media 0.8 ms, and
   * ffprobe dropped its first keyframe). */
  gint64 late = 0;
  if (t->handler == FOURCC ('s', 'o', 'u', 'n')) {
    p->empty_edit = rescale_up ((guint64) empty, t->timescale, movie_timescale);
    late = (gint64) ((rescale (p->empty_edit * 2, movie_timescale, t->timescale) + 1) / 2) - empty;
  } else {
    p->empty_edit = (rescale ((guint64) empty * 2, t->timescale, movie_timescale) + 1) / 2;
  }
  gint64 media_start = MAX (0, empty - start) + MAX (late, 0);
  p->edit = p->empty_edit != 0 || media_start != 0;
  p->media_start = (guint64) media_start;
  /* The edit runs to the latest presentation end, not the sum of
   * durations: a recording cut after a P-frame whose B-frames never came
   * shows that frame after the last decode time. */
  gint64 end = p->n ? p->pin->presentation_end + shift : 0;
  guint64 shown = end > media_start ? (guint64) (end - media_start) : 0;
  p->segment = rescale_up (shown, t->timescale, movie_timescale);
}

static void
write_matrix (ByteWriter *w, const gint32 m[9])
{
  for (int i = 0; i < 9; i++)
    byte_writer_u32 (w, (guint32) m[i]);
}

static void
write_mvhd (ByteWriter *w, guint32 timescale, guint64 duration, guint32 next_id)
{
  static const gint32 unity[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };
  gboolean v1 = duration > G_MAXUINT32;
  gsize box = box_begin_full (w, FOURCC ('m', 'v', 'h', 'd'), v1, 0);
  /* Creation and modification times stay zero: the bytes depend on the
   * source alone. */
  byte_writer_zeros (w, v1 ? 16 : 8);
  byte_writer_u32 (w, timescale);
  v1 ? byte_writer_u64 (w, duration) : byte_writer_u32 (w, (guint32) duration);
  byte_writer_u32 (w, 0x10000);   /* rate 1.0 */
  byte_writer_u16 (w, 0x100);     /* volume 1.0 */
  byte_writer_zeros (w, 10);
  write_matrix (w, unity);
  byte_writer_zeros (w, 24);
  byte_writer_u32 (w, next_id);
  box_end (w, box);
}

static void
write_tkhd (ByteWriter *w, const Track *t, guint64 duration)
{
  gboolean v1 = duration > G_MAXUINT32;
  gsize box = box_begin_full (w, FOURCC ('t', 'k', 'h', 'd'), v1, t->tkhd_flags);
  byte_writer_zeros (w, v1 ? 16 : 8);
  byte_writer_u32 (w, t->id);
  byte_writer_u32 (w, 0);
  v1 ? byte_writer_u64 (w, duration) : byte_writer_u32 (w, (guint32) duration);
  byte_writer_zeros (w, 8);
  byte_writer_u16 (w, (guint16) t->layer);
  byte_writer_u16 (w, (guint16) t->alternate_group);
  byte_writer_u16 (w, (guint16) t->volume);
  byte_writer_u16 (w, 0);
  write_matrix (w, t->matrix);
  byte_writer_u32 (w, t->width);
  byte_writer_u32 (w, t->height);
  box_end (w, box);
}

static void
write_edts (ByteWriter *w, const TrackPlan *p)
{
  gboolean v1 = p->empty_edit > G_MAXUINT32 || p->segment > G_MAXUINT32 || p->media_start > G_MAXINT32;
  gsize edts = box_begin (w, FOURCC ('e', 'd', 't', 's'));
  gsize elst = box_begin_full (w, FOURCC ('e', 'l', 's', 't'), v1, 0);
  byte_writer_u32 (w, p->empty_edit ? 2 : 1);
  if (p->empty_edit) {
    v1 ? byte_writer_u64 (w, p->empty_edit) : byte_writer_u32 (w, (guint32) p->empty_edit);
    v1 ? byte_writer_u64 (w, G_MAXUINT64) : byte_writer_u32 (w, G_MAXUINT32);   /* media_time -1 */
    byte_writer_u32 (w, 0x10000);
  }
  v1 ? byte_writer_u64 (w, p->segment) : byte_writer_u32 (w, (guint32) p->segment);
  v1 ? byte_writer_u64 (w, p->media_start) : byte_writer_u32 (w, (guint32) p->media_start);
  byte_writer_u32 (w, 0x10000);
  box_end (w, elst);
  box_end (w, edts);
}

static void
write_mdhd (ByteWriter *w, const Track *t, guint64 duration)
{
  gboolean v1 = duration > G_MAXUINT32;
  gsize box = box_begin_full (w, FOURCC ('m', 'd', 'h', 'd'), v1, 0);
  byte_writer_zeros (w, v1 ? 16 : 8);
  byte_writer_u32 (w, t->timescale);
  v1 ? byte_writer_u64 (w, duration) : byte_writer_u32 (w, (guint32) duration);
  byte_writer_u16 (w, t->language);
  byte_writer_u16 (w, 0);
  box_end (w, box);
}

static void
write_hdlr (ByteWriter *w, guint32 handler)
{
  const char *name = handler == FOURCC ('v', 'i', 'd', 'e') ? "VideoHandler"
                     : handler == FOURCC ('s', 'o', 'u', 'n') ? "SoundHandler"
                     : "DataHandler";
  gsize box = box_begin_full (w, FOURCC ('h', 'd', 'l', 'r'), 0, 0);
  byte_writer_u32 (w, 0);
  byte_writer_u32 (w, handler);
  byte_writer_zeros (w, 12);
  byte_writer_bytes (w, name, strlen (name) + 1);
  box_end (w, box);
}

static void
write_media_header (ByteWriter *w, const Track *t)
{
  if (t->media_header) {
    gsize len;
    const guint8 *data = g_bytes_get_data (t->media_header, &len);
    byte_writer_bytes (w, data, len);
    return;
  }
  gsize box;
  if (t->handler == FOURCC ('v', 'i', 'd', 'e')) {
    box = box_begin_full (w, FOURCC ('v', 'm', 'h', 'd'), 0, 1);
    byte_writer_zeros (w, 8);
  } else if (t->handler == FOURCC ('s', 'o', 'u', 'n')) {
    box = box_begin_full (w, FOURCC ('s', 'm', 'h', 'd'), 0, 0);
    byte_writer_zeros (w, 4);
  } else if (t->handler == FOURCC ('s', 'u', 'b', 't')) {
    box = box_begin_full (w, FOURCC ('s', 't', 'h', 'd'), 0, 0);
  } else {
    box = box_begin_full (w, FOURCC ('n', 'm', 'h', 'd'), 0, 0);
  }
  box_end (w, box);
}

static void
write_dinf (ByteWriter *w)
{
  gsize dinf = box_begin (w, FOURCC ('d', 'i', 'n', 'f'));
  gsize dref = box_begin_full (w, FOURCC ('d', 'r', 'e', 'f'), 0, 0);
  byte_writer_u32 (w, 1);
  box_end (w, box_begin_full (w, FOURCC ('u', 'r', 'l', ' '), 0, 1));  /* data in this file */
  box_end (w, dref);
  box_end (w, dinf);
}

static void
write_stbl (ByteWriter *w, const Track *track, guint32 n, const TablePin *pin, Moov *out)
{
  gsize stbl = box_begin (w, FOURCC ('s', 't', 'b', 'l'));
  gsize len;
  const guint8 *desc = g_bytes_get_data (track->sample_descriptions, &len);
  gsize stsd = box_begin_full (w, FOURCC ('s', 't', 's', 'd'), 0, 0);
  byte_writer_bytes (w, desc, len);
  box_end (w, stsd);
  moov_write_tables (w, &track->table, n, pin, out);
  box_end (w, stbl);
}

static void
write_trak (ByteWriter *w, const TrackPlan *p, Moov *out)
{
  const Track *t = p->track;
  gsize trak = box_begin (w, FOURCC ('t', 'r', 'a', 'k'));
  write_tkhd (w, t, p->empty_edit + p->segment);
  if (p->edit)
    write_edts (w, p);
  gsize mdia = box_begin (w, FOURCC ('m', 'd', 'i', 'a'));
  write_mdhd (w, t, p->media_duration);
  write_hdlr (w, t->handler);
  gsize minf = box_begin (w, FOURCC ('m', 'i', 'n', 'f'));
  write_media_header (w, t);
  write_dinf (w);
  write_stbl (w, t, p->n, p->pin, out);
  box_end (w, minf);
  box_end (w, mdia);
  box_end (w, trak);
}

/* The source's user data (udta, meta: title, chapters), verbatim at the end
 * of the moov; only plain MP4 sources carry it (mp4.c), and set it before
 * their first track, so a snapshot with a track always has it. */
static void
write_user_data (ByteWriter *w, const Recording *rec, const Snapshot *snap)
{
  gsize len;
  const guint8 *data = rec->user_data && snap->n_tracks ? g_bytes_get_data (rec->user_data, &len) : NULL;
  if (data)
    byte_writer_bytes (w, data, len);
}

gboolean
moov_build (Recording *rec, const Snapshot *snap, gboolean co64, ByteWriter *w, Moov *out)
{
  *out = (Moov) { 0 };
  out->tables = g_array_new (FALSE, FALSE, sizeof (MoovTable));
  out->co64 = co64;
  out->movie_timescale = MOVIE_TIMESCALE;

  g_autofree TrackPlan *plans = g_new0 (TrackPlan, MAX (snap->n_tracks, 1));
  guint32 next_id = 1;
  /* Once any track has samples every track is declared, so a growing file
   * keeps its streams and their numbers; before that there is nothing a
   * player could open, and no track is written.  A track whose sample entry
   * is not known (yet) cannot be declared. */
  gboolean any = snapshot_samples (snap) > 0;
  for (guint i = 0; i < snap->n_tracks; i++) {
    TrackPlan *p = &plans[out->n_tracks];
    if (!any)
      break;
    if (!snap->configured[i])
      continue;
    p->track = g_ptr_array_index (rec->tracks, i);
    p->n = snap->counts[i];
    p->pin = &snap->pins[i];
    plan_track (p, out->movie_timescale);
    out->duration = MAX (out->duration, p->empty_edit + p->segment);
    next_id = MAX (next_id, p->track->id + 1);
    out->n_tracks++;
  }

  gsize moov = box_begin (w, FOURCC ('m', 'o', 'o', 'v'));
  write_mvhd (w, out->movie_timescale, out->duration, next_id);
  for (guint i = 0; i < out->n_tracks; i++)
    write_trak (w, &plans[i], out);
  write_user_data (w, rec, snap);
  return box_end (w, moov);
}

gboolean
moov_relocate (Moov *moov, guint64 base)
{
  if (!moov->co64 && moov->last_chunk_offset + base > G_MAXUINT32)
    return FALSE;
  for (guint i = 0; i < moov->tables->len; i++) {
    MoovTable *t = &g_array_index (moov->tables, MoovTable, i);
    if (t->kind == MOOV_STCO || t->kind == MOOV_CO64)
      t->base = base;
  }
  return TRUE;
}

void
moov_clear (Moov *moov)
{
  g_clear_pointer (&moov->tables, g_array_unref);
}

/* The init segment's moov (segment.h).  Its tracks have no samples here:
 * the fragments carry them, with their decode times (tfdt).  The source's
 * own edit (edit_base) is kept as an empty edit, or a media edit that
 * starts later, with a duration of 0 (the rest of the media, 8.6.6). */
static void
write_init_edts (ByteWriter *w, const Track *t)
{
  if (t->edit_base == 0)
    return;
  guint64 empty = t->edit_base > 0 ? rescale_up ((guint64) t->edit_base, t->timescale, MOVIE_TIMESCALE) : 0;
  guint64 media_time = t->edit_base < 0 ? (guint64) -(t->edit_base + 1) + 1 : 0;
  gboolean v1 = empty > G_MAXUINT32 || media_time > G_MAXINT32;
  gsize edts = box_begin (w, FOURCC ('e', 'd', 't', 's'));
  gsize elst = box_begin_full (w, FOURCC ('e', 'l', 's', 't'), v1, 0);
  byte_writer_u32 (w, empty ? 2 : 1);
  if (empty) {
    v1 ? byte_writer_u64 (w, empty) : byte_writer_u32 (w, (guint32) empty);
    v1 ? byte_writer_u64 (w, G_MAXUINT64) : byte_writer_u32 (w, G_MAXUINT32);
    byte_writer_u32 (w, 0x10000);
  }
  v1 ? byte_writer_u64 (w, 0) : byte_writer_u32 (w, 0);
  v1 ? byte_writer_u64 (w, media_time) : byte_writer_u32 (w, (guint32) media_time);
  byte_writer_u32 (w, 0x10000);
  box_end (w, elst);
  box_end (w, edts);
}

static void
write_empty_tables (ByteWriter *w)
{
  static const guint32 kinds[] = { FOURCC ('s', 't', 't', 's'), FOURCC ('s', 't', 's', 'c'),
                                   FOURCC ('s', 't', 's', 'z'), FOURCC ('s', 't', 'c', 'o') };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++) {
    gsize box = box_begin_full (w, kinds[i], 0, 0);
    if (kinds[i] == FOURCC ('s', 't', 's', 'z'))
      byte_writer_u32 (w, 0);   /* sample_size */
    byte_writer_u32 (w, 0);     /* entry_count, sample_count */
    box_end (w, box);
  }
}

gboolean
moov_build_init (Recording *rec, const guint *indices, guint n, ByteWriter *w)
{
  guint32 next_id = 1;
  for (guint i = 0; i < n; i++)
    next_id = MAX (next_id, ((const Track *) g_ptr_array_index (rec->tracks, indices[i]))->id + 1);
  gsize moov = box_begin (w, FOURCC ('m', 'o', 'o', 'v'));
  write_mvhd (w, MOVIE_TIMESCALE, 0, next_id);
  for (guint i = 0; i < n; i++) {
    const Track *t = g_ptr_array_index (rec->tracks, indices[i]);
    gsize trak = box_begin (w, FOURCC ('t', 'r', 'a', 'k'));
    write_tkhd (w, t, 0);
    write_init_edts (w, t);
    gsize mdia = box_begin (w, FOURCC ('m', 'd', 'i', 'a'));
    write_mdhd (w, t, 0);
    write_hdlr (w, t->handler);
    gsize minf = box_begin (w, FOURCC ('m', 'i', 'n', 'f'));
    write_media_header (w, t);
    write_dinf (w);
    gsize stbl = box_begin (w, FOURCC ('s', 't', 'b', 'l'));
    gsize len;
    const guint8 *desc = g_bytes_get_data (t->sample_descriptions, &len);
    gsize stsd = box_begin_full (w, FOURCC ('s', 't', 's', 'd'), 0, 0);
    byte_writer_bytes (w, desc, len);
    box_end (w, stsd);
    write_empty_tables (w);
    box_end (w, stbl);
    box_end (w, minf);
    box_end (w, mdia);
    box_end (w, trak);
  }
  gsize mvex = box_begin (w, FOURCC ('m', 'v', 'e', 'x'));
  for (guint i = 0; i < n; i++) {
    const Track *t = g_ptr_array_index (rec->tracks, indices[i]);
    gsize trex = box_begin_full (w, FOURCC ('t', 'r', 'e', 'x'), 0, 0);
    byte_writer_u32 (w, t->id);
    byte_writer_u32 (w, 1);     /* default_sample_description_index */
    byte_writer_zeros (w, 12);  /* default duration, size, flags: every trun gives its own */
    box_end (w, trex);
  }
  box_end (w, mvex);
  return box_end (w, moov);
}

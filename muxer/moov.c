/* moov.c — writes the moov of a snapshot from the sample tables. */
#include "moov.h"

#include <string.h>

#include "bytes.h"

static guint64
gcd64 (guint64 a, guint64 b)
{
  while (b) {
    guint64 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* A movie timescale in which every track's start can be expressed exactly:
 * the least common multiple of the track timescales when it stays small. */
static guint32
choose_movie_timescale (Recording *rec, const Snapshot *snap)
{
  guint64 lcm = 1, largest = 1000;
  for (guint i = 0; i < snap->n_tracks; i++) {
    if (!snap->counts[i])
      continue;
    guint64 ts = ((Track *) g_ptr_array_index (rec->tracks, i))->timescale;
    largest = MAX (largest, ts);
    lcm = lcm / gcd64 (lcm, ts) * ts;
    if (lcm > G_MAXINT32)
      return (guint32) largest;
  }
  return lcm < 1000 ? (guint32) (1000 / gcd64 (1000, lcm) * lcm) : (guint32) lcm;
}

static guint64
rescale (guint64 v, guint64 from, guint64 to)
{
  /* v * to / from without overflow for the magnitudes met here. */
  return v / from * to + (v % from) * to / from;
}

typedef struct {
  const Track *track;
  guint32 n;
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
  p->media_duration = sample_table_duration (&t->table, p->n);
  /* A sample is presented at start + its media presentation time, where
   * start places the track's first decode time (edit_base carries the
   * source's own edit list).  The media edit begins at the first sample's
   * presentation time, as FFmpeg's faststart remux does, so a B-frame
   * delay neither shortens the track nor moves it (8.6.6). */
  gint64 start = t->edit_base + (gint64) MIN (t->first_decode_time, (guint64) G_MAXINT64 / 2);
  gint64 first_offset = p->n && t->table.offsets->len ? g_array_index (t->table.offsets, OffsetRun, 0).offset : 0;
  gint64 empty = MAX (0, start + first_offset);
  gint64 media_start = MAX (0, empty - start);
  empty = start + media_start;
  p->edit = empty != 0 || media_start != 0;
  p->empty_edit = rescale ((guint64) empty, t->timescale, movie_timescale);
  p->media_start = (guint64) media_start;
  gint64 end = first_offset + (gint64) p->media_duration;
  guint64 shown = end > media_start ? (guint64) (end - media_start) : 0;
  p->segment = rescale (shown, t->timescale, movie_timescale);
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

/* Reserves count fields of width bytes after an entry count and returns them. */
static guint8 *
reserve (ByteWriter *w, guint32 count, guint width)
{
  byte_writer_u32 (w, count);
  gsize at = w->buf->len;
  g_byte_array_set_size (w->buf, at + (gsize) count * width);
  return w->buf->data + at;
}

static inline void
put32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

static void
write_stts (ByteWriter *w, const SampleTable *t, guint32 n)
{
  gsize box = box_begin_full (w, FOURCC ('s', 't', 't', 's'), 0, 0);
  gsize count_at = w->buf->len;
  guint32 entries = 0;
  byte_writer_u32 (w, 0);
  for (guint i = 0; i < t->durations->len && n > 0; i++, entries++) {
    const DurationRun *d = &g_array_index (t->durations, DurationRun, i);
    guint32 c = MIN (d->count, n);
    byte_writer_u32 (w, c);
    byte_writer_u32 (w, d->delta);
    n -= c;
  }
  byte_writer_put_u32_at (w, count_at, entries);
  box_end (w, box);
}

static void
write_ctts (ByteWriter *w, const SampleTable *t, guint32 n, gboolean negative)
{
  guint32 entries = 0, left = n;
  for (guint i = 0; i < t->offsets->len && left > 0; i++, entries++)
    left -= MIN (g_array_index (t->offsets, OffsetRun, i).count, left);
  gsize box = box_begin_full (w, FOURCC ('c', 't', 't', 's'), negative ? 1 : 0, 0);
  guint8 *p = reserve (w, entries, 8);
  left = n;
  for (guint32 i = 0; i < entries; i++, p += 8) {
    const OffsetRun *o = &g_array_index (t->offsets, OffsetRun, i);
    guint32 c = MIN (o->count, left);
    put32 (p, c);
    put32 (p + 4, (guint32) o->offset);
    left -= c;
  }
  box_end (w, box);
}

static void
write_stss (ByteWriter *w, const SampleTable *t, guint32 sync_count)
{
  gsize box = box_begin_full (w, FOURCC ('s', 't', 's', 's'), 0, 0);
  guint8 *p = reserve (w, sync_count, 4);
  for (guint32 i = 0; i < sync_count; i++)
    put32 (p + 4 * i, g_array_index (t->syncs, guint32, i) + 1);
  box_end (w, box);
}

static void
write_stsz (ByteWriter *w, const SampleTable *t, guint32 n)
{
  guint32 constant = sample_table_constant_size (t, n);
  gsize box = box_begin_full (w, FOURCC ('s', 't', 's', 'z'), 0, 0);
  byte_writer_u32 (w, constant);
  if (constant) {
    byte_writer_u32 (w, n);
  } else {
    guint8 *p = reserve (w, n, 4);
    const guint32 *sizes = (const guint32 *) t->sizes->data;
    for (guint32 i = 0; i < n; i++)
      put32 (p + 4 * i, sizes[i]);
  }
  box_end (w, box);
}

static guint32
chunk_samples (const SampleTable *t, guint32 i, guint32 n)
{
  const Chunk *c = &g_array_index (t->chunks, Chunk, i);
  return MIN (c->count, n - c->first_sample);
}

static void
write_stsc (ByteWriter *w, const SampleTable *t, guint32 n, guint32 n_chunks)
{
  gsize box = box_begin_full (w, FOURCC ('s', 't', 's', 'c'), 0, 0);
  gsize count_at = w->buf->len;
  guint32 entries = 0, prev_count = 0, prev_sdi = 0;
  byte_writer_u32 (w, 0);
  for (guint32 i = 0; i < n_chunks; i++) {
    guint32 count = chunk_samples (t, i, n);
    guint32 sdi = g_array_index (t->chunks, Chunk, i).description_index;
    if (i > 0 && count == prev_count && sdi == prev_sdi)
      continue;
    byte_writer_u32 (w, i + 1);
    byte_writer_u32 (w, count);
    byte_writer_u32 (w, sdi);
    prev_count = count;
    prev_sdi = sdi;
    entries++;
  }
  byte_writer_put_u32_at (w, count_at, entries);
  box_end (w, box);
}

static void
write_chunk_offsets (ByteWriter *w, const SampleTable *t, guint32 n_chunks, Moov *out)
{
  gsize box = box_begin_full (w, out->co64 ? FOURCC ('c', 'o', '6', '4') : FOURCC ('s', 't', 'c', 'o'), 0, 0);
  byte_writer_u32 (w, n_chunks);
  for (guint32 i = 0; i < n_chunks; i++) {
    guint64 off = g_array_index (t->chunks, Chunk, i).payload_offset;
    gsize at = w->buf->len;
    g_array_append_val (out->offset_fields, at);
    /* A payload offset past 4 GiB saturates, so moov_relocate() sees that it
     * no longer fits stco instead of relocating a wrapped value. */
    out->co64 ? byte_writer_u64 (w, off) : byte_writer_u32 (w, (guint32) MIN (off, G_MAXUINT32));
  }
  box_end (w, box);
}

static void
write_stbl (ByteWriter *w, const Track *track, guint32 n, Moov *out)
{
  const SampleTable *t = &track->table;
  gsize stbl = box_begin (w, FOURCC ('s', 't', 'b', 'l'));

  gsize len;
  const guint8 *desc = g_bytes_get_data (track->sample_descriptions, &len);
  gsize stsd = box_begin_full (w, FOURCC ('s', 't', 's', 'd'), 0, 0);
  byte_writer_bytes (w, desc, len);
  box_end (w, stsd);

  write_stts (w, t, n);
  gboolean negative;
  if (sample_table_has_offsets (t, n, &negative))
    write_ctts (w, t, n, negative);
  guint32 syncs = sample_table_sync_count (t, n);
  if (syncs < n)
    write_stss (w, t, syncs);
  write_stsz (w, t, n);
  guint32 n_chunks = sample_table_chunk_count (t, n);
  write_stsc (w, t, n, n_chunks);
  write_chunk_offsets (w, t, n_chunks, out);
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
  write_stbl (w, t, p->n, out);
  box_end (w, minf);
  box_end (w, mdia);
  box_end (w, trak);
}

void
moov_build (Recording *rec, const Snapshot *snap, gboolean co64, Moov *out)
{
  ByteWriter w;
  byte_writer_init (&w);
  *out = (Moov) { 0 };
  out->offset_fields = g_array_new (FALSE, FALSE, sizeof (gsize));
  out->co64 = co64;
  out->movie_timescale = choose_movie_timescale (rec, snap);

  g_autofree TrackPlan *plans = g_new0 (TrackPlan, MAX (snap->n_tracks, 1));
  guint32 next_id = 1;
  /* Once any track has samples every track is declared, so a growing file
   * keeps its streams and their numbers; before that there is nothing a
   * player could open, and no track is written. */
  gboolean any = snapshot_samples (snap) > 0;
  for (guint i = 0; i < snap->n_tracks; i++) {
    TrackPlan *p = &plans[out->n_tracks];
    if (!any)
      break;
    p->track = g_ptr_array_index (rec->tracks, i);
    p->n = snap->counts[i];
    plan_track (p, out->movie_timescale);
    out->duration = MAX (out->duration, p->empty_edit + p->segment);
    next_id = MAX (next_id, p->track->id + 1);
    out->n_tracks++;
  }

  gsize moov = box_begin (&w, FOURCC ('m', 'o', 'o', 'v'));
  write_mvhd (&w, out->movie_timescale, out->duration, next_id);
  for (guint i = 0; i < out->n_tracks; i++)
    write_trak (&w, &plans[i], out);
  box_end (&w, moov);
  out->bytes = w.buf;
}

gboolean
moov_relocate (Moov *moov, guint64 base)
{
  for (guint i = 0; i < moov->offset_fields->len; i++) {
    gsize at = g_array_index (moov->offset_fields, gsize, i);
    const guint8 *p = moov->bytes->data + at;
    ByteReader r;
    guint64 v;
    byte_reader_init (&r, p, moov->co64 ? 8 : 4);
    byte_reader_uint_n (&r, moov->co64 ? 8 : 4, &v);
    v += base;
    if (!moov->co64 && v > G_MAXUINT32)
      return FALSE;
    ByteWriter w = { moov->bytes };
    moov->co64 ? byte_writer_put_u64_at (&w, at, v) : byte_writer_put_u32_at (&w, at, (guint32) v);
  }
  return TRUE;
}

void
moov_clear (Moov *moov)
{
  g_clear_pointer (&moov->bytes, g_byte_array_unref);
  g_clear_pointer (&moov->offset_fields, g_array_unref);
}

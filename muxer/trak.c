/* trak.c — a moov's trak as a Track: the boxes, tkhd, mdhd, hdlr, stsd and
 * the edit list (8.3-8.6). */
#include "trak.h"

static gboolean
parse_tkhd (ByteReader r, Track *t)
{
  guint8 version;
  guint32 flags, id;
  guint16 layer, group, volume;
  if (!full_box_header_read (&r, &version, &flags))
    return FALSE;
  if (!byte_reader_skip (&r, version == 1 ? 16 : 8) || !byte_reader_u32 (&r, &id) ||
      !byte_reader_skip (&r, 4 + (version == 1 ? 8 : 4) + 8) ||
      !byte_reader_u16 (&r, &layer) || !byte_reader_u16 (&r, &group) ||
      !byte_reader_u16 (&r, &volume) || !byte_reader_skip (&r, 2))
    return FALSE;
  for (int i = 0; i < 9; i++) {
    guint32 m;
    if (!byte_reader_u32 (&r, &m))
      return FALSE;
    t->matrix[i] = (gint32) m;
  }
  if (!byte_reader_u32 (&r, &t->width) || !byte_reader_u32 (&r, &t->height))
    return FALSE;
  t->id = id;
  t->tkhd_flags = (flags & 0xf) | 1;   /* shown tracks are enabled */
  t->layer = (gint16) layer;
  t->alternate_group = (gint16) group;
  t->volume = (gint16) volume;
  return id != 0;
}

static gboolean
parse_mdhd (ByteReader r, Track *t)
{
  guint8 version;
  guint32 flags;
  if (!full_box_header_read (&r, &version, &flags) || !byte_reader_skip (&r, version == 1 ? 16 : 8) ||
      !byte_reader_u32 (&r, &t->timescale) || !byte_reader_skip (&r, version == 1 ? 8 : 4) ||
      !byte_reader_u16 (&r, &t->language))
    return FALSE;
  return t->timescale != 0;
}

/* Converts the source edit list to the presentation time of decode time 0:
 * leading empty edits delay the track, the first media edit's media_time
 * is cut from its start (8.6.6).  *media_end is where that edit ends in the
 * media, when it is the last edit (else it stays G_MAXUINT64). */
static void
parse_elst (ByteReader r, guint32 movie_timescale, Track *t, guint64 *media_end)
{
  guint8 version;
  guint32 flags, count;
  guint64 empty = 0;
  if (!full_box_header_read (&r, &version, &flags) || !byte_reader_u32 (&r, &count))
    return;
  for (guint32 i = 0; i < count; i++) {
    guint64 duration, media_time;
    if (!byte_reader_uint_n (&r, version == 1 ? 8 : 4, &duration) ||
        !byte_reader_uint_n (&r, version == 1 ? 8 : 4, &media_time) || !byte_reader_skip (&r, 4))
      return;
    gint64 mt = version == 1 ? (gint64) media_time : (gint64) (gint32) media_time;
    if (mt == -1) {
      if (duration < G_MAXUINT32 * 64ull)
        empty += duration;
      continue;
    }
    if (mt < 0 || movie_timescale == 0)
      return;
    guint64 empty_media = g_uint64_checked_mul (&empty, empty, t->timescale) ? empty / movie_timescale : 0;
    t->edit_base = (gint64) empty_media - mt;
    guint64 shown;
    if (i + 1 == count && duration > 0 && g_uint64_checked_mul (&shown, duration, t->timescale) &&
        shown <= G_MAXUINT64 - movie_timescale)
      *media_end = (guint64) mt + (shown + movie_timescale / 2) / movie_timescale;
    return;
  }
}

gboolean
trak_movie_timescale (ByteReader moov, guint32 *timescale)
{
  ByteReader mvhd;
  guint8 version;
  guint32 flags;
  *timescale = 0;
  return box_find_child (moov, FOURCC ('m', 'v', 'h', 'd'), &mvhd) && full_box_header_read (&mvhd, &version, &flags) &&
         byte_reader_skip (&mvhd, version == 1 ? 16 : 8) && byte_reader_u32 (&mvhd, timescale);
}

gboolean
trak_find_boxes (ByteReader trak, TrakBoxes *out)
{
  ByteReader mdia;
  return box_find_child (trak, FOURCC ('t', 'k', 'h', 'd'), &out->tkhd) &&
         box_find_child (trak, FOURCC ('m', 'd', 'i', 'a'), &mdia) &&
         box_find_child (mdia, FOURCC ('m', 'd', 'h', 'd'), &out->mdhd) &&
         box_find_child (mdia, FOURCC ('h', 'd', 'l', 'r'), &out->hdlr) &&
         box_find_child (mdia, FOURCC ('m', 'i', 'n', 'f'), &out->minf) &&
         box_find_child (out->minf, FOURCC ('s', 't', 'b', 'l'), &out->stbl) &&
         box_find_child (out->stbl, FOURCC ('s', 't', 's', 'd'), &out->stsd);
}

gboolean
trak_describe (ByteReader trak, const TrakBoxes *boxes, guint32 movie_timescale, Recording *rec, Track *out,
               guint64 *edit_end)
{
  ByteReader hdlr = boxes->hdlr, stsd = boxes->stsd, edts, elst;
  guint32 handler, stsd_count;
  guint64 end = G_MAXUINT64;
  *out = (Track) { 0 };
  if (!byte_reader_skip (&hdlr, 8) || !byte_reader_u32 (&hdlr, &handler) ||
      !byte_reader_skip (&stsd, 4) || byte_reader_remaining (&stsd) < 16) {
    recording_note (rec, "a track with a malformed hdlr or stsd is left out");
    return FALSE;
  }
  if (!byte_reader_u32 (&stsd, &stsd_count) || stsd_count == 0 ||
      !byte_reader_skip (&stsd, 4) || !byte_reader_u32 (&stsd, &out->codec)) {
    recording_note (rec, "a track with no sample description is left out");
    return FALSE;
  }
  if (!parse_tkhd (boxes->tkhd, out) || !parse_mdhd (boxes->mdhd, out)) {
    recording_note (rec, "a track with a malformed tkhd or mdhd is left out");
    return FALSE;
  }
  if (box_find_child (trak, FOURCC ('e', 'd', 't', 's'), &edts) &&
      box_find_child (edts, FOURCC ('e', 'l', 's', 't'), &elst))
    parse_elst (elst, movie_timescale, out, &end);
  out->handler = handler;
  if (edit_end)
    *edit_end = end;
  return TRUE;
}

Track *
trak_add_track (Recording *rec, const Track *desc, const TrakBoxes *boxes, GBytes *sample_descriptions)
{
  recording_begin_append (rec);
  Track *t = recording_add_track (rec);
  if (t) {
    SampleTable table = t->table;
    *t = *desc;
    t->table = table;
    t->sample_descriptions = g_bytes_ref (sample_descriptions);
    /* The media header (vmhd, smhd, sthd, nmhd, ...) is the first box of minf. */
    BoxHeader h;
    ByteReader body, m = boxes->minf;
    gsize start = m.pos;
    if (byte_reader_box (&m, &h, &body) && h.type != FOURCC ('d', 'i', 'n', 'f') &&
        h.type != FOURCC ('s', 't', 'b', 'l'))
      t->media_header = g_bytes_new (boxes->minf.data + start, h.size);
  }
  recording_end_append (rec);
  g_bytes_unref (sample_descriptions);
  return t;
}

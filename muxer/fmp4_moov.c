/* fmp4_moov.c — the init segment of a fragmented MP4: tracks from each trak
 * (tkhd, mdhd, hdlr, media header, stsd, edit list), trex defaults from mvex,
 * and the samples of an init segment that carries its first fragment. */
#include "fmp4_private.h"

#include "stbl.h"

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
 * is cut from its start (8.6.6). */
static void
parse_elst (ByteReader r, guint32 movie_timescale, Track *t)
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
    return;
  }
}

static gboolean
is_empty_table (ByteReader stbl, guint32 type, gsize count_offset)
{
  ByteReader b;
  guint32 count;
  if (!box_find_child (stbl, type, &b))
    return TRUE;
  return !(byte_reader_skip (&b, count_offset) && byte_reader_u32 (&b, &count)) || count == 0;
}

static gboolean
parse_trak (Fmp4State *st, Recording *rec, ByteReader trak, guint32 movie_timescale)
{
  ByteReader tkhd, mdia, mdhd, hdlr, minf, stbl, stsd, edts, elst;
  Track tmp = { 0 };

  if (!box_find_child (trak, FOURCC ('t', 'k', 'h', 'd'), &tkhd) ||
      !box_find_child (trak, FOURCC ('m', 'd', 'i', 'a'), &mdia) ||
      !box_find_child (mdia, FOURCC ('m', 'd', 'h', 'd'), &mdhd) ||
      !box_find_child (mdia, FOURCC ('h', 'd', 'l', 'r'), &hdlr) ||
      !box_find_child (mdia, FOURCC ('m', 'i', 'n', 'f'), &minf) ||
      !box_find_child (minf, FOURCC ('s', 't', 'b', 'l'), &stbl) ||
      !box_find_child (stbl, FOURCC ('s', 't', 's', 'd'), &stsd)) {
    recording_note (rec, "a track without tkhd, mdhd, hdlr or stsd is left out");
    return TRUE;
  }
  /* An init segment may carry the first fragment itself. */
  g_array_set_size (st->moov_samples, 0);
  const char *why = NULL;
  if ((!is_empty_table (stbl, FOURCC ('s', 't', 's', 'z'), 8) ||
       !is_empty_table (stbl, FOURCC ('s', 't', 't', 's'), 4)) &&
      !stbl_read_samples (stbl, MAX_SAMPLES_PER_MOOF, st->moov_samples, &why)) {
    recording_fail (rec, "the init segment's sample table: %s", why);
    return FALSE;
  }
  guint32 handler, stsd_count;
  const guint8 *stsd_bytes;
  if (!byte_reader_skip (&hdlr, 8) || !byte_reader_u32 (&hdlr, &handler) ||
      !byte_reader_skip (&stsd, 4) || byte_reader_remaining (&stsd) < 16) {
    recording_note (rec, "a track with a malformed hdlr or stsd is left out");
    return TRUE;
  }
  ByteReader entries = stsd;
  if (!byte_reader_u32 (&entries, &stsd_count) || stsd_count == 0 ||
      !byte_reader_skip (&entries, 4) || !byte_reader_u32 (&entries, &tmp.codec)) {
    recording_note (rec, "a track with no sample description is left out");
    return TRUE;
  }
  if (!parse_tkhd (tkhd, &tmp) || !parse_mdhd (mdhd, &tmp)) {
    recording_note (rec, "a track with a malformed tkhd or mdhd is left out");
    return TRUE;
  }
  if (box_find_child (trak, FOURCC ('e', 'd', 't', 's'), &edts) &&
      box_find_child (edts, FOURCC ('e', 'l', 's', 't'), &elst))
    parse_elst (elst, movie_timescale, &tmp);

  for (guint i = 0; i < st->tracks->len; i++)
    if (g_array_index (st->tracks, Fmp4Track, i).id == tmp.id) {
      recording_note (rec, "a second track with ID %u is left out", tmp.id);
      return TRUE;
    }

  recording_begin_append (rec);
  Track *t = recording_add_track (rec);
  if (t) {
    SampleTable table = t->table;
    *t = tmp;
    t->table = table;
    t->handler = handler;
    byte_reader_bytes (&stsd, byte_reader_remaining (&stsd), &stsd_bytes);
    t->sample_descriptions = g_bytes_new (stsd_bytes, stsd.len);
    /* The media header (vmhd, smhd, sthd, nmhd, ...) is the first box of minf. */
    BoxHeader h;
    ByteReader body, m = minf;
    gsize start = m.pos;
    if (byte_reader_box (&m, &h, &body) && h.type != FOURCC ('d', 'i', 'n', 'f') &&
        h.type != FOURCC ('s', 't', 'b', 'l'))
      t->media_header = g_bytes_new (minf.data + start, h.size);
  }
  recording_end_append (rec);
  if (!t)
    return FALSE;
  Fmp4Track ft = { .id = t->id, .track = t, .default_description_index = 1 };
  if (st->moov_samples->len) {
    /* The moov's samples start at decode time 0; fragments continue them. */
    ft.started = TRUE;
    for (guint i = 0; i < st->moov_samples->len; i++)
      ft.next_decode_time += g_array_index (st->moov_samples, StblSample, i).info.duration;
    ft.last_duration = g_array_index (st->moov_samples, StblSample, st->moov_samples->len - 1).info.duration;
  }
  g_array_append_val (st->tracks, ft);
  for (guint i = 0; i < st->moov_samples->len; i++) {
    StblSample *s = &g_array_index (st->moov_samples, StblSample, i);
    /* The track pointer is set once every track is in (the array may move). */
    PendingSample ps = { .source_offset = s->source_offset, .track = GUINT_TO_POINTER (st->tracks->len), .info = s->info };
    g_array_append_val (st->pending, ps);
  }
  return TRUE;
}

gboolean
fmp4_parse_moov (Fmp4State *st, Recording *rec, ByteReader moov)
{
  ByteReader mvhd, mvex, b;
  BoxHeader h;
  guint8 version;
  guint32 flags, movie_timescale = 0;

  if (!box_find_child (moov, FOURCC ('m', 'v', 'h', 'd'), &mvhd) || !full_box_header_read (&mvhd, &version, &flags) ||
      !byte_reader_skip (&mvhd, version == 1 ? 16 : 8) || !byte_reader_u32 (&mvhd, &movie_timescale))
    recording_note (rec, "moov has no usable mvhd; edit lists are ignored");

  ByteReader r = moov;
  while (byte_reader_remaining (&r) > 0) {
    if (!byte_reader_box (&r, &h, &b)) {
      recording_fail (rec, "malformed box inside moov");
      return FALSE;
    }
    if (h.type == FOURCC ('t', 'r', 'a', 'k') && !parse_trak (st, rec, b, movie_timescale))
      return FALSE;
  }
  if (!box_find_child (moov, FOURCC ('m', 'v', 'e', 'x'), &mvex)) {
    recording_fail (rec, "moov has no mvex: not a fragmented recording");
    return FALSE;
  }
  for (guint i = 0; i < st->pending->len; i++) {
    PendingSample *ps = &g_array_index (st->pending, PendingSample, i);
    ps->track = &g_array_index (st->tracks, Fmp4Track, GPOINTER_TO_UINT (ps->track) - 1);
  }
  if (!fmp4_sort_pending (st, 0)) {
    recording_fail (rec, "the moov's samples have overlapping data");
    return FALSE;
  }
  r = mvex;
  while (byte_reader_remaining (&r) > 0) {
    guint32 id, sdi, duration, size, sflags;
    if (!byte_reader_box (&r, &h, &b))
      break;
    if (h.type != FOURCC ('t', 'r', 'e', 'x'))
      continue;
    if (!full_box_header_read (&b, &version, &flags) || !byte_reader_u32 (&b, &id) ||
        !byte_reader_u32 (&b, &sdi) || !byte_reader_u32 (&b, &duration) ||
        !byte_reader_u32 (&b, &size) || !byte_reader_u32 (&b, &sflags))
      continue;
    Fmp4Track defaults = { .id = id, .default_description_index = sdi, .default_duration = duration,
                           .default_size = size, .default_flags = sflags };
    Fmp4Track *ft = fmp4_find_track (st, id);
    if (ft) {
      ft->default_description_index = sdi;
      ft->default_duration = duration;
      ft->default_size = size;
      ft->default_flags = sflags;
    } else if (st->hidden_trex->len < RECORDING_MAX_TRACKS) {
      g_array_append_val (st->hidden_trex, defaults);
    }
  }
  if (st->tracks->len == 0) {
    recording_fail (rec, "no track can be shown");
    return FALSE;
  }
  return TRUE;
}


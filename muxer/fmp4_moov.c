/* fmp4_moov.c — the init segment of a fragmented MP4: tracks from each trak
 * (tkhd, mdhd, hdlr, media header, stsd, edit list), trex defaults from mvex,
 * and the samples of an init segment that carries its first fragment. */
#include "fmp4_private.h"

#include "stbl.h"
#include "trak.h"

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
  TrakBoxes boxes;
  Track tmp;

  if (!trak_find_boxes (trak, &boxes)) {
    recording_note (rec, "a track without tkhd, mdhd, hdlr or stsd is left out");
    return TRUE;
  }
  ByteReader stbl = boxes.stbl;
  /* An init segment may carry the first fragment itself. */
  g_array_set_size (st->moov_samples, 0);
  const char *why = NULL;
  if ((!is_empty_table (stbl, FOURCC ('s', 't', 's', 'z'), 8) ||
       !is_empty_table (stbl, FOURCC ('s', 't', 't', 's'), 4)) &&
      !stbl_read_samples (stbl, MAX_SAMPLES_PER_MOOF, st->moov_samples, &why)) {
    recording_fail (rec, "the init segment's sample table: %s", why);
    return FALSE;
  }
  if (!trak_describe (trak, &boxes, movie_timescale, rec, &tmp, NULL))
    return TRUE;

  for (guint i = 0; i < st->tracks->len; i++)
    if (g_array_index (st->tracks, Fmp4Track, i).id == tmp.id) {
      recording_note (rec, "a second track with ID %u is left out", tmp.id);
      return TRUE;
    }

  /* The stsd body after its version and flags: entry_count and entries. */
  ByteReader stsd = boxes.stsd;
  const guint8 *stsd_bytes;
  byte_reader_skip (&stsd, 4);
  gsize stsd_len = byte_reader_remaining (&stsd);
  byte_reader_bytes (&stsd, stsd_len, &stsd_bytes);
  Track *t = trak_add_track (rec, &tmp, &boxes, g_bytes_new (stsd_bytes, stsd_len));
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
  ByteReader mvex, b;
  BoxHeader h;
  guint8 version;
  guint32 flags, movie_timescale;

  if (!trak_movie_timescale (moov, &movie_timescale))
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


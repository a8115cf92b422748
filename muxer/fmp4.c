/* fmp4.c — fragmented MP4 indexer. */
#include "fmp4.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "stbl.h"

#define MAX_SAMPLES_PER_MOOF (1u << 20)
/* Samples a moof may hold beyond one per byte of moof and payload. */
#define MOOF_FREE_SAMPLES 4096

/* tfhd flags (8.8.7.1) */
#define TFHD_BASE_DATA_OFFSET 0x000001u
#define TFHD_DESCRIPTION_INDEX 0x000002u
#define TFHD_DEFAULT_DURATION 0x000008u
#define TFHD_DEFAULT_SIZE 0x000010u
#define TFHD_DEFAULT_FLAGS 0x000020u
#define TFHD_DURATION_IS_EMPTY 0x010000u
#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000u
/* trun flags (8.8.8.1) */
#define TRUN_DATA_OFFSET 0x000001u
#define TRUN_FIRST_FLAGS 0x000004u
#define TRUN_DURATION 0x000100u
#define TRUN_SIZE 0x000200u
#define TRUN_FLAGS 0x000400u
#define TRUN_COMPOSITION 0x000800u

typedef struct {
  guint32 id;
  Track *track;
  guint32 default_description_index;
  guint32 default_duration;
  guint32 default_size;
  guint32 default_flags;
  gboolean started;              /* the first sample has been parsed */
  guint64 next_decode_time;
} Fmp4Track;

typedef struct {
  guint64 source_offset;
  Fmp4Track *track;
  SampleInfo info;
} PendingSample;

typedef enum { PHASE_HEAD, PHASE_FRAGMENTS, PHASE_TAIL } Phase;

typedef struct {
  Phase phase;
  guint64 pos;                   /* next top-level box */
  GArray *tracks;                /* Fmp4Track */
  GArray *hidden_trex;           /* Fmp4Track (track NULL): trex of tracks not shown */
  GArray *pending;               /* PendingSample, in source order */
  guint pending_done;
  gboolean warned_unknown_track;
  GArray *moov_samples;          /* StblSample of the track being parsed */
} Fmp4State;

static gpointer
fmp4_state_new (void)
{
  Fmp4State *st = g_new0 (Fmp4State, 1);
  st->tracks = g_array_new (FALSE, TRUE, sizeof (Fmp4Track));
  st->hidden_trex = g_array_new (FALSE, TRUE, sizeof (Fmp4Track));
  st->pending = g_array_new (FALSE, FALSE, sizeof (PendingSample));
  st->moov_samples = g_array_new (FALSE, FALSE, sizeof (StblSample));
  return st;
}

static void
fmp4_state_free (gpointer data)
{
  Fmp4State *st = data;
  g_array_unref (st->tracks);
  g_array_unref (st->hidden_trex);
  g_array_unref (st->pending);
  g_array_unref (st->moov_samples);
  g_free (st);
}

static gboolean
fourcc_is_printable (guint32 type)
{
  for (int i = 0; i < 4; i++) {
    guint8 c = type >> (24 - 8 * i);
    if (c < 0x20 || c > 0x7e)
      return FALSE;
  }
  return TRUE;
}

/* Reads the top-level box header at pos.  Returns FALSE if the header is not
 * all on disk yet; *damaged is set if it can never be valid. */
static gboolean
read_top_header (const Source *src, guint64 pos, BoxHeader *hdr, gboolean *damaged)
{
  guint8 buf[16];
  *damaged = FALSE;
  if (pos >= src->size || src->size - pos < 8)
    return FALSE;
  gsize avail = MIN (src->size - pos, sizeof buf);
  if (!source_read (src, pos, buf, avail))
    return FALSE;
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  guint32 size32 = (guint32) buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
  if (size32 == 1 && avail < 16)
    return FALSE;
  if (size32 == 0) {
    /* Extends to the end of the file: only the last mdat does that. */
    hdr->type = (guint32) buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7];
    hdr->size = 0;
    hdr->header_size = 8;
    *damaged = !fourcc_is_printable (hdr->type);
    return !*damaged;
  }
  if (!box_header_read (&r, hdr) || !fourcc_is_printable (hdr->type) ||
      hdr->size > G_MAXUINT64 - pos) {
    *damaged = TRUE;
    return FALSE;
  }
  return TRUE;
}

/* ---- init segment -------------------------------------------------------- */

typedef struct {
  guint32 movie_timescale;
} MoovInfo;

static gboolean
find_child (ByteReader parent, guint32 type, ByteReader *body)
{
  BoxHeader h;
  ByteReader b;
  while (byte_reader_remaining (&parent) > 0) {
    if (!byte_reader_box (&parent, &h, &b))
      return FALSE;
    if (h.type == type) {
      *body = b;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
read_full_header (ByteReader *r, guint8 *version, guint32 *flags)
{
  return byte_reader_u8 (r, version) && byte_reader_u24 (r, flags);
}

static gboolean
parse_tkhd (ByteReader r, Track *t)
{
  guint8 version;
  guint32 flags, id;
  guint16 layer, group, volume;
  if (!read_full_header (&r, &version, &flags))
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
  if (!read_full_header (&r, &version, &flags) || !byte_reader_skip (&r, version == 1 ? 16 : 8) ||
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
  if (!read_full_header (&r, &version, &flags) || !byte_reader_u32 (&r, &count))
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
  if (!find_child (stbl, type, &b))
    return TRUE;
  return !(byte_reader_skip (&b, count_offset) && byte_reader_u32 (&b, &count)) || count == 0;
}

static gboolean
parse_trak (Fmp4State *st, Recording *rec, ByteReader trak, guint32 movie_timescale)
{
  ByteReader tkhd, mdia, mdhd, hdlr, minf, stbl, stsd, edts, elst;
  Track tmp = { 0 };

  if (!find_child (trak, FOURCC ('t', 'k', 'h', 'd'), &tkhd) ||
      !find_child (trak, FOURCC ('m', 'd', 'i', 'a'), &mdia) ||
      !find_child (mdia, FOURCC ('m', 'd', 'h', 'd'), &mdhd) ||
      !find_child (mdia, FOURCC ('h', 'd', 'l', 'r'), &hdlr) ||
      !find_child (mdia, FOURCC ('m', 'i', 'n', 'f'), &minf) ||
      !find_child (minf, FOURCC ('s', 't', 'b', 'l'), &stbl) ||
      !find_child (stbl, FOURCC ('s', 't', 's', 'd'), &stsd)) {
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
  if (find_child (trak, FOURCC ('e', 'd', 't', 's'), &edts) &&
      find_child (edts, FOURCC ('e', 'l', 's', 't'), &elst))
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

static Fmp4Track *
find_track (Fmp4State *st, guint32 id)
{
  for (guint i = 0; i < st->tracks->len; i++)
    if (g_array_index (st->tracks, Fmp4Track, i).id == id)
      return &g_array_index (st->tracks, Fmp4Track, i);
  return NULL;
}

static gint
compare_pending (gconstpointer a, gconstpointer b)
{
  const PendingSample *x = a, *y = b;
  return x->source_offset < y->source_offset ? -1 : x->source_offset > y->source_offset;
}

/* Sorts samples by their data offset (payload order is source order) and
 * queues them behind the pending ones; overlapping data is damage. */
static gboolean
queue_in_source_order (Fmp4State *st, Recording *rec, GArray *samples, const char *where)
{
  g_array_sort (samples, compare_pending);   /* stable */
  for (guint i = 1; i < samples->len; i++) {
    PendingSample *p = &g_array_index (samples, PendingSample, i - 1);
    if (p->source_offset + p->info.size > g_array_index (samples, PendingSample, i).source_offset) {
      recording_fail (rec, "%s has overlapping sample data", where);
      return FALSE;
    }
  }
  g_array_append_vals (st->pending, samples->data, samples->len);
  return TRUE;
}

static gboolean
parse_moov (Fmp4State *st, Recording *rec, ByteReader moov)
{
  ByteReader mvhd, mvex, b;
  BoxHeader h;
  guint8 version;
  guint32 flags, movie_timescale = 0;

  if (!find_child (moov, FOURCC ('m', 'v', 'h', 'd'), &mvhd) || !read_full_header (&mvhd, &version, &flags) ||
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
  if (!find_child (moov, FOURCC ('m', 'v', 'e', 'x'), &mvex)) {
    recording_fail (rec, "moov has no mvex: not a fragmented recording");
    return FALSE;
  }
  for (guint i = 0; i < st->pending->len; i++) {
    PendingSample *ps = &g_array_index (st->pending, PendingSample, i);
    ps->track = &g_array_index (st->tracks, Fmp4Track, GPOINTER_TO_UINT (ps->track) - 1);
  }
  g_autoptr (GArray) samples = g_array_copy (st->pending);
  g_array_set_size (st->pending, 0);
  if (!queue_in_source_order (st, rec, samples, "the moov's samples"))
    return FALSE;
  r = mvex;
  while (byte_reader_remaining (&r) > 0) {
    guint32 id, sdi, duration, size, sflags;
    if (!byte_reader_box (&r, &h, &b))
      break;
    if (h.type != FOURCC ('t', 'r', 'e', 'x'))
      continue;
    if (!read_full_header (&b, &version, &flags) || !byte_reader_u32 (&b, &id) ||
        !byte_reader_u32 (&b, &sdi) || !byte_reader_u32 (&b, &duration) ||
        !byte_reader_u32 (&b, &size) || !byte_reader_u32 (&b, &sflags))
      continue;
    Fmp4Track defaults = { .id = id, .default_description_index = sdi, .default_duration = duration,
                           .default_size = size, .default_flags = sflags };
    Fmp4Track *ft = find_track (st, id);
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

/* ---- fragments ----------------------------------------------------------- */

typedef struct {
  guint64 moof_start;
  guint64 previous_traf_end;     /* implicit base of the next traf */
  GArray *samples;               /* PendingSample of this moof */
} MoofContext;

static gboolean
parse_trun (ByteReader r, MoofContext *mc, Fmp4Track *ft, guint64 base, guint64 *data_pos,
            gboolean first_trun, const guint32 defaults[4], Recording *rec)
{
  guint8 version;
  guint32 flags, count, first_flags = 0;
  guint32 data_offset = 0;
  if (!read_full_header (&r, &version, &flags) || !byte_reader_u32 (&r, &count) ||
      ((flags & TRUN_DATA_OFFSET) && !byte_reader_u32 (&r, &data_offset)) ||
      ((flags & TRUN_FIRST_FLAGS) && !byte_reader_u32 (&r, &first_flags)))
    return FALSE;

  guint64 pos;
  if (flags & TRUN_DATA_OFFSET) {
    gint64 off = (gint32) data_offset;
    if ((off < 0 && (guint64) -off > base) || (off > 0 && base > G_MAXUINT64 - (guint64) off))
      return FALSE;
    pos = base + off;
  } else {
    pos = first_trun ? base : *data_pos;
  }

  guint per_sample = 4 * (!!(flags & TRUN_DURATION) + !!(flags & TRUN_SIZE) + !!(flags & TRUN_FLAGS) +
                          !!(flags & TRUN_COMPOSITION));
  if ((per_sample && count > byte_reader_remaining (&r) / per_sample) ||
      count > MAX_SAMPLES_PER_MOOF - mc->samples->len) {
    recording_fail (rec, "a trun claims %u samples, more than it can hold", count);
    return FALSE;
  }
  for (guint32 i = 0; i < count; i++) {
    guint32 duration = defaults[0], size = defaults[1], sflags = defaults[2], cts = 0;
    if (i == 0 && (flags & TRUN_FIRST_FLAGS))
      sflags = first_flags;
    if (((flags & TRUN_DURATION) && !byte_reader_u32 (&r, &duration)) ||
        ((flags & TRUN_SIZE) && !byte_reader_u32 (&r, &size)) ||
        ((flags & TRUN_FLAGS) && !byte_reader_u32 (&r, &sflags)) ||
        ((flags & TRUN_COMPOSITION) && !byte_reader_u32 (&r, &cts)))
      return FALSE;
    if (pos > G_MAXUINT64 - size)
      return FALSE;
    PendingSample ps = {
      .source_offset = pos,
      .track = ft,
      .info = {
        .size = size,
        .duration = duration,
        /* Version 0 offsets are unsigned, but writers put negative ones there
         * too; like FFmpeg, read both as signed. */
        .composition_offset = (gint32) cts,
        .sync = !(sflags & (FMP4_SAMPLE_IS_NON_SYNC | FMP4_SAMPLE_DEPENDS_YES)),
        .description_index = defaults[3],
      },
    };
    (void) version;
    g_array_append_val (mc->samples, ps);
    pos += size;
  }
  *data_pos = pos;
  return TRUE;
}

static gboolean
parse_traf (Fmp4State *st, Recording *rec, ByteReader traf, MoofContext *mc)
{
  ByteReader tfhd, b;
  BoxHeader h;
  guint8 version;
  guint32 flags, id;

  if (!find_child (traf, FOURCC ('t', 'f', 'h', 'd'), &tfhd) || !read_full_header (&tfhd, &version, &flags) ||
      !byte_reader_u32 (&tfhd, &id))
    return FALSE;
  Fmp4Track *ft = find_track (st, id);
  Fmp4Track hidden = { .id = id, .default_description_index = 1 };
  if (!ft) {
    if (!st->warned_unknown_track)
      recording_note (rec, "fragments of unknown track %u are skipped", id);
    st->warned_unknown_track = TRUE;
    /* Its samples are not shown, but its data still moves the implicit base
     * of the trafs after it (8.8.7.1): its truns are read and dropped. */
    for (guint i = 0; i < st->hidden_trex->len; i++)
      if (g_array_index (st->hidden_trex, Fmp4Track, i).id == id)
        hidden = g_array_index (st->hidden_trex, Fmp4Track, i);
    ft = &hidden;
  }
  guint64 base = mc->previous_traf_end;
  guint32 defaults[4] = { ft->default_duration, ft->default_size, ft->default_flags,
                          ft->default_description_index };
  if (((flags & TFHD_BASE_DATA_OFFSET) && !byte_reader_u64 (&tfhd, &base)) ||
      ((flags & TFHD_DESCRIPTION_INDEX) && !byte_reader_u32 (&tfhd, &defaults[3])) ||
      ((flags & TFHD_DEFAULT_DURATION) && !byte_reader_u32 (&tfhd, &defaults[0])) ||
      ((flags & TFHD_DEFAULT_SIZE) && !byte_reader_u32 (&tfhd, &defaults[1])) ||
      ((flags & TFHD_DEFAULT_FLAGS) && !byte_reader_u32 (&tfhd, &defaults[2])))
    return FALSE;
  if (!(flags & TFHD_BASE_DATA_OFFSET) && (flags & TFHD_DEFAULT_BASE_IS_MOOF))
    base = mc->moof_start;
  if (flags & TFHD_DURATION_IS_EMPTY)
    return TRUE;

  /* Decode times follow the sample durations; the first tfdt places the
   * track.  A later jump is noted but not followed: the output has no gaps. */
  ByteReader tfdt;
  if (find_child (traf, FOURCC ('t', 'f', 'd', 't'), &tfdt)) {
    guint64 decode_time;
    guint32 tflags;
    guint8 tversion;
    if (!read_full_header (&tfdt, &tversion, &tflags) ||
        !byte_reader_uint_n (&tfdt, tversion == 1 ? 8 : 4, &decode_time))
      return FALSE;
    if (!ft->started)
      ft->next_decode_time = decode_time;
    else if (decode_time != ft->next_decode_time)
      recording_note (rec, "track %u: fragment decode times jump; sample durations are kept", id);
  }

  guint first = mc->samples->len;
  guint64 data_pos = base;
  gboolean first_trun = TRUE;
  ByteReader r = traf;
  while (byte_reader_remaining (&r) > 0) {
    if (!byte_reader_box (&r, &h, &b))
      return FALSE;
    if (h.type != FOURCC ('t', 'r', 'u', 'n'))
      continue;
    if (!parse_trun (b, mc, ft, base, &data_pos, first_trun, defaults, rec))
      return FALSE;
    first_trun = FALSE;
  }
  mc->previous_traf_end = data_pos;
  if (!ft->track) {
    g_array_set_size (mc->samples, first);
    return TRUE;
  }
  if (mc->samples->len > first && !ft->started) {
    /* Written before the track's first sample is appended under the lock. */
    ft->started = TRUE;
    ft->track->first_decode_time = ft->next_decode_time;
  }
  for (guint i = first; i < mc->samples->len; i++)
    ft->next_decode_time += g_array_index (mc->samples, PendingSample, i).info.duration;
  return TRUE;
}


static gboolean
parse_moof (Fmp4State *st, Recording *rec, ByteReader moof, guint64 moof_start)
{
  MoofContext mc = { .moof_start = moof_start, .previous_traf_end = moof_start };
  mc.samples = g_array_new (FALSE, FALSE, sizeof (PendingSample));
  BoxHeader h;
  ByteReader b;
  gboolean ok = TRUE;

  while (ok && byte_reader_remaining (&moof) > 0) {
    if (!byte_reader_box (&moof, &h, &b))
      ok = FALSE;
    else if (h.type == FOURCC ('t', 'r', 'a', 'f'))
      ok = parse_traf (st, rec, b, &mc);
  }
  if (ok) {
    /* Every sample costs table space, but one of size 0 costs no payload:
     * bound a moof's samples by the bytes it and its data take, so a small
     * file cannot claim millions of empty samples. */
    guint64 data = 0;
    for (guint i = 0; i < mc.samples->len; i++)
      data += g_array_index (mc.samples, PendingSample, i).info.size;
    guint64 budget = MOOF_FREE_SAMPLES + moof.len + data;
    if (mc.samples->len > budget) {
      recording_fail (rec, "moof at %" G_GUINT64_FORMAT " claims %u samples for %" G_GUINT64_FORMAT " bytes",
                      moof_start, mc.samples->len, moof.len + data);
      ok = FALSE;
    }
  }
  if (ok) {
    g_autofree char *where = g_strdup_printf ("moof at %" G_GUINT64_FORMAT, moof_start);
    ok = queue_in_source_order (st, rec, mc.samples, where);
  } else if (!rec->failed) {
    recording_fail (rec, "malformed moof at %" G_GUINT64_FORMAT, moof_start);
  }
  g_array_unref (mc.samples);
  return ok;
}

/* Appends the pending samples whose bytes are all on disk, in source order. */
static void
flush_pending (Fmp4State *st, Recording *rec, const Source *src)
{
  if (st->pending_done == st->pending->len)
    return;
  recording_begin_append (rec);
  while (st->pending_done < st->pending->len && !rec->failed) {
    PendingSample *ps = &g_array_index (st->pending, PendingSample, st->pending_done);
    if (ps->source_offset + ps->info.size > src->size)
      break;
    if (!recording_append_sample (rec, ps->track->track, ps->source_offset, &ps->info))
      break;
    st->pending_done++;
  }
  recording_end_append (rec);
  if (st->pending_done == st->pending->len) {
    g_array_set_size (st->pending, 0);
    st->pending_done = 0;
  }
}

static gboolean
fmp4_feed (gpointer data, Recording *rec, const Source *src)
{
  Fmp4State *st = data;

  while (!rec->failed) {
    flush_pending (st, rec, src);
    /* Samples already parsed wait for their bytes before any later box is
     * looked at: a damaged box after them must not fail the recording
     * before they are shown, or what is shown would depend on how the file
     * grew (seen whole, they would be).  In order, they come first anyway. */
    if (st->phase == PHASE_TAIL || st->pending_done < st->pending->len)
      break;

    BoxHeader h;
    gboolean damaged;
    if (!read_top_header (src, st->pos, &h, &damaged)) {
      if (damaged)
        recording_fail (rec, "damaged box header at %" G_GUINT64_FORMAT, st->pos);
      break;
    }
    if (h.size == 0) {
      /* A box that runs to the end of the file ends the structure. */
      if (h.type != FOURCC ('m', 'd', 'a', 't') || st->phase != PHASE_FRAGMENTS)
        recording_fail (rec, "box at %" G_GUINT64_FORMAT " has no size", st->pos);
      st->phase = PHASE_TAIL;
      continue;
    }
    guint64 end = st->pos + h.size;
    gboolean needs_body = h.type == FOURCC ('m', 'o', 'o', 'v') || h.type == FOURCC ('m', 'o', 'o', 'f');
    if (end > src->size)
      break;   /* not all on disk yet; payload inside is handled by pending */

    if (needs_body) {
      if (h.size > RECORDING_MAX_HEADER_BOX) {
        recording_fail (rec, "box of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT " is too large",
                        h.size, st->pos);
        break;
      }
      g_autofree guint8 *body = source_read_alloc (src, st->pos + h.header_size, h.size - h.header_size,
                                                   RECORDING_MAX_HEADER_BOX);
      if (!body) {
        recording_fail (rec, "cannot read box at %" G_GUINT64_FORMAT ": %s", st->pos, g_strerror (errno));
        break;
      }
      ByteReader r;
      byte_reader_init (&r, body, h.size - h.header_size);
      if (h.type == FOURCC ('m', 'o', 'o', 'v')) {
        if (st->phase != PHASE_HEAD) {
          recording_fail (rec, "second moov at %" G_GUINT64_FORMAT, st->pos);
          break;
        }
        if (!parse_moov (st, rec, r))
          break;
        st->phase = PHASE_FRAGMENTS;
      } else {
        if (st->phase != PHASE_FRAGMENTS) {
          recording_fail (rec, "moof before the moov");
          break;
        }
        if (!parse_moof (st, rec, r, st->pos))
          break;
      }
    } else if (h.type == FOURCC ('m', 'd', 'a', 't') && st->phase == PHASE_HEAD) {
      recording_fail (rec, "mdat before the moov: not a fragmented recording");
      break;
    }
    st->pos = end;
  }
  return !rec->failed;
}

static ProbeResult
fmp4_probe (const Source *src)
{
  guint64 pos = 0;
  for (int boxes = 0; boxes < 16; boxes++) {
    BoxHeader h;
    gboolean damaged;
    if (!read_top_header (src, pos, &h, &damaged))
      return damaged || src->size - pos >= 16 ? PROBE_NO : PROBE_NEED_MORE;
    if (pos == 0 && h.type != FOURCC ('f', 't', 'y', 'p') && h.type != FOURCC ('s', 't', 'y', 'p'))
      return PROBE_NO;
    if (h.size == 0)
      return PROBE_NO;
    if (h.type == FOURCC ('m', 'd', 'a', 't') || h.type == FOURCC ('m', 'o', 'o', 'f'))
      return PROBE_NO;
    if (h.type == FOURCC ('m', 'o', 'o', 'v')) {
      if (h.size > RECORDING_MAX_HEADER_BOX)
        return PROBE_NO;
      if (pos + h.size > src->size)
        return PROBE_NEED_MORE;
      g_autofree guint8 *body = source_read_alloc (src, pos + h.header_size, h.size - h.header_size,
                                                   RECORDING_MAX_HEADER_BOX);
      ByteReader moov, mvex;
      if (!body)
        return PROBE_NO;
      byte_reader_init (&moov, body, h.size - h.header_size);
      if (!find_child (moov, FOURCC ('m', 'v', 'e', 'x'), &mvex))
        return PROBE_NO;
      return PROBE_YES;
    }
    if (pos + h.size > src->size)
      return PROBE_NEED_MORE;
    pos += h.size;
  }
  return PROBE_NO;
}

const IndexerClass fmp4_indexer = {
  .name = "fmp4",
  .probe = fmp4_probe,
  .state_new = fmp4_state_new,
  .state_free = fmp4_state_free,
  .feed = fmp4_feed,
};

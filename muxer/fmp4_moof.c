/* fmp4_moof.c — one moof (ISO/IEC 14496-12 8.8.4-8.8.12): its trafs and
 * truns become samples with their source offsets, queued in source order
 * until their bytes are on disk. */
#include "fmp4_private.h"

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

Fmp4Track *
fmp4_find_track (Fmp4State *st, guint32 id)
{
  for (guint i = 0; i < st->tracks->len; i++)
    if (g_array_index (st->tracks, Fmp4Track, i).id == id)
      return &g_array_index (st->tracks, Fmp4Track, i);
  return NULL;
}

static gint
compare_pending (gconstpointer a, gconstpointer b, gpointer unused)
{
  (void) unused;
  const PendingSample *x = a, *y = b;
  return x->source_offset < y->source_offset ? -1 : x->source_offset > y->source_offset;
}

gboolean
fmp4_sort_pending (Fmp4State *st, guint first)
{
  guint n = st->pending->len - first;
  if (n < 2)
    return TRUE;
  PendingSample *s = (PendingSample *) st->pending->data + first;
  gboolean sorted = TRUE;
  for (guint i = 1; i < n && sorted; i++)
    sorted = s[i - 1].source_offset <= s[i].source_offset;
  /* Writers put trafs in data order, so this is rare; stable, so samples of
   * size 0 at one offset keep their decode order. */
  if (!sorted)
    g_qsort_with_data (s, (gint) n, sizeof *s, compare_pending, NULL);
  for (guint i = 1; i < n; i++)
    if (s[i - 1].source_offset + s[i - 1].info.size > s[i].source_offset)
      return FALSE;
  return TRUE;
}

/* A moof's samples are parsed straight onto the end of the pending queue. */
typedef struct {
  guint64 moof_start;
  guint64 previous_traf_end;     /* implicit base of the next traf */
  GArray *samples;               /* the pending queue */
  guint first;                   /* where this moof's samples begin in it */
} MoofContext;

static gboolean
parse_trun (ByteReader r, MoofContext *mc, Fmp4Track *ft, guint64 base, guint64 *data_pos,
            gboolean first_trun, const guint32 defaults[4], Recording *rec)
{
  guint8 version;   /* 0 or 1: offsets are read as signed either way */
  guint32 flags, count, first_flags = 0;
  guint32 data_offset = 0;
  if (!full_box_header_read (&r, &version, &flags) || !byte_reader_u32 (&r, &count) ||
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
      count > MAX_SAMPLES_PER_MOOF - (mc->samples->len - mc->first)) {
    recording_fail (rec, "a trun claims %u samples, more than it can hold", count);
    return FALSE;
  }
  if (count == 0) {
    *data_pos = pos;
    return TRUE;
  }
  /* Room for them all at once; on failure the caller drops the moof's samples. */
  guint at = mc->samples->len;
  g_array_set_size (mc->samples, at + count);
  PendingSample *out = &g_array_index (mc->samples, PendingSample, at);
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
    out[i] = (PendingSample) {
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
    pos += size;
  }
  *data_pos = pos;
  return TRUE;
}

static void place_traf (Recording *rec, Fmp4Track *ft, MoofContext *mc, guint first,
                        gboolean has_tfdt, guint64 decode_time);

static gboolean
parse_traf (Fmp4State *st, Recording *rec, ByteReader traf, MoofContext *mc)
{
  ByteReader tfhd, b;
  BoxHeader h;
  guint8 version;
  guint32 flags, id;

  if (!box_find_child (traf, FOURCC ('t', 'f', 'h', 'd'), &tfhd) || !full_box_header_read (&tfhd, &version, &flags) ||
      !byte_reader_u32 (&tfhd, &id))
    return FALSE;
  Fmp4Track *ft = fmp4_find_track (st, id);
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

  ByteReader tfdt;
  gboolean has_tfdt = box_find_child (traf, FOURCC ('t', 'f', 'd', 't'), &tfdt);
  guint64 decode_time = 0;
  if (has_tfdt) {
    guint32 tflags;
    guint8 tversion;
    if (!full_box_header_read (&tfdt, &tversion, &tflags) ||
        !byte_reader_uint_n (&tfdt, tversion == 1 ? 8 : 4, &decode_time))
      return FALSE;
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
  if (mc->samples->len > first || has_tfdt)
    place_traf (rec, ft, mc, first, has_tfdt, decode_time);
  return TRUE;
}

/* Decode times (design: "Timing"): tfdt is the authority, as it is for
 * FFmpeg, GStreamer and browsers; sample durations fill in between.  The
 * sample before a fragment lasts until that fragment's tfdt, so a gap or an
 * overlap in the source is carried in stts, and a trun duration of 0 (as
 * FFmpeg's frag_every_frame writes once another track has ended) becomes the
 * track's previous duration until the next tfdt corrects it. */
static void
place_traf (Recording *rec, Fmp4Track *ft, MoofContext *mc, guint first, gboolean has_tfdt,
            guint64 decode_time)
{
  if (has_tfdt && !ft->started) {
    ft->next_decode_time = decode_time;
  } else if (has_tfdt && decode_time != ft->next_decode_time) {
    guint64 last_start = ft->next_decode_time - ft->last_duration;
    guint64 duration = decode_time > last_start ? MIN (decode_time - last_start, G_MAXUINT32) : 1;
    if (decode_time <= last_start)
      recording_note (rec, "track %u: fragment decode times go back; kept in order", ft->id);
    /* The last sample is this moof's, or already appended to the table. */
    PendingSample *last = NULL;
    for (guint i = first; i > mc->first && !last; i--)
      if (g_array_index (mc->samples, PendingSample, i - 1).track == ft)
        last = &g_array_index (mc->samples, PendingSample, i - 1);
    if (last)
      last->info.duration = (guint32) duration;
    else
      ft->amend_duration = (guint32) duration;
    ft->last_duration = (guint32) duration;
    ft->next_decode_time = last_start + duration;
  }
  if (mc->samples->len > first && !ft->started) {
    /* Written before the track's first sample is appended under the lock. */
    ft->started = TRUE;
    ft->track->first_decode_time = ft->next_decode_time;
  }
  for (guint i = first; i < mc->samples->len; i++) {
    SampleInfo *info = &g_array_index (mc->samples, PendingSample, i).info;
    if (info->duration == 0)
      info->duration = MAX (ft->last_duration, 1);
    ft->next_decode_time += info->duration;
    ft->last_duration = info->duration;
  }
}

gboolean
fmp4_parse_moof (Fmp4State *st, Recording *rec, ByteReader moof, guint64 moof_start)
{
  MoofContext mc = { .moof_start = moof_start, .previous_traf_end = moof_start, .samples = st->pending,
                     .first = st->pending->len };
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
    guint n = mc.samples->len - mc.first;
    guint64 data = 0;
    for (guint i = mc.first; i < mc.samples->len; i++)
      data += g_array_index (mc.samples, PendingSample, i).info.size;
    guint64 budget = MOOF_FREE_SAMPLES + moof.len + data;
    if (n > budget) {
      recording_fail (rec, "moof at %" G_GUINT64_FORMAT " claims %u samples for %" G_GUINT64_FORMAT " bytes",
                      moof_start, n, moof.len + data);
      ok = FALSE;
    } else if (!fmp4_sort_pending (st, mc.first)) {
      recording_fail (rec, "moof at %" G_GUINT64_FORMAT " has overlapping sample data", moof_start);
      ok = FALSE;
    }
  } else if (!rec->failed) {
    recording_fail (rec, "malformed moof at %" G_GUINT64_FORMAT, moof_start);
  }
  /* Durations the moof's tfdts gave to samples already appended. */
  for (guint i = 0; i < st->tracks->len; i++) {
    Fmp4Track *ft = &g_array_index (st->tracks, Fmp4Track, i);
    if (ft->amend_duration && ok) {
      recording_begin_append (rec);
      recording_set_last_duration (rec, ft->track, ft->amend_duration);
      recording_end_append (rec);
    }
    ft->amend_duration = 0;
  }
  if (!ok)
    g_array_set_size (st->pending, mc.first);
  return ok;
}

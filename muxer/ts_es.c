/* ts_es.c — elementary streams to samples: PES starts and timestamps, access
 * units and audio frames, sample entries, timing, and the queue of samples
 * appended in the order they complete. */
#include "ts_private.h"

#include <string.h>

TsStream *
ts_stream_new (void)
{
  TsStream *s = g_new0 (TsStream, 1);
  s->es = g_byte_array_new ();
  s->spans = g_array_new (FALSE, FALSE, sizeof (TsSpan));
  s->pes = g_array_new (FALSE, FALSE, sizeof (TsPesStart));
  s->nals = g_array_new (FALSE, FALSE, sizeof (TsNal));
  ts_locators_init (&s->locators);
  s->last_pending = -1;
  return s;
}

void
ts_stream_free (TsStream *s)
{
  g_byte_array_unref (s->es);
  g_array_unref (s->spans);
  g_array_unref (s->pes);
  g_array_unref (s->nals);
  ts_locators_clear (&s->locators);
  ts_video_config_clear (&s->vconfig);
  g_free (s);
}

/* ---- time -------------------------------------------------------------------- */

#define WRAP (1ll << 33)

gint64
ts_unwrap (TsState *st, guint64 ts33)
{
  gint64 t = (gint64) (ts33 & (WRAP - 1));
  if (!st->have_ref) {
    st->have_ref = TRUE;
    st->ts_ref = t;
    return t;
  }
  gint64 d = (t - st->ts_ref) % WRAP;
  if (d < 0)
    d += WRAP;
  if (d >= WRAP / 2)
    d -= WRAP;
  st->ts_ref += d;
  return st->ts_ref;
}

void
ts_note_gap (TsState *st, Recording *rec, TsStream *s, gint64 gap90)
{
  if (gap90 <= TS_NOTE_GAP || st->gap_noted)
    return;
  st->gap_noted = TRUE;
  recording_note (rec, "PID %u: timestamps jump %.3f s forward (a segment join?); carried as a gap", s->pid,
                  (double) gap90 / 90000);
}

/* v * to / from, rounded to nearest, for |v| well below 2^63 / to. */
static gint64
rescale (gint64 v, guint32 to, guint32 from)
{
  gint64 n = v * to;
  return n >= 0 ? (n + from / 2) / from : -((-n + from / 2) / from);
}

/* ---- the ES buffer -------------------------------------------------------------- */

static guint64
es_end (const TsStream *s)
{
  return s->es_base + s->es->len;
}

/* Forgets ES bytes before pos (and the spans and PES starts wholly before it). */
static void
es_trim (TsStream *s, guint64 pos)
{
  if (pos > es_end (s))
    pos = es_end (s);
  if (pos > s->es_base) {
    g_byte_array_remove_range (s->es, 0, (guint) (pos - s->es_base));
    s->es_base = pos;
  }
  guint keep = 0;
  while (keep + 1 < s->spans->len && g_array_index (s->spans, TsSpan, keep + 1).es_pos <= pos)
    keep++;
  if (keep)
    g_array_remove_range (s->spans, 0, keep);
}

static void
es_reset (TsStream *s)
{
  s->es_base = es_end (s);
  g_byte_array_set_size (s->es, 0);
  g_array_set_size (s->spans, 0);
  g_array_set_size (s->pes, 0);
  s->au_open = FALSE;
  s->au_has_slice = FALSE;
  s->scan_pos = s->es_base;
  s->nal_start = s->es_base;
  s->frame_pos = s->es_base;
}

/* The packet and offset in it of ES position pos. */
static gboolean
locate (const TsStream *s, guint64 pos, guint64 *packet, guint8 *in_packet)
{
  for (guint i = s->spans->len; i-- > 0;) {
    const TsSpan *sp = &g_array_index (s->spans, TsSpan, i);
    if (sp->es_pos <= pos) {
      guint64 at = sp->in_packet + (pos - sp->es_pos);
      if (at >= TS_PACKET)
        return FALSE;   /* never expected: spans cover the buffer */
      *packet = sp->packet;
      *in_packet = (guint8) at;
      return TRUE;
    }
  }
  return FALSE;
}

/* The timestamps of the PES the sample at pos begins, if it is the first
 * sample to begin in it (FFmpeg's parsers give a PES's timestamps to the
 * frame that starts in it).  slack: the sample may begin that many bytes
 * early (a start code's leading zero). */
static TsPesStart *
pes_for (TsStream *s, guint64 pos, guint slack)
{
  TsPesStart *found = NULL;
  guint n = 0;
  for (guint i = 0; i < s->pes->len; i++) {
    TsPesStart *p = &g_array_index (s->pes, TsPesStart, i);
    if (p->es_pos > pos + slack)
      break;
    found = p;
    n = i;
  }
  if (!found || found->used)
    return NULL;
  found->used = TRUE;
  if (n)
    g_array_remove_range (s->pes, 0, n);
  return &g_array_index (s->pes, TsPesStart, 0);
}

/* ---- the queue ---------------------------------------------------------------------- */

static void
set_last_duration (TsState *st, Recording *rec, TsStream *s, gint64 duration)
{
  duration = CLAMP (duration, 1, (gint64) G_MAXUINT32);
  s->last_duration = duration;
  s->next_dts = s->last_dts + duration;
  if (s->last_pending >= 0) {
    g_array_index (st->pending, TsPending, s->last_pending).info.duration = (guint32) duration;
  } else if (s->track->table.count > 0) {
    recording_begin_append (rec);
    recording_set_last_duration (rec, s->track, (guint64) duration);
    recording_end_append (rec);
  }
}

static void
queue_sample (TsState *st, Recording *rec, TsStream *s, gint64 dts, gint64 pts, gint64 duration, guint32 size,
              gboolean sync, guint64 es_pos)
{
  TsPending p = { .stream = s->index };
  guint64 packet;
  guint8 in_packet;
  if (!locate (s, es_pos, &packet, &in_packet))
    return;
  p.es_offset = packet + in_packet;
  if (!s->timed) {
    s->timed = TRUE;
    s->first_dts = dts;
    s->max_end = G_MININT64 / 2;
  } else if (dts != s->next_dts) {
    set_last_duration (st, rec, s, dts - s->last_dts);
  }
  duration = CLAMP (duration, 1, (gint64) G_MAXUINT32);
  p.info = (SampleInfo) {
    .size = size,
    .duration = (guint32) duration,
    .composition_offset = (gint32) CLAMP (pts - dts, -(1 << 30), 1 << 30),
    .sync = sync,
    .description_index = 1,
  };
  s->last_pending = st->pending->len;
  g_array_append_val (st->pending, p);
  s->last_dts = dts;
  s->last_duration = duration;
  s->next_dts = dts + duration;
  s->max_end = MAX (s->max_end, pts + duration);
}

/* The first timestamp of every stream fixes presentation time 0 (FFmpeg's
 * start_time): known once each stream has one, or a second after the first. */
static void
note_first_timestamp (TsState *st, TsStream *s, gint64 pts90)
{
  if (st->origin_known)
    return;
  s->first_ts = s->has_first_ts ? MIN (s->first_ts, pts90) : pts90;
  s->has_first_ts = TRUE;
  gboolean all = TRUE;
  gint64 min = G_MAXINT64;
  for (guint i = 0; i < st->streams->len; i++) {
    TsStream *o = g_ptr_array_index (st->streams, i);
    if (o->left_out)
      continue;
    if (o->has_first_ts)
      min = MIN (min, o->first_ts);
    else
      all = FALSE;
  }
  if (all || pts90 - min > 90000) {
    st->origin_known = TRUE;
    st->origin = min;
  }
}

void
ts_flush (TsState *st, Recording *rec, gboolean force)
{
  if (st->pending->len == 0 || (!st->origin_known && !force))
    return;
  recording_begin_append (rec);
  for (guint i = 0; i < st->pending->len && !rec->failed; i++) {
    TsPending *p = &g_array_index (st->pending, TsPending, i);
    TsStream *s = g_ptr_array_index (st->streams, p->stream);
    Track *t = s->track;
    if (t->table.count == 0) {
      t->edit_base = s->first_dts - rescale (st->origin, s->timescale, 90000);
      t->first_decode_time = 0;
      /* The movie timescale is 1000: a track that starts between two
       * milliseconds starts at the earlier one, as in FFmpeg's remux (the
       * writer would otherwise start its media later, cutting the first
       * sample). */
      gint64 start = t->edit_base + p->info.composition_offset;
      guint32 tick = s->timescale % 1000 == 0 ? s->timescale / 1000 : 1;
      if (start > 0)
        t->edit_base -= start % tick;
    }
    /* The locator first: a sample is never appended without one. */
    if (s->locators.count != t->table.count) {
      recording_fail (rec, "PID %u: %u locators for %u samples", s->pid, s->locators.count, t->table.count);
      break;
    }
    if (!ts_locators_append (&s->locators, p->es_offset)) {
      recording_fail (rec, "PID %u: too many samples to locate", s->pid);
      break;
    }
    if (!recording_append_produced_sample (rec, t, &p->info))
      break;
  }
  for (guint i = 0; i < st->streams->len; i++)
    ((TsStream *) g_ptr_array_index (st->streams, i))->last_pending = -1;
  recording_end_append (rec);
  g_array_set_size (st->pending, 0);
}

/* ---- configuration ------------------------------------------------------------------- */

static void
configure (Recording *rec, TsStream *s, GBytes *entries, guint32 timescale, guint width, guint height)
{
  const guint8 *e = g_bytes_get_data (entries, NULL);
  recording_begin_append (rec);
  s->track->timescale = timescale;
  s->track->codec = (guint32) e[8] << 24 | (guint32) e[9] << 16 | (guint32) e[10] << 8 | e[11];
  s->track->sample_descriptions = entries;
  if (s->kind == TS_KIND_VIDEO) {
    s->track->width = MIN (width, 0xffffu) << 16;
    s->track->height = MIN (height, 0xffffu) << 16;
  }
  recording_end_append (rec);
  s->timescale = timescale;
  s->configured = TRUE;
}

static gboolean
configure_video (Recording *rec, TsStream *s)
{
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_u32 (&w, 1);
  if (!ts_video_write_entry (&s->vconfig, &w)) {
    byte_writer_clear (&w);
    return FALSE;
  }
  configure (rec, s, byte_writer_free_to_bytes (&w), 90000, s->vconfig.width, s->vconfig.height);
  return TRUE;
}

static gboolean
configure_audio (Recording *rec, TsStream *s, const TsAudioFrame *f, const guint8 *frame, gsize len)
{
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_u32 (&w, 1);
  gboolean ok = FALSE;
  guint16 es_id = (guint16) (s->index + 1);
  switch (s->audio) {
  case TS_AUDIO_AAC:
    if (f->channel_config == 0) {
      /* The AudioSpecificConfig carries the first frame's PCE, which that
       * frame loses (FFmpeg's aac_adtstoasc). */
      guint8 asc[2 + 320];
      gsize consumed = 0;
      guint channels = 0;
      gsize pce = ts_aac_copy_pce (frame + f->header_len, len - f->header_len, asc + 2, sizeof asc - 2, &consumed,
                                   &channels);
      if (pce == 0 || consumed >= len - f->header_len) {
        recording_note (rec, "PID %u: AAC without channel configuration or program config element; left out", s->pid);
        s->left_out = TRUE;
        break;
      }
      asc[0] = (guint8) (f->object_type << 3 | f->rate_index >> 1);
      asc[1] = (guint8) ((f->rate_index & 1) << 7);
      ok = codecs_write_mp4a_aac (&w, es_id, (guint16) channels, f->sample_rate, asc, 2 + pce);
      s->pce_trim = (guint) consumed;
    } else {
      guint8 asc[10];
      gsize n = codecs_aac_config_build (asc, f->object_type, f->sample_rate, f->channel_config, 0);
      ok = codecs_write_mp4a_aac (&w, es_id, (guint16) f->channels, f->sample_rate, asc, n);
    }
    break;
  case TS_AUDIO_AC3: {
    Ac3Info info;
    ok = codecs_ac3_parse (frame, len, &info) && codecs_write_ac3 (&w, &info);
    break;
  }
  case TS_AUDIO_MPEG: {
    MpegAudioInfo info;
    ok = codecs_mpeg_audio_parse (frame, len, &info) && codecs_write_mp4a_mpeg_audio (&w, es_id, &info);
    break;
  }
  case TS_AUDIO_EAC3: {
    Eac3Info info;
    ok = codecs_eac3_parse (frame, len, &info) && codecs_write_eac3 (&w, &info);
    break;
  }
  case TS_AUDIO_OPUS: {
    /* An OpusHead for dOps: the channels of the descriptor and pre-skip 0,
     * as FFmpeg's TS demuxer gives it (mpegts.c, opus_default_extradata)
     * and its remux writes it: FFmpeg decodes the TS itself without the
     * first packet's start trim, so a pre-skip from it would decode 312
     * samples fewer than the source and its remux. */
    guint16 pre_skip = 0;
    guint8 head[19] = { 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, s->opus_channels, (guint8) pre_skip,
                        (guint8) (pre_skip >> 8), 0x80, 0xbb, 0, 0, 0, 0, 0 };
    ok = codecs_write_opus (&w, head, sizeof head, NULL);
    break;
  }
  case TS_AUDIO_PROBE:
    break;
  }
  if (!ok) {
    byte_writer_clear (&w);
    return FALSE;
  }
  configure (rec, s, byte_writer_free_to_bytes (&w), f->sample_rate, 0, 0);
  s->sample_rate = f->sample_rate;
  return TRUE;
}

/* ---- video ---------------------------------------------------------------------------- */

static void
emit_access_unit (TsState *st, Recording *rec, TsStream *s, guint64 a, guint64 b)
{
  const guint8 *p = s->es->data + (a - s->es_base);
  gsize n = (gsize) (b - a);
  TsPesStart *pes = pes_for (s, a, 3);
  guint64 size;
  gboolean key;
  if (s->video == TS_VIDEO_MPEG2) {
    size = n;
    if (size == 0 || size > TS_MAX_SAMPLE)
      return;
    key = ts_mpeg2_access_unit (&s->vconfig, p, n);
  } else {
    g_array_set_size (s->nals, 0);
    size = ts_annexb_nals (p, n, s->nals);
    if (size == 0 || size > TS_MAX_SAMPLE)
      return;
    key = ts_video_access_unit (&s->vconfig, p, s->nals);
  }
  if (!s->configured) {
    if (!key || !configure_video (rec, s))
      return;   /* nothing decodes before the first key frame with its parameter sets */
  }
  gint64 dts, pts;
  if (pes && pes->has_pts) {
    pts = ts_unwrap (st, pes->pts);
    dts = pes->has_dts ? ts_unwrap (st, pes->dts) : pts;
    note_first_timestamp (st, s, pts);
    pts += s->offset90;
    dts += s->offset90;
    if (s->timed && (dts <= s->last_dts || dts > s->next_dts + TS_MAX_GAP)) {
      /* A discontinuity: continue where the track was, decoded after the
       * last sample and shown after every sample before. */
      gint64 shift = MAX (s->next_dts - dts, s->max_end - pts);
      s->offset90 += shift;
      dts += shift;
      pts += shift;
    } else if (s->timed) {
      ts_note_gap (st, rec, s, dts - s->next_dts);
    }
  } else if (s->timed) {
    dts = pts = s->next_dts;
  } else {
    return;
  }
  gint64 duration = s->last_duration > 0 ? s->last_duration : 3600;
  queue_sample (st, rec, s, dts, pts, duration, (guint32) size, key, a);
}

static void
process_video (TsState *st, Recording *rec, TsStream *s)
{
  const guint8 *d = s->es->data;
  guint64 base = s->es_base, end = es_end (s);
  guint64 i = MAX (s->scan_pos, base);
  while (i + 3 <= end) {
    /* The next 00 00 01. */
    const guint8 *one = memchr (d + (i + 2 - base), 1, (gsize) (end - (i + 2)));
    if (!one)
      break;
    guint64 j = (guint64) (one - d) + base;   /* the 01 */
    if (d[j - 1 - base] != 0 || d[j - 2 - base] != 0) {
      i = j - 1;
      continue;
    }
    guint64 code = j - 2;
    gboolean is_slice;
    int starts = ts_nal_starts_au (s->video, d + (j + 1 - base), (gsize) (end - j - 1), s->au_has_slice, &is_slice);
    if (starts < 0) {
      i = code;
      break;
    }
    /* Where FFmpeg's parsers split access units: H.264's before a 4-byte
     * start code's leading zero (which, as ts_nal.h has it, is no part of
     * the NAL unit before), HEVC's at the 3-byte start code, leaving that
     * zero to the last NAL unit of the access unit before. */
    guint64 boundary = s->video == TS_VIDEO_H264 && code > s->nal_start && code > base && d[code - 1 - base] == 0
                           ? code - 1 : code;
    if (!s->au_open) {
      s->au_open = TRUE;
      s->au_start = boundary;
      s->au_has_slice = is_slice;
    } else if (starts) {
      emit_access_unit (st, rec, s, s->au_start, boundary);
      d = s->es->data;
      s->au_start = boundary;
      s->au_has_slice = is_slice;
    } else {
      s->au_has_slice |= is_slice;
    }
    s->nal_start = j + 1;
    i = j + 1;
    if (rec->failed)
      return;
  }
  s->scan_pos = i;
  /* Keep what the open access unit needs, or the bytes a start code may
   * still be completing. */
  es_trim (s, s->au_open ? s->au_start : (end > 3 ? end - 3 : base));
  if (es_end (s) - s->es_base > TS_MAX_SAMPLE) {
    if (!s->damage_noted)
      recording_note (rec, "PID %u: an access unit larger than %u MiB is dropped", s->pid, TS_MAX_SAMPLE >> 20);
    s->damage_noted = TRUE;
    es_reset (s);
    s->in_pes = FALSE;
  }
}

/* ---- audio ------------------------------------------------------------------------------ */

static void
process_audio (TsState *st, Recording *rec, TsStream *s)
{
  if (s->audio == TS_AUDIO_PROBE && s->es->len > 0) {
    int r = ts_audio_probe (s->es->data, s->es->len, &s->audio);
    if (r < 0)
      return;
    if (r == 0) {
      recording_note (rec, "PID %u (stream type 0x06): private data is not carried; left out", s->pid);
      s->left_out = TRUE;
      es_reset (s);
      return;
    }
  }
  if (s->audio == TS_AUDIO_PROBE)
    return;
  for (;;) {
    guint64 pos = MAX (s->frame_pos, s->es_base);
    guint64 end = es_end (s);
    if (pos >= end)
      break;
    const guint8 *p = s->es->data + (pos - s->es_base);
    gsize avail = (gsize) (end - pos);
    TsAudioFrame f;
    int r = ts_audio_frame_parse (s->audio, p, avail, &f);
    if (r < 0)
      break;
    if (r == 0) {
      s->frame_pos = pos + 1;
      continue;
    }
    if (avail < f.frame_len)
      break;
    TsPesStart *pes = pes_for (s, pos, 0);
    if (!s->configured && !configure_audio (rec, s, &f, p, f.frame_len)) {
      if (s->left_out)
        return;
      s->frame_pos = pos + f.frame_len;
      continue;
    }
    if (f.sample_rate != s->sample_rate) {
      s->frame_pos = pos + f.frame_len;   /* a frame at another rate is not this track's */
      continue;
    }
    gint64 dts;
    gint64 tol = MAX ((gint64) s->sample_rate / 45000, 1) + 1;
    if (pes && pes->has_pts) {
      gint64 pts90 = ts_unwrap (st, pes->pts);
      note_first_timestamp (st, s, pts90);
      gint64 t = rescale (pts90 + s->offset90, s->sample_rate, 90000);
      if (!s->timed) {
        dts = t;
      } else if (t - s->next_dts <= tol && s->next_dts - t <= tol) {
        dts = s->next_dts;
      } else if (t <= s->last_dts || t - s->next_dts > rescale (TS_MAX_GAP, s->sample_rate, 90000)) {
        s->offset90 += rescale (s->next_dts - t, 90000, s->sample_rate);
        dts = s->next_dts;
      } else {
        dts = t;   /* a gap, or an overlap that shortens the frame before (an Opus start trim) */
        ts_note_gap (st, rec, s, rescale (t - s->next_dts, 90000, s->sample_rate));
      }
    } else if (s->timed) {
      dts = s->next_dts;
    } else {
      s->frame_pos = pos + f.frame_len;
      continue;
    }
    guint trim = s->pce_trim;
    s->pce_trim = 0;   /* the first frame only */
    if (trim >= f.frame_len - f.header_len)
      trim = 0;
    queue_sample (st, rec, s, dts, dts, f.samples, f.frame_len - f.header_len - trim, TRUE, pos + f.header_len + trim);
    s->frame_pos = pos + f.frame_len;
    if (rec->failed)
      return;
  }
  es_trim (s, s->frame_pos);
}

/* ---- packets ---------------------------------------------------------------------------- */

static void
pes_complete (TsState *st, Recording *rec, TsStream *s)
{
  /* A bounded H.264 PES ends its access unit.  HEVC's waits for the next
   * start code: FFmpeg's parser gives it the leading zero of a 4-byte start
   * code after it (process_video). */
  if (s->kind == TS_KIND_VIDEO && s->au_open && s->au_has_slice && (s->video == TS_VIDEO_H264 || !s->bounded)) {
    process_video (st, rec, s);
    if (s->au_open && es_end (s) > s->au_start) {
      emit_access_unit (st, rec, s, s->au_start, es_end (s));
      s->au_open = FALSE;
      s->au_has_slice = FALSE;
      s->scan_pos = es_end (s);
      s->nal_start = es_end (s);
      es_trim (s, es_end (s) > 3 ? es_end (s) - 3 : s->es_base);
    }
  }
}

gboolean
ts_stream_finish (TsState *st, Recording *rec, TsStream *s)
{
  /* A bounded PES still short of its length lost its end: nothing waits.
   * An unbounded one may end here only if its last packet was stuffed, as
   * muxers stuff a PES's last packet (unless its data fit exactly: then the
   * frame stays held back); a writer that stopped mid-PES leaves a full
   * packet, and part of a frame. */
  if (s->left_out || s->kind != TS_KIND_VIDEO || !s->in_pes || s->in_header || (s->bounded && s->pes_left > 0) ||
      (!s->bounded && !s->last_stuffed))
    return FALSE;
  process_video (st, rec, s);
  if (rec->failed || !s->au_open || !s->au_has_slice || es_end (s) <= s->au_start)
    return FALSE;
  guint queued = st->pending->len;
  emit_access_unit (st, rec, s, s->au_start, es_end (s));
  /* What a payload start would do next: the access unit is closed. */
  s->au_open = FALSE;
  s->au_has_slice = FALSE;
  s->scan_pos = es_end (s);
  s->nal_start = es_end (s);
  es_trim (s, es_end (s) > 3 ? es_end (s) - 3 : s->es_base);
  return st->pending->len > queued;
}

void
ts_stream_joined (TsState *st, Recording *rec, TsStream *s)
{
  recording_note (rec, "PID %u: the continuity counter breaks where a PES begins (a segment join?)", s->pid);
  if (s->in_pes) {
    s->bounded = FALSE;
    pes_complete (st, rec, s);
  }
  es_reset (s);
}

void
ts_stream_damaged (TsState *st, Recording *rec, TsStream *s, const char *why)
{
  (void) st;
  if (!s->damage_noted)
    recording_note (rec, "PID %u: %s; the samples they belong to are left out", s->pid, why);
  s->damage_noted = TRUE;
  es_reset (s);
  s->in_pes = FALSE;
}

void
ts_stream_payload (TsState *st, Recording *rec, TsStream *s, const TsHeader *h, guint64 packet, const guint8 *payload)
{
  gsize n = h->payload_len, used = 0;
  s->last_stuffed = h->stuffed;
  if (h->pusi) {
    s->in_pes = TRUE;
    s->in_header = TRUE;
    ts_pes_header_reset (&s->header);
  }
  if (!s->in_pes)
    return;
  if (s->in_header) {
    used = ts_pes_header_feed (&s->header, payload, n);
    if (!s->header.done)
      return;
    s->in_header = FALSE;
    if (s->header.bad) {
      ts_stream_damaged (st, rec, s, "a PES header is malformed");
      return;
    }
    TsPesStart p = { .es_pos = es_end (s), .has_pts = s->header.has_pts, .has_dts = s->header.has_dts,
                     .pts = s->header.pts, .dts = s->header.dts };
    if (s->pes->len >= 4096)
      g_array_remove_index (s->pes, 0);
    g_array_append_val (s->pes, p);
    guint32 header_rest = s->header.need - 6;
    s->bounded = s->header.packet_length != 0 && s->header.packet_length >= header_rest;
    s->pes_left = s->bounded ? s->header.packet_length - header_rest : 0;
  }
  if (used >= n)
    return;
  TsSpan span = { es_end (s), packet, (guint8) (h->payload_start + used) };
  g_array_append_val (s->spans, span);
  g_byte_array_append (s->es, payload + used, (guint) (n - used));
  gboolean complete = FALSE;
  if (s->bounded && s->pes_left > 0) {
    s->pes_left -= MIN (s->pes_left, (guint64) (n - used));
    complete = s->pes_left == 0;
  }
  if (s->kind == TS_KIND_VIDEO)
    process_video (st, rec, s);
  else
    process_audio (st, rec, s);
  if (complete)
    pes_complete (st, rec, s);
}

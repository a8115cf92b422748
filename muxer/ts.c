/* ts.c — MPEG-TS indexer: the IndexerClass, the packet loop, PAT and PMT,
 * and the locators of the produced payload (read by ts_gather.c). */
#include "ts_private.h"

#include <errno.h>
#include <string.h>

#define READ_WINDOW (1u << 20)

/* ---- state ------------------------------------------------------------------ */

static gpointer
ts_state_new (void)
{
  TsState *st = g_new0 (TsState, 1);
  st->streams = g_ptr_array_new_with_free_func ((GDestroyNotify) ts_stream_free);
  st->pending = g_array_new (FALSE, FALSE, sizeof (TsPending));
  st->resyncs = g_array_new (FALSE, FALSE, sizeof (guint64));
  ts_gather_init (st);
  return st;
}

static void
ts_state_free (gpointer data)
{
  TsState *st = data;
  g_ptr_array_unref (st->streams);
  g_array_unref (st->pending);
  g_array_unref (st->resyncs);
  ts_gather_clear (st);
  g_free (st);
}

static gsize
ts_memory (gpointer data)
{
  TsState *st = data;
  gsize total = st->resyncs->len * sizeof (guint64);
  for (guint i = 0; i < st->streams->len; i++)
    total += ts_locators_memory (&((TsStream *) g_ptr_array_index (st->streams, i))->locators);
  return total;
}

/* ---- PSI ----------------------------------------------------------------------- */

/* Collects a section that starts in a payload_unit_start packet; TRUE once it
 * is whole (and its CRC right). */
static gboolean
section_collect (TsSection *sec, const TsHeader *h, const guint8 *payload)
{
  ByteReader r;
  byte_reader_init (&r, payload, h->payload_len);
  if (h->pusi) {
    guint8 pointer;
    if (!byte_reader_u8 (&r, &pointer) || !byte_reader_skip (&r, pointer))
      return FALSE;
    sec->len = 0;
    sec->active = TRUE;
  }
  if (!sec->active)
    return FALSE;
  gsize n = MIN (byte_reader_remaining (&r), sizeof sec->buf - sec->len);
  memcpy (sec->buf + sec->len, r.data + r.pos, n);
  sec->len += (guint) n;
  if (sec->len < 3)
    return FALSE;
  guint total = 3 + ((sec->buf[1] & 0x0f) << 8 | sec->buf[2]);
  if (total > sizeof sec->buf) {
    sec->active = FALSE;
    return FALSE;
  }
  if (sec->len < total)
    return FALSE;
  sec->active = FALSE;
  sec->len = total;
  /* Tables repeat every few packets: an unchanged one is not parsed again. */
  if (total == sec->last_len && memcmp (sec->buf, sec->last, total) == 0)
    return FALSE;
  if (total < 12 || ts_crc32 (sec->buf, total) != 0)
    return FALSE;
  memcpy (sec->last, sec->buf, total);
  sec->last_len = total;
  return TRUE;
}

static void
parse_pat (TsState *st, TsSection *sec)
{
  if (sec->buf[0] != 0x00 || !(sec->buf[5] & 1))
    return;
  for (guint i = 8; i + 4 <= sec->len - 4; i += 4) {
    guint program = (guint) sec->buf[i] << 8 | sec->buf[i + 1];
    guint16 pid = (guint16) ((sec->buf[i + 2] & 0x1f) << 8 | sec->buf[i + 3]);
    if (program != 0) {
      if (!st->have_pat)
        st->pmt_pid = pid;
      st->have_pat = TRUE;
      return;
    }
  }
}

typedef struct {
  guint32 registration;
  gboolean ac3, eac3, opus, dvb_subtitles, teletext;
  guint8 opus_channels;
  char language[4];
} Descriptors;

static void
parse_descriptors (ByteReader r, Descriptors *d)
{
  guint8 tag, len;
  const guint8 *body;
  while (byte_reader_u8 (&r, &tag) && byte_reader_u8 (&r, &len) && byte_reader_bytes (&r, len, &body)) {
    switch (tag) {
    case 0x05:
      if (len >= 4)
        d->registration = (guint32) body[0] << 24 | (guint32) body[1] << 16 | (guint32) body[2] << 8 | body[3];
      break;
    case 0x0a:
      if (len >= 3 && g_ascii_isalpha (body[0]) && g_ascii_isalpha (body[1]) && g_ascii_isalpha (body[2]))
        for (int i = 0; i < 3; i++)
          d->language[i] = g_ascii_tolower ((char) body[i]);
      break;
    case 0x6a: d->ac3 = TRUE; break;
    case 0x7a: d->eac3 = TRUE; break;
    case 0x59: d->dvb_subtitles = TRUE; break;
    case 0x56: d->teletext = TRUE; break;
    case 0x7f:
      if (len >= 2 && body[0] == 0x80) {
        d->opus = TRUE;
        d->opus_channels = body[1];   /* channel_config_code */
      }
      break;
    default: break;
    }
  }
}

/* What a PMT entry carries; NULL with *why set if it is left out. */
static gboolean
classify (guint8 type, const Descriptors *d, TsKind *kind, TsVideoCodec *video, TsAudioCodec *audio, const char **why)
{
  *why = NULL;
  switch (type) {
  case 0x1b: *kind = TS_KIND_VIDEO; *video = TS_VIDEO_H264; return TRUE;
  case 0x24: *kind = TS_KIND_VIDEO; *video = TS_VIDEO_HEVC; return TRUE;
  case 0x0f: *kind = TS_KIND_AUDIO; *audio = TS_AUDIO_AAC; return TRUE;
  case 0x03: case 0x04: *kind = TS_KIND_AUDIO; *audio = TS_AUDIO_MPEG; return TRUE;
  case 0x81: *kind = TS_KIND_AUDIO; *audio = TS_AUDIO_AC3; return TRUE;
  case 0x87: *kind = TS_KIND_AUDIO; *audio = TS_AUDIO_EAC3; return TRUE;
  case 0x01: case 0x02: *kind = TS_KIND_VIDEO; *video = TS_VIDEO_MPEG2; return TRUE;
  case 0x11: *why = "LATM AAC cannot be carried in MP4"; return FALSE;
  case 0x15: *why = "timed ID3 metadata is not carried"; return FALSE;
  case 0x06:
    if (d->ac3 || d->registration == FOURCC ('A', 'C', '-', '3')) {
      *kind = TS_KIND_AUDIO;
      *audio = TS_AUDIO_AC3;
      return TRUE;
    }
    if (d->eac3 || d->registration == FOURCC ('E', 'A', 'C', '3')) {
      *kind = TS_KIND_AUDIO;
      *audio = TS_AUDIO_EAC3;
      return TRUE;
    }
    if (d->opus || d->registration == FOURCC ('O', 'p', 'u', 's')) {
      if (d->opus_channels == 0 || d->opus_channels > 2) {
        *why = "Opus with more than two channels is not carried yet";
        return FALSE;
      }
      *kind = TS_KIND_AUDIO;
      *audio = TS_AUDIO_OPUS;
      return TRUE;
    }
    if (d->dvb_subtitles) { *why = "DVB subtitles are not carried"; return FALSE; }
    if (d->teletext) { *why = "teletext is not carried"; return FALSE; }
    if (d->registration == FOURCC ('I', 'D', '3', ' ')) { *why = "timed ID3 metadata is not carried"; return FALSE; }
    /* No descriptor says what it is (FFmpeg's M2TS AAC): its first frame will. */
    *kind = TS_KIND_AUDIO;
    *audio = TS_AUDIO_PROBE;
    return TRUE;
  default:
    *why = "this stream type is not carried";
    return FALSE;
  }
}

static void
add_stream (TsState *st, Recording *rec, guint16 pid, guint8 type, const Descriptors *d)
{
  TsKind kind = TS_KIND_AUDIO;
  TsVideoCodec video = TS_VIDEO_H264;
  TsAudioCodec audio = TS_AUDIO_AAC;
  const char *why;
  if (!classify (type, d, &kind, &video, &audio, &why)) {
    recording_note (rec, "PID %u (stream type 0x%02x): %s; left out", pid, type, why);
    return;
  }
  if (st->streams->len >= RECORDING_MAX_TRACKS) {
    recording_note (rec, "PID %u: more than %d streams; left out", pid, RECORDING_MAX_TRACKS);
    return;
  }
  TsStream *s = ts_stream_new ();
  s->pid = pid;
  s->stream_type = type;
  s->kind = kind;
  s->video = video;
  s->audio = audio;
  s->index = st->streams->len;
  ts_video_config_init (&s->vconfig, video);
  memcpy (s->language, d->language[0] ? d->language : "und", 4);
  s->opus_channels = d->opus_channels;
  st->pid_stream[pid] = (guint8) (s->index + 1);

  /* read_payload walks the streams under the read lock. */
  recording_begin_append (rec);
  g_ptr_array_add (st->streams, s);
  Track *t = recording_add_track (rec);
  if (t) {
    t->id = s->index + 1;
    t->handler = kind == TS_KIND_VIDEO ? FOURCC ('v', 'i', 'd', 'e') : FOURCC ('s', 'o', 'u', 'n');
    t->language = codecs_pack_language (s->language);
    if (kind == TS_KIND_AUDIO)
      t->volume = 0x100;
  }
  recording_end_append (rec);
  s->track = t;
  s->left_out = t == NULL;
}

static void
parse_pmt (TsState *st, Recording *rec, TsSection *sec)
{
  if (sec->buf[0] != 0x02 || !(sec->buf[5] & 1))
    return;
  guint8 version = (sec->buf[5] >> 1) & 0x1f;
  ByteReader r;
  byte_reader_init (&r, sec->buf + 8, sec->len - 8 - 4);
  guint16 pcr, info_len;
  if (!byte_reader_u16 (&r, &pcr) || !byte_reader_u16 (&r, &info_len) || !byte_reader_skip (&r, info_len & 0x0fff))
    return;
  gboolean first = !st->have_pmt;
  if (!first && version == st->pmt_version)
    return;
  st->have_pmt = TRUE;
  st->pmt_version = version;
  guint8 type;
  guint16 pid, es_len;
  while (byte_reader_u8 (&r, &type) && byte_reader_u16 (&r, &pid) && byte_reader_u16 (&r, &es_len)) {
    pid &= 0x1fff;
    ByteReader dr;
    if (!byte_reader_sub (&r, es_len & 0x0fff, &dr))
      break;
    if (pid == 0 || pid == st->pmt_pid || pid == TS_PID_NULL)
      continue;
    if (!first) {
      if (!st->pid_stream[pid])
        recording_note (rec, "PID %u appears in a later PMT; ignored", pid);
      continue;
    }
    if (st->pid_stream[pid])
      continue;
    Descriptors d = { 0 };
    parse_descriptors (dr, &d);
    add_stream (st, rec, pid, type, &d);
  }
  st->rewind = first;
}

/* ---- packets ------------------------------------------------------------------- */

static void
handle_packet (TsState *st, Recording *rec, const guint8 *p, guint64 at)
{
  TsHeader h;
  if (!ts_header_parse (p, &h))
    return;
  if (h.tei) {
    if (!st->tei_noted)
      recording_note (rec, "packets with the transport error indicator set are dropped (first at %" G_GUINT64_FORMAT ")", at);
    st->tei_noted = TRUE;
    return;
  }
  if (h.pid == 0 && h.has_payload) {
    if (section_collect (&st->pat, &h, p + h.payload_start))
      parse_pat (st, &st->pat);
    return;
  }
  if (st->have_pat && h.pid == st->pmt_pid && h.has_payload) {
    if (section_collect (&st->pmt, &h, p + h.payload_start))
      parse_pmt (st, rec, &st->pmt);
    return;
  }
  guint idx = st->pid_stream[h.pid];
  if (!idx)
    return;
  TsStream *s = g_ptr_array_index (st->streams, idx - 1);
  if (s->left_out)
    return;
  if (h.scrambling) {
    recording_note (rec, "PID %u is scrambled; left out", s->pid);
    s->left_out = TRUE;
    return;
  }
  if (!h.has_payload)
    return;
  if (s->have_cc && h.cc == s->cc && !h.discontinuity)
    return;   /* the one allowed duplicate */
  gboolean broken = s->have_cc && h.cc != ((s->cc + 1) & 0x0f) && !h.discontinuity;
  s->have_cc = TRUE;
  s->cc = h.cc;
  if (broken && h.pusi) {
    /* A break where a PES begins: a segment join (HLS), or packets lost at
     * the end of the PES before.  The access unit before ends where its
     * data does, as FFmpeg keeps it. */
    ts_stream_joined (st, rec, s);
  } else if (broken) {
    ts_stream_damaged (st, rec, s, "packets are missing");
  }
  ts_stream_payload (st, rec, s, &h, at, p + h.payload_start);
}

static gboolean
ts_feed (gpointer data, Recording *rec, const Source *src)
{
  TsState *st = data;
  if (!st->format_known) {
    guint8 buf[4 * 1024];
    gsize n = (gsize) MIN (src->size, sizeof buf);
    if (!source_read (src, 0, buf, n) || ts_format_detect (buf, n, &st->format) != TS_FORMAT_YES)
      return TRUE;
    st->format_known = TRUE;
    st->pos = st->format.first;
  }
  TsReader r;
  ts_reader_init (&r, src, READ_WINDOW);
  r.back = 2 * 204 + TS_PACKET;   /* indexing reads forward */
  guint stride = st->format.stride;
  while (!rec->failed) {
    guint64 at;
    gboolean skipped;
    if (ts_next_packet (&r, stride, st->pos, &at, &skipped) != TS_NEXT_OK)
      break;
    if (at >= TS_MAX_SOURCE) {
      recording_fail (rec, "sources past %llu GiB are not indexed", TS_MAX_SOURCE >> 30);
      break;
    }
    if (skipped) {
      /* (Read again after the first PMT: recorded once.) */
      if (!st->resyncs->len || g_array_index (st->resyncs, guint64, st->resyncs->len - 1) < at) {
        recording_begin_append (rec);
        g_array_append_val (st->resyncs, at);
        recording_end_append (rec);
      }
      if (!st->resync_noted)
        recording_note (rec, "bytes that are no packets were skipped (first at %" G_GUINT64_FORMAT ")", st->pos);
      st->resync_noted = TRUE;
      /* The packet before may have been cut by them: every sample being
       * assembled is dropped. */
      for (guint i = 0; i < st->streams->len; i++)
        ts_stream_damaged (st, rec, g_ptr_array_index (st->streams, i), "bytes were lost");
    }
    const guint8 *p = ts_reader_get (&r, at, TS_PACKET);
    handle_packet (st, rec, p, at);
    st->pos = at + stride;
    if (st->rewind) {
      st->rewind = FALSE;
      st->pos = st->format.first;
    }
    if (st->pending->len >= TS_FLUSH_SAMPLES)
      ts_flush (st, rec, FALSE);
  }
  ts_reader_clear (&r);
  ts_flush (st, rec, FALSE);
  return !rec->failed;
}

/* The writer is done: the last access unit of each video stream (in an
 * unbounded PES, as FFmpeg writes them, or HEVC's) is complete if the source
 * ends with a whole packet (a writer cut short leaves part of one, and then
 * part of a frame too), and presentation time 0 is the earliest first
 * timestamp seen. */
static gboolean
ts_finish (gpointer data, Recording *rec, const Source *src)
{
  TsState *st = data;
  if (!st->format_known || rec->failed)
    return FALSE;
  /* The packet at pos - stride ends at pos, but M2TS's, whose timecode
   * comes first, 4 bytes earlier. */
  gboolean whole = src->size + (st->format.stride == 192 ? 4 : 0) == st->pos;
  gboolean completed = FALSE;
  for (guint i = 0; i < st->streams->len && whole; i++)
    completed |= ts_stream_finish (st, rec, g_ptr_array_index (st->streams, i));
  if (!st->origin_known && st->pending->len > 0) {
    gint64 min = G_MAXINT64;
    for (guint i = 0; i < st->streams->len; i++) {
      TsStream *s = g_ptr_array_index (st->streams, i);
      if (!s->left_out && s->has_first_ts)
        min = MIN (min, s->first_ts);
    }
    st->origin_known = min != G_MAXINT64;
    st->origin = min;
    completed = TRUE;   /* a stream not seen yet could have started earlier */
  }
  ts_flush (st, rec, FALSE);
  return completed;
}

static ProbeResult
ts_probe (const Source *src)
{
  guint8 buf[4 * 1024];
  gsize n = (gsize) MIN (src->size, sizeof buf);
  TsFormat f;
  if (!source_read (src, 0, buf, n))
    return PROBE_NO;
  switch (ts_format_detect (buf, n, &f)) {
  case TS_FORMAT_YES: return PROBE_YES;
  case TS_FORMAT_NEED_MORE: return PROBE_NEED_MORE;
  default: return PROBE_NO;
  }
}

const IndexerClass ts_indexer = {
  .name = "mpegts",
  .probe = ts_probe,
  .state_new = ts_state_new,
  .state_free = ts_state_free,
  .feed = ts_feed,
  .read_payload = ts_gather_read,
  .memory = ts_memory,
  .finish = ts_finish,
};

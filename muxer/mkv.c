/* mkv.c — Matroska / WebM indexer. */
#include "mkv.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "codecs.h"
#include "ebml.h"

/* Element IDs (RFC 8794 11, RFC 9559 5.1). */
#define ID_EBML 0x1A45DFA3
#define ID_EBML_MAX_ID_LENGTH 0x42F2
#define ID_EBML_MAX_SIZE_LENGTH 0x42F3
#define ID_DOCTYPE 0x4282
#define ID_SEGMENT 0x18538067
#define ID_SEEK_HEAD 0x114D9B74
#define ID_INFO 0x1549A966
#define ID_TIMESTAMP_SCALE 0x2AD7B1
#define ID_TRACKS 0x1654AE6B
#define ID_TRACK_ENTRY 0xAE
#define ID_TRACK_NUMBER 0xD7
#define ID_TRACK_TYPE 0x83
#define ID_CODEC_ID 0x86
#define ID_CODEC_PRIVATE 0x63A2
#define ID_DEFAULT_DURATION 0x23E383
#define ID_CODEC_DELAY 0x56AA
#define ID_LANGUAGE 0x22B59C
#define ID_CONTENT_ENCODINGS 0x6D80
#define ID_VIDEO 0xE0
#define ID_PIXEL_WIDTH 0xB0
#define ID_PIXEL_HEIGHT 0xBA
#define ID_DISPLAY_WIDTH 0x54B0
#define ID_DISPLAY_HEIGHT 0x54BA
#define ID_DISPLAY_UNIT 0x54B2
#define ID_COLOUR 0x55B0
#define ID_MATRIX_COEFFICIENTS 0x55B1
#define ID_CHROMA_SITING_HORZ 0x55B7
#define ID_CHROMA_SITING_VERT 0x55B8
#define ID_RANGE 0x55B9
#define ID_TRANSFER_CHARACTERISTICS 0x55BA
#define ID_PRIMARIES 0x55BB
#define ID_AUDIO 0xE1
#define ID_SAMPLING_FREQUENCY 0xB5
#define ID_OUTPUT_SAMPLING_FREQUENCY 0x78B5
#define ID_CHANNELS 0x9F
#define ID_CLUSTER 0x1F43B675
#define ID_CLUSTER_TIMESTAMP 0xE7
#define ID_SIMPLE_BLOCK 0xA3
#define ID_BLOCK_GROUP 0xA0
#define ID_BLOCK 0xA1
#define ID_BLOCK_DURATION 0x9B
#define ID_REFERENCE_BLOCK 0xFB
#define ID_DISCARD_PADDING 0x75A2
#define ID_CUES 0x1C53BB6B
#define ID_TAGS 0x1254C367
#define ID_CHAPTERS 0x1043A770
#define ID_ATTACHMENTS 0x1941A469

#define TRACK_TYPE_VIDEO 1
#define TRACK_TYPE_AUDIO 2

#define EBML_HEADER_MAX (64u * 1024)
#define BLOCK_PREFIX 256          /* block bytes read at first: header, lacing, codec peeks */
#define MAX_TRACK_ENTRIES 256
#define UNKNOWN_END G_MAXUINT64
/* Presentation times beyond this (in track ticks: 3000 years at 90 kHz) are
 * refused, so that no sum or difference of times can overflow. */
#define MAX_TICKS (G_GINT64_CONSTANT (1) << 53)

typedef enum {
  CODEC_NONE, CODEC_AVC, CODEC_HEVC, CODEC_AV1, CODEC_VP8, CODEC_VP9,
  CODEC_OPUS, CODEC_AAC, CODEC_FLAC, CODEC_AC3, CODEC_MPEG_AUDIO,
} Codec;

typedef struct {
  /* From the TrackEntry. */
  guint64 number;
  guint64 type;
  char *codec_id;
  GBytes *codec_private;
  guint64 default_duration_ns;
  guint64 codec_delay_ns;
  gboolean encoded;                /* ContentEncodings: compressed or encrypted frames */
  char *language;
  guint64 pixel_width, pixel_height, display_width, display_height, display_unit;
  VpxConfig colour;                /* Colour element, as vpcC fields */
  double sampling_frequency, output_sampling_frequency;
  guint64 channels;

  Codec codec;
  Track *track;                    /* NULL if left out */
  gboolean configured;             /* sample entry built */
  gboolean left_out;
  guint32 timescale;
  guint32 frame_samples;           /* constant audio frame duration, 0 if per frame */
  gint64 default_duration;         /* timescale units, 0 if unknown */
  gint64 codec_delay;              /* timescale units */

  /* Timing: frames awaiting their duration (queue sequence numbers). */
  GArray *held;
  gboolean committed;              /* video: reorder depth known */
  guint delay;
  gint64 pts_buffer[MKV_MAX_REORDER + 1];   /* the delay + 1 largest pts, ascending */
  gboolean timed;                  /* next_dts and edit_base are set */
  gint64 next_dts;                 /* output decode time of the next frame to finish */
  gint64 edit_base;
  gint64 last_duration;
  gint64 spacing;                  /* smallest pts step seen at commit */
  gint64 audio_offset;             /* composition offset of audio frames */
} MkvTrack;

typedef struct {
  guint64 offset;
  guint32 size;
  guint track;                     /* index into MkvState.tracks */
  gint64 pts;                      /* track timescale */
  gint64 block_duration;           /* track timescale, -1 if none */
  guint32 codec_duration;          /* audio samples from the codec, 0 if unknown */
  gboolean sync;
  gboolean ready;
  SampleInfo info;
} Frame;

typedef enum { LEVEL_TOP, LEVEL_SEGMENT, LEVEL_CLUSTER, LEVEL_DONE } Level;

typedef struct {
  Level level;
  guint64 pos;                     /* next element header */
  guint64 segment_end;             /* UNKNOWN_END while unknown */
  guint64 cluster_end;
  gboolean seen_ebml, seen_tracks, seen_cluster;
  guint64 timestamp_scale;         /* ns per Matroska tick */
  gint64 cluster_timestamp;
  GPtrArray *tracks;               /* MkvTrack* */
  GArray *frames;                  /* Frame, in file order; [0] has sequence number frames_base */
  guint64 frames_base;
  guint frames_done;               /* appended */
} MkvState;

typedef enum { STEP_CONTINUE, STEP_WAIT } Step;

/* ---- state ----------------------------------------------------------------- */

static void
mkv_track_free (MkvTrack *t)
{
  g_free (t->codec_id);
  g_free (t->language);
  g_clear_pointer (&t->codec_private, g_bytes_unref);
  g_clear_pointer (&t->held, g_array_unref);
  g_free (t);
}

static gpointer
mkv_state_new (void)
{
  MkvState *st = g_new0 (MkvState, 1);
  st->segment_end = UNKNOWN_END;
  st->cluster_end = UNKNOWN_END;
  st->timestamp_scale = 1000000;
  st->tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) mkv_track_free);
  st->frames = g_array_new (FALSE, FALSE, sizeof (Frame));
  return st;
}

static void
mkv_state_free (gpointer data)
{
  MkvState *st = data;
  g_ptr_array_unref (st->tracks);
  g_array_unref (st->frames);
  g_free (st);
}

static Frame *
frame_at (MkvState *st, guint64 seq)
{
  return &g_array_index (st->frames, Frame, seq - st->frames_base);
}

/* ---- time ------------------------------------------------------------------ */

/* ns * timescale / 1e9, rounded to nearest, without overflow for |ns| < 2^63. */
static gint64
ns_to_ticks (gint64 ns, guint32 timescale)
{
  const gint64 second = 1000000000;
  gboolean negative = ns < 0;
  guint64 a = negative ? (guint64) 0 - (guint64) ns : (guint64) ns;
  guint64 ticks = a / second * timescale + ((a % second) * timescale + second / 2) / second;
  return negative ? -(gint64) ticks : (gint64) ticks;
}

/* A video timescale in which Matroska ticks convert exactly: 90 kHz when the
 * tick divides it (the usual millisecond), else the tick rate itself. */
static guint32
video_timescale (guint64 timestamp_scale)
{
  const guint64 second = 1000000000;
  if (second % timestamp_scale != 0)
    return 90000;
  guint64 rate = second / timestamp_scale;
  return 90000 % rate == 0 ? 90000 : (guint32) rate;
}

/* ---- timing of held frames ------------------------------------------------- */

static void
frame_finish (Frame *f, gint64 duration, gint64 offset)
{
  f->info = (SampleInfo) {
    .size = f->size,
    .duration = (guint32) CLAMP (duration, 1, G_MAXUINT32),
    .composition_offset = (gint32) CLAMP (offset, G_MININT32, G_MAXINT32),
    .sync = f->sync,
    .description_index = 1,
  };
  f->ready = TRUE;
}

/* Finishes the video frame at seq given the ideal decode time of the next one. */
static void
video_finish (MkvState *st, MkvTrack *t, guint64 seq, gint64 next_dts)
{
  Frame *f = frame_at (st, seq);
  /* A reorder deeper than the one learnt would need a decode time going
   * back; keep decode order and let the composition offset absorb it. */
  gint64 duration = MAX (next_dts - t->next_dts, 1);
  duration = MIN (duration, (gint64) G_MAXUINT32);
  frame_finish (f, duration, f->pts - t->next_dts);
  t->next_dts += duration;
  t->last_duration = duration;
}

/* Keeps the delay + 1 largest presentation times seen; the smallest of them is
 * the decode time of the newest frame (FFmpeg's pts_buffer). */
static gint64
pts_buffer_push (MkvTrack *t, gint64 pts)
{
  gint64 *b = t->pts_buffer;
  if (pts > b[0]) {
    b[0] = pts;
    for (guint i = 0; i < t->delay && b[i] > b[i + 1]; i++) {
      gint64 tmp = b[i];
      b[i] = b[i + 1];
      b[i + 1] = tmp;
    }
  }
  return b[0];
}

/* Learns the reorder depth from the held frames and finishes all but the last. */
static void
video_commit (MkvState *st, MkvTrack *t)
{
  guint n = t->held->len;
  g_autofree gint64 *pts = g_new (gint64, MAX (n, 1));
  g_autofree gint64 *dts = g_new (gint64, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    pts[i] = frame_at (st, g_array_index (t->held, guint64, i))->pts;

  /* Depth: how many earlier frames (in decode order) a frame is shown before. */
  guint delay = 0;
  for (guint i = 0; i < n; i++) {
    guint earlier_later = 0;
    for (guint j = 0; j < i; j++)
      earlier_later += pts[j] > pts[i];
    delay = MAX (delay, earlier_later);
  }
  t->delay = MIN (delay, MKV_MAX_REORDER);

  gint64 spacing = 0;
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < n; j++)
      if (pts[j] > pts[i] && (spacing == 0 || pts[j] - pts[i] < spacing))
        spacing = pts[j] - pts[i];
  if (spacing == 0)
    spacing = t->default_duration > 0 ? t->default_duration : 1;
  t->spacing = spacing;

  for (guint i = 0; i <= MKV_MAX_REORDER; i++)
    t->pts_buffer[i] = G_MININT64;
  for (guint i = 0; i < n; i++)
    dts[i] = pts_buffer_push (t, pts[i]);
  /* The first `delay` frames precede any known decode time: space them out
   * before the first one that is known. */
  for (guint i = 0; i < t->delay && i < n; i++)
    dts[i] = dts[t->delay] - (gint64) (t->delay - i) * spacing;

  t->next_dts = dts[0];
  t->edit_base = dts[0];
  t->timed = TRUE;
  for (guint i = 0; i + 1 < n; i++)
    video_finish (st, t, g_array_index (t->held, guint64, i), dts[i + 1]);
  guint64 last = g_array_index (t->held, guint64, n - 1);
  g_array_set_size (t->held, 0);
  g_array_append_val (t->held, last);
  t->committed = TRUE;
}

/* Audio frames are finished as they arrive: their duration comes from the
 * codec.  Timestamps that stray from the running decode time by more than a
 * frame (a dropout, or a recorder clock running apart from the audio clock)
 * re-anchor the track through a composition offset, so presentation times
 * keep following the Matroska timestamps. */
static void
audio_arrive (MkvTrack *t, Frame *f)
{
  if (!t->timed) {
    t->next_dts = f->pts;
    t->edit_base = f->pts;
    t->timed = TRUE;
  }
  gint64 duration = f->codec_duration ? f->codec_duration
                    : t->default_duration > 0 ? t->default_duration
                    : t->last_duration > 0 ? t->last_duration : 1;
  duration = MIN (duration, (gint64) G_MAXUINT32);
  gint64 drift = f->pts - (t->next_dts + t->audio_offset);
  if (drift > duration || drift < -duration)
    t->audio_offset = f->pts - t->next_dts;
  frame_finish (f, duration, t->audio_offset);
  t->next_dts += duration;
  t->last_duration = duration;
}

/* Releases a track's held frames with an estimated last duration. */
static void
track_release (MkvState *st, MkvTrack *t)
{
  if (t->held->len == 0)
    return;
  if (!t->committed)
    video_commit (st, t);
  guint64 seq = g_array_index (t->held, guint64, 0);
  Frame *f = frame_at (st, seq);
  gint64 duration = f->block_duration > 0 ? f->block_duration
                    : t->default_duration > 0 ? t->default_duration
                    : t->last_duration > 0 ? t->last_duration
                    : t->spacing > 0 ? t->spacing : 1;
  video_finish (st, t, seq, t->next_dts + duration);
  g_array_set_size (t->held, 0);
}

static void
release_all (MkvState *st)
{
  for (guint i = 0; i < st->tracks->len; i++) {
    MkvTrack *t = g_ptr_array_index (st->tracks, i);
    if (t->held)
      track_release (st, t);
  }
}

static void
frame_arrive (MkvState *st, MkvTrack *t, guint64 seq)
{
  Frame *f = frame_at (st, seq);
  if (t->type == TRACK_TYPE_AUDIO) {
    audio_arrive (t, f);
    return;
  }
  if (!t->committed) {
    g_array_append_val (t->held, seq);
    /* VP8, VP9 and AV1 blocks are in presentation order: nothing to learn. */
    gboolean reorders = t->codec == CODEC_AVC || t->codec == CODEC_HEVC;
    if (t->held->len >= (reorders ? MKV_REORDER_LOOKAHEAD : 1))
      video_commit (st, t);
    return;
  }
  gint64 dts = pts_buffer_push (t, f->pts);
  if (t->held->len)   /* empty after a forced release: its duration is already given */
    video_finish (st, t, g_array_index (t->held, guint64, 0), dts);
  g_array_set_size (t->held, 0);
  g_array_append_val (t->held, seq);
}

/* Appends the finished frames at the head of the queue, in file order. */
static void
append_ready (MkvState *st, Recording *rec)
{
  if (st->frames_done < st->frames->len && g_array_index (st->frames, Frame, st->frames_done).ready) {
    recording_begin_append (rec);
    while (st->frames_done < st->frames->len) {
      Frame *f = &g_array_index (st->frames, Frame, st->frames_done);
      if (!f->ready)
        break;
      MkvTrack *t = g_ptr_array_index (st->tracks, f->track);
      if (t->track->table.count == 0) {
        /* Presentation time of decode time 0: the writer adds the decode
         * times of the samples to it. */
        t->track->edit_base = t->edit_base;
        t->track->first_decode_time = 0;
      }
      if (!recording_append_sample (rec, t->track, f->offset, &f->info))
        break;
      st->frames_done++;
    }
    recording_end_append (rec);
  }
  if (st->frames_done > 4096 || st->frames_done == st->frames->len) {
    g_array_remove_range (st->frames, 0, st->frames_done);
    st->frames_base += st->frames_done;
    st->frames_done = 0;
  }
}

static void
queue_frame (MkvState *st, Recording *rec, MkvTrack *t, guint track_index, const Frame *proto)
{
  Frame f = *proto;
  f.track = track_index;
  guint64 seq = st->frames_base + st->frames->len;
  g_array_append_val (st->frames, f);
  frame_arrive (st, t, seq);
  /* A track that stops sending frames must not hold the others back forever. */
  while (st->frames->len - st->frames_done > MKV_MAX_PENDING_FRAMES) {
    Frame *head = &g_array_index (st->frames, Frame, st->frames_done);
    if (head->ready) {
      append_ready (st, rec);
      if (rec->failed)
        break;
      continue;
    }
    track_release (st, g_ptr_array_index (st->tracks, head->track));
  }
}

/* ---- Tracks ---------------------------------------------------------------- */

static MkvTrack *
find_track (MkvState *st, guint64 number, guint *index)
{
  for (guint i = 0; i < st->tracks->len; i++) {
    MkvTrack *t = g_ptr_array_index (st->tracks, i);
    if (t->number == number) {
      if (index)
        *index = i;
      return t;
    }
  }
  return NULL;
}

static void
parse_colour (ByteReader r, VpxConfig *c)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  guint64 v, horz = 0, vert = 0;
  while (ebml_next_child (&r, &h, &b, &bad)) {
    if (!ebml_uint (b, &v))
      continue;
    switch (h.id) {
    case ID_MATRIX_COEFFICIENTS: c->matrix_coefficients = (guint8) MIN (v, 255); break;
    case ID_TRANSFER_CHARACTERISTICS: c->transfer_characteristics = (guint8) MIN (v, 255); break;
    case ID_PRIMARIES: c->colour_primaries = (guint8) MIN (v, 255); break;
    case ID_RANGE: c->full_range = v == 2; break;
    case ID_CHROMA_SITING_HORZ: horz = v; break;
    case ID_CHROMA_SITING_VERT: vert = v; break;
    default: break;
    }
  }
  /* Left-collocated horizontally, half vertically: vpcC's "4:2:0 vertical". */
  c->chroma_subsampling = horz == 1 && vert == 2 ? 0 : 1;
}

static void
parse_video (ByteReader r, MkvTrack *t)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  while (ebml_next_child (&r, &h, &b, &bad)) {
    switch (h.id) {
    case ID_PIXEL_WIDTH: ebml_uint (b, &t->pixel_width); break;
    case ID_PIXEL_HEIGHT: ebml_uint (b, &t->pixel_height); break;
    case ID_DISPLAY_WIDTH: ebml_uint (b, &t->display_width); break;
    case ID_DISPLAY_HEIGHT: ebml_uint (b, &t->display_height); break;
    case ID_DISPLAY_UNIT: ebml_uint (b, &t->display_unit); break;
    case ID_COLOUR: parse_colour (b, &t->colour); break;
    default: break;
    }
  }
}

static void
parse_audio (ByteReader r, MkvTrack *t)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  while (ebml_next_child (&r, &h, &b, &bad)) {
    switch (h.id) {
    case ID_SAMPLING_FREQUENCY: ebml_float (b, &t->sampling_frequency); break;
    case ID_OUTPUT_SAMPLING_FREQUENCY: ebml_float (b, &t->output_sampling_frequency); break;
    case ID_CHANNELS: ebml_uint (b, &t->channels); break;
    default: break;
    }
  }
}

static gboolean
parse_track_entry (ByteReader r, MkvTrack *t)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  codecs_vpx_config_init (&t->colour);
  t->channels = 1;
  t->sampling_frequency = 8000.0;   /* the specification's defaults */
  while (ebml_next_child (&r, &h, &b, &bad)) {
    switch (h.id) {
    case ID_TRACK_NUMBER: ebml_uint (b, &t->number); break;
    case ID_TRACK_TYPE: ebml_uint (b, &t->type); break;
    case ID_CODEC_ID: g_free (t->codec_id); t->codec_id = ebml_string (b); break;
    case ID_CODEC_PRIVATE:
      g_clear_pointer (&t->codec_private, g_bytes_unref);
      t->codec_private = g_bytes_new (b.data + b.pos, byte_reader_remaining (&b));
      break;
    case ID_DEFAULT_DURATION: ebml_uint (b, &t->default_duration_ns); break;
    case ID_CODEC_DELAY: ebml_uint (b, &t->codec_delay_ns); break;
    case ID_LANGUAGE: g_free (t->language); t->language = ebml_string (b); break;
    case ID_CONTENT_ENCODINGS: t->encoded = TRUE; break;
    case ID_VIDEO: parse_video (b, t); break;
    case ID_AUDIO: parse_audio (b, t); break;
    default: break;
    }
  }
  return !bad && t->number != 0 && t->codec_id != NULL;
}

static Codec
codec_from_id (guint64 type, const char *id)
{
  if (type == TRACK_TYPE_VIDEO) {
    if (strcmp (id, "V_MPEG4/ISO/AVC") == 0) return CODEC_AVC;
    if (strcmp (id, "V_MPEGH/ISO/HEVC") == 0) return CODEC_HEVC;
    if (strcmp (id, "V_AV1") == 0) return CODEC_AV1;
    if (strcmp (id, "V_VP8") == 0) return CODEC_VP8;
    if (strcmp (id, "V_VP9") == 0) return CODEC_VP9;
  } else if (type == TRACK_TYPE_AUDIO) {
    if (strcmp (id, "A_OPUS") == 0) return CODEC_OPUS;
    if (g_str_has_prefix (id, "A_AAC")) return CODEC_AAC;
    if (strcmp (id, "A_FLAC") == 0) return CODEC_FLAC;
    if (strcmp (id, "A_AC3") == 0) return CODEC_AC3;
    if (strcmp (id, "A_MPEG/L3") == 0 || strcmp (id, "A_MPEG/L2") == 0 || strcmp (id, "A_MPEG/L1") == 0)
      return CODEC_MPEG_AUDIO;
  }
  return CODEC_NONE;
}

/* A sampling frequency (an EBML float: any double, NaN included) as an
 * integer, or 0 when it is not a plausible one. */
static guint32
hz (double v)
{
  return v >= 1 && v < (double) G_MAXINT32 ? (guint32) v : 0;
}

/* The AudioSpecificConfig: CodecPrivate, or built from a legacy CodecID
 * ("A_AAC/MPEG4/LC/SBR") as FFmpeg's demuxer does. */
static gsize
aac_config (const MkvTrack *t, guint8 buf[10], const guint8 **asc)
{
  gsize len = 0;
  const guint8 *cp = t->codec_private ? g_bytes_get_data (t->codec_private, &len) : NULL;
  if (cp && len >= 2) {
    *asc = cp;
    return len;
  }
  guint profile = strstr (t->codec_id, "MAIN") ? 1 : strstr (t->codec_id, "SSR") ? 3
                  : strstr (t->codec_id, "LTP") ? 4 : 2;
  guint32 rate = hz (t->sampling_frequency);
  guint32 sbr = 0;
  if (strstr (t->codec_id, "SBR"))
    sbr = hz (t->output_sampling_frequency) ? hz (t->output_sampling_frequency) : 2 * rate;
  *asc = buf;
  return codecs_aac_config_build (buf, profile, rate, (guint) MIN (t->channels, 15), sbr);
}

static guint16
clamp16 (guint64 v)
{
  return (guint16) MIN (v, G_MAXUINT16);
}

/* Builds the sample entry; first is the track's first frame (NULL while none
 * is read), needed by the codecs configured in-band (VP9 without
 * CodecPrivate, AC-3, MPEG audio).  Returns NULL, with *wait set when that
 * is why. */
static GBytes *
sample_entry_build (MkvTrack *t, const guint8 *first, gsize first_len, gboolean *wait)
{
  ByteWriter w;
  gsize cp_len = 0;
  const guint8 *cp = t->codec_private ? g_bytes_get_data (t->codec_private, &cp_len) : NULL;
  guint16 width = clamp16 (t->pixel_width), height = clamp16 (t->pixel_height);
  gboolean ok = FALSE;

  *wait = (t->codec == CODEC_VP9 || t->codec == CODEC_AC3 || t->codec == CODEC_MPEG_AUDIO) && !first;
  if (*wait)
    return NULL;
  byte_writer_init (&w);
  byte_writer_u32 (&w, 1);   /* entry_count */
  switch (t->codec) {
  case CODEC_AVC:
    ok = codecs_write_avc1 (&w, width, height, cp, cp_len);
    break;
  case CODEC_HEVC:
    ok = codecs_write_hvc1 (&w, width, height, cp, cp_len);
    break;
  case CODEC_AV1:
    ok = codecs_write_av01 (&w, width, height, cp, cp_len);
    break;
  case CODEC_VP8:
  case CODEC_VP9: {
    VpxConfig c = t->colour;
    if (t->codec == CODEC_VP9) {
      codecs_vp9_config_from_keyframe (&c, first, first_len);
      if (cp)
        codecs_vp9_config_from_features (&c, cp, cp_len);
      if (c.level == 0)
        c.level = codecs_vp9_level (width, height);
    }
    ok = codecs_write_vpx (&w, t->codec == CODEC_VP9 ? FOURCC ('v', 'p', '0', '9') : FOURCC ('v', 'p', '0', '8'),
                           width, height, &c);
    break;
  }
  case CODEC_OPUS:
    ok = codecs_write_opus (&w, cp, cp_len, NULL);
    t->timescale = 48000;
    break;
  case CODEC_AAC: {
    guint8 buf[10];
    const guint8 *asc;
    gsize len = aac_config (t, buf, &asc);
    AacConfig ac;
    if (codecs_aac_config_parse (asc, len, &ac)) {
      guint channels = ac.channel_config == 7 ? 8 : ac.channel_config ? ac.channel_config : (guint) t->channels;
      ok = codecs_write_mp4a_aac (&w, clamp16 (t->number), (guint16) channels, ac.output_rate, asc, len);
      t->timescale = ac.output_rate;
      t->frame_samples = ac.frame_samples;
    }
    break;
  }
  case CODEC_FLAC: {
    FlacInfo info;
    ok = codecs_write_flac (&w, cp, cp_len, &info);
    t->timescale = ok ? info.sample_rate : 0;
    break;
  }
  case CODEC_AC3: {
    Ac3Info info;
    ok = codecs_ac3_parse (first, first_len, &info) && codecs_write_ac3 (&w, &info);
    t->timescale = ok ? info.sample_rate : 0;
    t->frame_samples = CODECS_AC3_FRAME_SAMPLES;
    break;
  }
  case CODEC_MPEG_AUDIO: {
    MpegAudioInfo info;
    ok = codecs_mpeg_audio_parse (first, first_len, &info) &&
         codecs_write_mp4a_mpeg_audio (&w, clamp16 (t->number), &info);
    t->timescale = ok ? info.sample_rate : 0;
    t->frame_samples = ok ? info.frame_samples : 0;
    break;
  }
  case CODEC_NONE:
    break;
  }
  if (!ok || t->timescale == 0) {
    byte_writer_clear (&w);
    return NULL;
  }
  return byte_writer_free_to_bytes (&w);
}

/* Completes the track's sample entry and timescale; until then the Track has
 * no samples and is not shown. */
static void
track_configure (MkvState *st, Recording *rec, MkvTrack *t, const guint8 *first, gsize first_len)
{
  gboolean wait;
  if (t->type == TRACK_TYPE_VIDEO)
    t->timescale = video_timescale (st->timestamp_scale);
  GBytes *entries = sample_entry_build (t, first, first_len, &wait);
  if (!entries) {
    if (!wait) {
      t->left_out = TRUE;
      recording_note (rec, "track %" G_GUINT64_FORMAT ": %s configuration is missing or malformed; left out",
                      t->number, t->codec_id);
    }
    return;
  }
  /* Durations end up in 32-bit stts entries; a delay is at most seconds. */
  t->default_duration = MIN (ns_to_ticks ((gint64) MIN (t->default_duration_ns, (guint64) G_MAXINT64 / 2), t->timescale),
                             (gint64) G_MAXUINT32);
  if (t->type == TRACK_TYPE_AUDIO)
    t->codec_delay = MIN (ns_to_ticks ((gint64) MIN (t->codec_delay_ns, (guint64) G_MAXINT64 / 2), t->timescale),
                          (gint64) G_MAXUINT32);
  const guint8 *e = g_bytes_get_data (entries, NULL);
  recording_begin_append (rec);
  t->track->timescale = t->timescale;
  t->track->codec = (guint32) e[8] << 24 | (guint32) e[9] << 16 | (guint32) e[10] << 8 | e[11];
  t->track->sample_descriptions = entries;
  recording_end_append (rec);
  t->configured = TRUE;
}

static void
track_add (MkvState *st, Recording *rec, MkvTrack *t)
{
  t->held = g_array_new (FALSE, FALSE, sizeof (guint64));
  t->codec = codec_from_id (t->type, t->codec_id);
  g_ptr_array_add (st->tracks, t);
  if (t->codec == CODEC_NONE || t->encoded) {
    t->left_out = TRUE;
    if (t->encoded && t->codec != CODEC_NONE)
      recording_note (rec, "track %" G_GUINT64_FORMAT ": compressed or encrypted frames cannot be carried in MP4; left out",
                      t->number);
    else
      recording_note (rec, "track %" G_GUINT64_FORMAT ": codec %s cannot be carried in MP4; left out", t->number,
                      t->codec_id);
    return;
  }
  /* Added now, in TrackEntry order, even when the sample entry waits for the
   * first frame: the output keeps the source's track order. */
  recording_begin_append (rec);
  Track *track = recording_add_track (rec);
  if (track) {
    track->id = t->number <= G_MAXUINT32 ? (guint32) t->number : rec->tracks->len;
    track->handler = t->type == TRACK_TYPE_VIDEO ? FOURCC ('v', 'i', 'd', 'e') : FOURCC ('s', 'o', 'u', 'n');
    track->language = codecs_pack_language (t->language ? t->language : "eng");
    if (t->type == TRACK_TYPE_VIDEO) {
      gboolean display = t->display_unit == 0 && t->display_width && t->display_height;
      track->width = (guint32) MIN (display ? t->display_width : t->pixel_width, 0xffff) << 16;
      track->height = (guint32) MIN (display ? t->display_height : t->pixel_height, 0xffff) << 16;
    } else {
      track->volume = 0x100;
    }
  }
  recording_end_append (rec);
  t->track = track;
  if (!track) {
    t->left_out = TRUE;
    return;
  }
  track_configure (st, rec, t, NULL, 0);
}

static gboolean
parse_tracks (MkvState *st, Recording *rec, ByteReader r)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  while (ebml_next_child (&r, &h, &b, &bad)) {
    if (h.id != ID_TRACK_ENTRY)
      continue;
    MkvTrack *t = g_new0 (MkvTrack, 1);
    if (!parse_track_entry (b, t)) {
      recording_note (rec, "a malformed TrackEntry is left out");
      mkv_track_free (t);
      continue;
    }
    if (find_track (st, t->number, NULL)) {
      mkv_track_free (t);   /* a repeated Tracks element, or a duplicate number */
      continue;
    }
    if (st->seen_cluster) {
      recording_note (rec, "track %" G_GUINT64_FORMAT " added after the first Cluster is ignored", t->number);
      mkv_track_free (t);
      continue;
    }
    if (st->tracks->len >= MAX_TRACK_ENTRIES) {
      mkv_track_free (t);
      recording_fail (rec, "more than %d track entries", MAX_TRACK_ENTRIES);
      return FALSE;
    }
    track_add (st, rec, t);
    if (rec->failed)
      return FALSE;
  }
  if (bad) {
    recording_fail (rec, "malformed Tracks element");
    return FALSE;
  }
  st->seen_tracks = TRUE;
  return TRUE;
}

static void
parse_info (MkvState *st, ByteReader r)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  guint64 v;
  while (ebml_next_child (&r, &h, &b, &bad))
    if (h.id == ID_TIMESTAMP_SCALE && ebml_uint (b, &v) && v > 0 && v <= 1000000000)
      st->timestamp_scale = v;
}

/* DocType "matroska" or "webm", and lengths this reader handles. */
static gboolean
ebml_header_ok (ByteReader r)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad, doctype_ok = FALSE;
  guint64 v;
  while (ebml_next_child (&r, &h, &b, &bad)) {
    if (h.id == ID_DOCTYPE) {
      g_autofree char *doctype = ebml_string (b);
      doctype_ok = strcmp (doctype, "matroska") == 0 || strcmp (doctype, "webm") == 0;
    } else if (h.id == ID_EBML_MAX_ID_LENGTH && ebml_uint (b, &v) && v > EBML_MAX_ID_LENGTH) {
      return FALSE;
    } else if (h.id == ID_EBML_MAX_SIZE_LENGTH && ebml_uint (b, &v) && v > EBML_MAX_SIZE_LENGTH) {
      return FALSE;
    }
  }
  return doctype_ok && !bad;
}

/* ---- blocks ---------------------------------------------------------------- */

/* Copies n bytes at file offset `at` from the block buffer when they are in
 * it, else from the source. */
static gsize
peek (const Source *src, const guint8 *buf, gsize buf_len, guint64 buf_offset, guint64 at, guint8 *out, gsize n)
{
  if (at >= buf_offset && at - buf_offset + n <= buf_len) {
    memcpy (out, buf + (at - buf_offset), n);
    return n;
  }
  return source_read (src, at, out, n) ? n : 0;
}

static gboolean
handle_block (MkvState *st, Recording *rec, const Source *src, guint64 body, guint64 size,
              gboolean simple, gboolean referenced, gint64 duration_ticks_raw, gint64 discard_ns)
{
  guint8 prefix[BLOCK_PREFIX];
  gsize prefix_len = (gsize) MIN (size, sizeof prefix);
  g_autofree guint8 *whole = NULL;
  const guint8 *buf = prefix;
  gsize buf_len = prefix_len;
  ByteReader r;
  guint64 number;
  guint index;

  if (!source_read (src, body, prefix, prefix_len)) {
    recording_fail (rec, "cannot read block at %" G_GUINT64_FORMAT ": %s", body, g_strerror (errno));
    return FALSE;
  }
  byte_reader_init (&r, prefix, prefix_len);
  if (matroska_block_track (r, &number) != EBML_OK) {
    recording_fail (rec, "malformed block at %" G_GUINT64_FORMAT, body);
    return FALSE;
  }
  MkvTrack *t = find_track (st, number, &index);
  if (!t || t->left_out)
    return TRUE;

  MatroskaBlock block;
  EbmlStatus s = matroska_block_parse (r, size, &block);
  if (s == EBML_NEED_MORE) {
    /* A long lacing header: read the whole block once. */
    whole = source_read_alloc (src, body, size, RECORDING_MAX_HEADER_BOX);
    if (!whole) {
      recording_fail (rec, "cannot read block at %" G_GUINT64_FORMAT ": %s", body, g_strerror (errno));
      return FALSE;
    }
    buf = whole;
    buf_len = size;
    byte_reader_init (&r, whole, size);
    s = matroska_block_parse (r, size, &block);
  }
  if (s != EBML_OK) {
    recording_fail (rec, "malformed block at %" G_GUINT64_FORMAT, body);
    return FALSE;
  }

  guint64 offset = body + block.header_len;
  if (!t->configured) {
    guint8 first[64];
    gsize n = peek (src, buf, buf_len, body, offset, first, MIN (block.frame_sizes[0], sizeof first));
    track_configure (st, rec, t, first, n);
    if (!t->configured)
      return TRUE;
  }

  /* Matroska ticks to the track's timescale; laced frames follow each other. */
  gint64 ticks = st->cluster_timestamp + block.timestamp;
  if (ticks > G_MAXINT64 / (gint64) st->timestamp_scale || ticks < G_MININT64 / (gint64) st->timestamp_scale) {
    recording_fail (rec, "block timestamp at %" G_GUINT64_FORMAT " out of range", body);
    return FALSE;
  }
  gint64 pts = ns_to_ticks (ticks * (gint64) st->timestamp_scale, t->timescale) - t->codec_delay;
  if (pts > MAX_TICKS || pts < -MAX_TICKS) {
    recording_fail (rec, "block timestamp at %" G_GUINT64_FORMAT " out of range", body);
    return FALSE;
  }
  gint64 block_duration = duration_ticks_raw >= 0 && duration_ticks_raw <= G_MAXINT64 / (gint64) st->timestamp_scale
                          ? ns_to_ticks (duration_ticks_raw * (gint64) st->timestamp_scale, t->timescale) : -1;
  block_duration = MIN (block_duration, (gint64) G_MAXUINT32);
  gboolean sync = simple ? (block.flags & MATROSKA_BLOCK_KEYFRAME) != 0 : !referenced;
  if (t->type == TRACK_TYPE_AUDIO)
    sync = TRUE;

  for (guint i = 0; i < block.n_frames; i++) {
    Frame f = {
      .offset = offset,
      .size = block.frame_sizes[i],
      .pts = pts,
      .block_duration = block.n_frames == 1 ? block_duration : -1,
      .codec_duration = t->frame_samples,
      .sync = sync,
    };
    guint8 head[16];
    gsize n;
    if (t->codec == CODEC_OPUS && (n = peek (src, buf, buf_len, body, offset, head, MIN (f.size, 2))) > 0)
      f.codec_duration = codecs_opus_packet_samples (head, n);
    else if (t->codec == CODEC_FLAC && (n = peek (src, buf, buf_len, body, offset, head, MIN (f.size, 16))) > 0)
      f.codec_duration = codecs_flac_frame_samples (head, n);
    if (i + 1 == block.n_frames && discard_ns > 0 && f.codec_duration) {
      /* DiscardPadding: the end of the last frame is not played (Opus end
       * trimming); a shorter duration ends the track's edit there. */
      gint64 cut = ns_to_ticks (discard_ns, t->timescale);
      f.codec_duration = cut < f.codec_duration ? (guint32) (f.codec_duration - cut) : 1;
    }
    if (f.size > 0)
      queue_frame (st, rec, t, index, &f);
    if (rec->failed)
      return FALSE;
    offset += f.size;
    gint64 step = f.codec_duration ? f.codec_duration : t->default_duration > 0 ? t->default_duration
                  : block_duration > 0 ? block_duration / block.n_frames : 0;
    pts += step;
  }
  return TRUE;
}

/* Reads an element header at pos, within [pos, limit). */
static EbmlStatus
read_header_at (const Source *src, guint64 pos, guint64 limit, EbmlHeader *h)
{
  guint8 buf[EBML_MAX_HEADER_LENGTH];
  if (pos >= src->size)
    return EBML_NEED_MORE;
  gsize avail = (gsize) MIN (src->size - pos, sizeof buf);
  if (limit != UNKNOWN_END)
    avail = (gsize) MIN (avail, limit - pos);
  if (!source_read (src, pos, buf, avail))
    return EBML_NEED_MORE;
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  EbmlStatus s = ebml_read_header (&r, h);
  if (s == EBML_NEED_MORE && limit != UNKNOWN_END && pos + avail >= limit && avail < sizeof buf)
    return EBML_INVALID;   /* cut by its parent's end */
  return s;
}

static gboolean
read_uint_at (const Source *src, guint64 pos, guint64 size, guint64 *out)
{
  guint8 buf[8];
  if (size > 8 || !source_read (src, pos, buf, (gsize) size))
    return FALSE;
  ByteReader r;
  byte_reader_init (&r, buf, (gsize) size);
  return ebml_uint (r, out);
}

static gboolean
read_sint_at (const Source *src, guint64 pos, guint64 size, gint64 *out)
{
  guint8 buf[8];
  if (size > 8 || !source_read (src, pos, buf, (gsize) size))
    return FALSE;
  ByteReader r;
  byte_reader_init (&r, buf, (gsize) size);
  return ebml_sint (r, out);
}

static gboolean
handle_block_group (MkvState *st, Recording *rec, const Source *src, guint64 body, guint64 size)
{
  guint64 p = body, end = body + size, block = 0, block_size = 0, duration = 0;
  gint64 discard = 0;
  gboolean has_block = FALSE, referenced = FALSE, has_duration = FALSE;
  while (p < end) {
    EbmlHeader h;
    if (read_header_at (src, p, end, &h) != EBML_OK || h.size == EBML_UNKNOWN_SIZE ||
        h.size > end - p - h.header_len) {
      recording_fail (rec, "malformed BlockGroup at %" G_GUINT64_FORMAT, body);
      return FALSE;
    }
    guint64 child = p + h.header_len;
    if (h.id == ID_BLOCK && !has_block) {
      has_block = TRUE;
      block = child;
      block_size = h.size;
    } else if (h.id == ID_BLOCK_DURATION) {
      has_duration = read_uint_at (src, child, h.size, &duration);
    } else if (h.id == ID_REFERENCE_BLOCK) {
      referenced = TRUE;
    } else if (h.id == ID_DISCARD_PADDING && !read_sint_at (src, child, h.size, &discard)) {
      discard = 0;
    }
    p = child + h.size;
  }
  if (!has_block)
    return TRUE;
  return handle_block (st, rec, src, block, block_size, FALSE, referenced,
                       has_duration && duration <= G_MAXINT64 ? (gint64) duration : -1, discard);
}

/* ---- the element walk -------------------------------------------------------- */

static void
segment_ended (MkvState *st)
{
  release_all (st);
}

/* Reads a whole element body of a header element (EBML header, Info, Tracks). */
static guint8 *
read_body (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h, guint64 max)
{
  if (h->size == EBML_UNKNOWN_SIZE || h->size > max) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " is too large or has no size", h->id, st->pos);
    return NULL;
  }
  guint8 *body = source_read_alloc (src, st->pos + h->header_len, h->size, max);
  if (!body)
    recording_fail (rec, "cannot read element at %" G_GUINT64_FORMAT ": %s", st->pos, g_strerror (errno));
  return body;
}

static gboolean
is_segment_child (guint32 id)
{
  switch (id) {
  case ID_CLUSTER: case ID_CUES: case ID_TAGS: case ID_INFO: case ID_TRACKS: case ID_SEEK_HEAD:
  case ID_CHAPTERS: case ID_ATTACHMENTS: case ID_EBML: case ID_SEGMENT:
    return TRUE;
  default:
    return FALSE;
  }
}

static Step
step_top (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h)
{
  guint64 end = st->pos + h->header_len + (h->size == EBML_UNKNOWN_SIZE ? 0 : h->size);
  if (h->id == ID_EBML) {
    if (h->size != EBML_UNKNOWN_SIZE && end > src->size)
      return STEP_WAIT;
    g_autofree guint8 *body = read_body (st, rec, src, h, EBML_HEADER_MAX);
    if (!body)
      return STEP_CONTINUE;
    ByteReader r;
    byte_reader_init (&r, body, h->size);
    if (!ebml_header_ok (r)) {
      recording_fail (rec, "EBML header is not one of a Matroska or WebM file");
      return STEP_CONTINUE;
    }
    st->seen_ebml = TRUE;
    st->pos = end;
  } else if (h->id == ID_SEGMENT) {
    if (!st->seen_ebml) {
      recording_fail (rec, "Segment before the EBML header");
      return STEP_CONTINUE;
    }
    st->pos += h->header_len;
    st->segment_end = h->size == EBML_UNKNOWN_SIZE ? UNKNOWN_END : end;
    st->level = LEVEL_SEGMENT;
  } else if (h->size == EBML_UNKNOWN_SIZE) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " has an unknown size", h->id, st->pos);
  } else {
    st->pos = end;   /* Void, CRC-32, padding */
  }
  return STEP_CONTINUE;
}

static Step
step_segment (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h)
{
  if (h->id == ID_EBML || h->id == ID_SEGMENT) {
    /* A second (chained) Segment: only the first is shown. */
    recording_note (rec, "a second Segment at %" G_GUINT64_FORMAT " is ignored", st->pos);
    segment_ended (st);
    st->level = LEVEL_DONE;
    return STEP_CONTINUE;
  }
  if (h->id == ID_CLUSTER) {
    if (!st->seen_tracks) {
      recording_fail (rec, "Cluster at %" G_GUINT64_FORMAT " before any Tracks", st->pos);
      return STEP_CONTINUE;
    }
    if (h->size != EBML_UNKNOWN_SIZE && h->size > st->segment_end - st->pos - h->header_len) {
      recording_fail (rec, "Cluster at %" G_GUINT64_FORMAT " overruns its Segment", st->pos);
      return STEP_CONTINUE;
    }
    st->seen_cluster = TRUE;
    st->pos += h->header_len;
    st->cluster_end = h->size == EBML_UNKNOWN_SIZE ? UNKNOWN_END : st->pos + h->size;
    st->cluster_timestamp = 0;
    st->level = LEVEL_CLUSTER;
    return STEP_CONTINUE;
  }
  if (h->size == EBML_UNKNOWN_SIZE) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " has an unknown size", h->id, st->pos);
    return STEP_CONTINUE;
  }
  if (h->size > st->segment_end - st->pos - h->header_len) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " overruns its Segment", h->id, st->pos);
    return STEP_CONTINUE;
  }
  guint64 end = st->pos + h->header_len + h->size;
  if (h->id == ID_INFO || h->id == ID_TRACKS) {
    if (end > src->size)
      return STEP_WAIT;
    g_autofree guint8 *body = read_body (st, rec, src, h, RECORDING_MAX_HEADER_BOX);
    if (!body)
      return STEP_CONTINUE;
    ByteReader r;
    byte_reader_init (&r, body, h->size);
    if (h->id == ID_TRACKS) {
      if (!parse_tracks (st, rec, r))
        return STEP_CONTINUE;
    } else if (!st->seen_cluster) {
      parse_info (st, r);
    }
  } else if (st->seen_cluster && (h->id == ID_CUES || h->id == ID_TAGS || h->id == ID_CHAPTERS ||
                                  h->id == ID_ATTACHMENTS)) {
    /* Written when the recording is finished: the held frames are final. */
    segment_ended (st);
  }
  st->pos = end;   /* SeekHead, Cues, Tags, Chapters, Attachments, Void, CRC-32 */
  return STEP_CONTINUE;
}

static Step
step_cluster (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h)
{
  if (st->cluster_end == UNKNOWN_END && is_segment_child (h->id)) {
    st->level = LEVEL_SEGMENT;   /* the element ends an unknown-size Cluster */
    return STEP_CONTINUE;
  }
  guint64 limit = MIN (st->cluster_end, st->segment_end);
  if (h->size == EBML_UNKNOWN_SIZE || (limit != UNKNOWN_END && h->size > limit - st->pos - h->header_len)) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " overruns its Cluster", h->id, st->pos);
    return STEP_CONTINUE;
  }
  guint64 body = st->pos + h->header_len;
  guint64 end = body + h->size;
  switch (h->id) {
  case ID_CLUSTER_TIMESTAMP: {
    guint64 v;
    if (end > src->size)
      return STEP_WAIT;
    if (!read_uint_at (src, body, h->size, &v) || v > G_MAXINT64 / 2) {
      recording_fail (rec, "malformed Cluster Timestamp at %" G_GUINT64_FORMAT, st->pos);
      return STEP_CONTINUE;
    }
    st->cluster_timestamp = (gint64) v;
    break;
  }
  case ID_SIMPLE_BLOCK:
  case ID_BLOCK_GROUP:
    if (end > src->size)
      return STEP_WAIT;   /* a frame is shown only once all of its bytes are there */
    if (h->id == ID_SIMPLE_BLOCK ? !handle_block (st, rec, src, body, h->size, TRUE, FALSE, -1, 0)
                                 : !handle_block_group (st, rec, src, body, h->size))
      return STEP_CONTINUE;
    break;
  default:
    break;   /* Position, PrevSize, Void, CRC-32, ... */
  }
  st->pos = end;
  return STEP_CONTINUE;
}

static Step
step (MkvState *st, Recording *rec, const Source *src)
{
  if (st->level == LEVEL_CLUSTER && st->cluster_end != UNKNOWN_END && st->pos >= st->cluster_end) {
    st->level = LEVEL_SEGMENT;
    return STEP_CONTINUE;
  }
  if (st->level != LEVEL_TOP && st->segment_end != UNKNOWN_END && st->pos >= st->segment_end) {
    segment_ended (st);
    st->level = LEVEL_DONE;
    return STEP_CONTINUE;
  }
  guint64 limit = st->level == LEVEL_CLUSTER ? MIN (st->cluster_end, st->segment_end)
                  : st->level == LEVEL_SEGMENT ? st->segment_end : UNKNOWN_END;
  EbmlHeader h;
  switch (read_header_at (src, st->pos, limit, &h)) {
  case EBML_NEED_MORE:
    return STEP_WAIT;
  case EBML_INVALID:
    recording_fail (rec, "damaged element header at %" G_GUINT64_FORMAT, st->pos);
    return STEP_CONTINUE;
  case EBML_OK:
    break;
  }
  switch (st->level) {
  case LEVEL_TOP: return step_top (st, rec, src, &h);
  case LEVEL_SEGMENT: return step_segment (st, rec, src, &h);
  case LEVEL_CLUSTER: return step_cluster (st, rec, src, &h);
  case LEVEL_DONE: break;
  }
  return STEP_WAIT;
}

static gboolean
mkv_feed (gpointer data, Recording *rec, const Source *src)
{
  MkvState *st = data;
  while (!rec->failed && st->level != LEVEL_DONE) {
    if (step (st, rec, src) == STEP_WAIT)
      break;
    if (st->frames->len - st->frames_done >= 1024)
      append_ready (st, rec);
  }
  if (rec->failed)
    release_all (st);   /* everything before the damage is good: show it */
  append_ready (st, rec);
  return !rec->failed;
}

static ProbeResult
mkv_probe (const Source *src)
{
  static const guint8 magic[4] = { 0x1a, 0x45, 0xdf, 0xa3 };
  guint8 buf[4096];
  gsize avail = (gsize) MIN (src->size, sizeof buf);
  if (!source_read (src, 0, buf, avail))
    return PROBE_NO;
  if (memcmp (buf, magic, MIN (avail, 4)) != 0)
    return PROBE_NO;
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  EbmlHeader h;
  EbmlStatus s = ebml_read_header (&r, &h);
  if (s == EBML_NEED_MORE)
    return PROBE_NEED_MORE;
  if (s != EBML_OK || h.size == EBML_UNKNOWN_SIZE || h.size > sizeof buf - h.header_len)
    return PROBE_NO;
  ByteReader body;
  if (!byte_reader_sub (&r, h.size, &body))
    return PROBE_NEED_MORE;
  return ebml_header_ok (body) ? PROBE_YES : PROBE_NO;
}

const IndexerClass mkv_indexer = {
  .name = "matroska",
  .probe = mkv_probe,
  .state_new = mkv_state_new,
  .state_free = mkv_state_free,
  .feed = mkv_feed,
};

/* mkv_tracks.c — Matroska Tracks: parses TrackEntry elements (with their
 * Video, Colour and Audio children) and maps each to a Track and its sample
 * entry through codecs.h, or leaves it out when MP4 cannot carry it. */
#include "mkv_private.h"

#include <string.h>

#define MAX_TRACK_ENTRIES 256

void
mkv_track_free (MkvTrack *t)
{
  g_free (t->codec_id);
  g_free (t->language);
  g_clear_pointer (&t->codec_private, g_bytes_unref);
  g_clear_pointer (&t->held, g_array_unref);
  g_free (t);
}

MkvTrack *
mkv_find_track (MkvState *st, guint64 number, guint *index)
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
void
mkv_track_configure (MkvState *st, Recording *rec, MkvTrack *t, const guint8 *first, gsize first_len)
{
  gboolean wait;
  if (t->type == TRACK_TYPE_VIDEO)
    t->timescale = mkv_video_timescale (st->timestamp_scale);
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
  t->default_duration = MIN (mkv_ns_to_ticks ((gint64) MIN (t->default_duration_ns, (guint64) G_MAXINT64 / 2), t->timescale),
                             (gint64) G_MAXUINT32);
  if (t->type == TRACK_TYPE_AUDIO)
    t->codec_delay = MIN (mkv_ns_to_ticks ((gint64) MIN (t->codec_delay_ns, (guint64) G_MAXINT64 / 2), t->timescale),
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
  mkv_track_configure (st, rec, t, NULL, 0);
}

gboolean
mkv_parse_tracks (MkvState *st, Recording *rec, ByteReader r)
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
    if (mkv_find_track (st, t->number, NULL)) {
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


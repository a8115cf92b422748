/* codecs.c — MP4 sample entries and frame durations for foreign codec configurations. */
#include "codecs.h"

#include <string.h>

/* ---- bits ------------------------------------------------------------------ */

typedef struct {
  const guint8 *data;
  gsize len;
  gsize bit;
} BitReader;

static gboolean
bits_read (BitReader *b, guint n, guint32 *out)
{
  guint32 v = 0;
  if (n > 32 || b->bit + n > b->len * 8)
    return FALSE;
  for (guint i = 0; i < n; i++, b->bit++)
    v = v << 1 | ((b->data[b->bit / 8] >> (7 - b->bit % 8)) & 1);
  *out = v;
  return TRUE;
}

typedef struct {
  guint8 *data;
  gsize cap;
  gsize bit;
} BitWriter;

static void
bits_put (BitWriter *b, guint n, guint32 v)
{
  for (guint i = 0; i < n && b->bit < b->cap * 8; i++, b->bit++)
    if ((v >> (n - 1 - i)) & 1)
      b->data[b->bit / 8] |= 0x80 >> (b->bit % 8);
}

/* ---- sample entries -------------------------------------------------------- */

/* SampleEntry and VisualSampleEntry fields (14496-12 8.5.2, 12.1.3). */
static gsize
visual_entry_begin (ByteWriter *w, guint32 fourcc, guint16 width, guint16 height)
{
  gsize box = box_begin (w, fourcc);
  byte_writer_zeros (w, 6);
  byte_writer_u16 (w, 1);            /* data_reference_index */
  byte_writer_zeros (w, 16);         /* pre_defined, reserved, pre_defined[3] */
  byte_writer_u16 (w, width);
  byte_writer_u16 (w, height);
  byte_writer_u32 (w, 0x00480000);   /* 72 dpi */
  byte_writer_u32 (w, 0x00480000);
  byte_writer_u32 (w, 0);
  byte_writer_u16 (w, 1);            /* frame_count */
  byte_writer_zeros (w, 32);         /* compressorname */
  byte_writer_u16 (w, 0x0018);       /* depth */
  byte_writer_u16 (w, 0xffff);       /* pre_defined = -1 */
  return box;
}

/* AudioSampleEntry version 0 fields (12.2.3).  The 16.16 rate field cannot
 * hold 64 kHz or more; like FFmpeg, 0 is written then (mdhd has the rate). */
static gsize
audio_entry_begin (ByteWriter *w, guint32 fourcc, guint16 channels, guint16 sample_size, guint32 rate)
{
  gsize box = box_begin (w, fourcc);
  byte_writer_zeros (w, 6);
  byte_writer_u16 (w, 1);            /* data_reference_index */
  byte_writer_zeros (w, 8);          /* reserved */
  byte_writer_u16 (w, channels);
  byte_writer_u16 (w, sample_size);
  byte_writer_u32 (w, 0);            /* pre_defined, reserved */
  byte_writer_u32 (w, rate <= G_MAXUINT16 ? rate << 16 : 0);
  return box;
}

static void
config_box (ByteWriter *w, guint32 type, const guint8 *data, gsize len)
{
  gsize box = box_begin (w, type);
  byte_writer_bytes (w, data, len);
  box_end (w, box);
}

gboolean
codecs_write_avc1 (ByteWriter *w, guint16 width, guint16 height, const guint8 *avcc, gsize len)
{
  /* configurationVersion 1, then profile, compatibility, level, length size. */
  if (!avcc || len < 7 || avcc[0] != 1)
    return FALSE;
  gsize box = visual_entry_begin (w, FOURCC ('a', 'v', 'c', '1'), width, height);
  config_box (w, FOURCC ('a', 'v', 'c', 'C'), avcc, len);
  box_end (w, box);
  return TRUE;
}

gboolean
codecs_write_hvc1 (ByteWriter *w, guint16 width, guint16 height, const guint8 *hvcc, gsize len)
{
  if (!hvcc || len < 23 || hvcc[0] != 1)
    return FALSE;
  gsize box = visual_entry_begin (w, FOURCC ('h', 'v', 'c', '1'), width, height);
  config_box (w, FOURCC ('h', 'v', 'c', 'C'), hvcc, len);
  box_end (w, box);
  return TRUE;
}

gboolean
codecs_write_av01 (ByteWriter *w, guint16 width, guint16 height, const guint8 *av1c, gsize len)
{
  /* marker (1) and version (1) in the first byte. */
  if (!av1c || len < 4 || av1c[0] != 0x81)
    return FALSE;
  gsize box = visual_entry_begin (w, FOURCC ('a', 'v', '0', '1'), width, height);
  config_box (w, FOURCC ('a', 'v', '1', 'C'), av1c, len);
  box_end (w, box);
  return TRUE;
}

void
codecs_vpx_config_init (VpxConfig *c)
{
  *c = (VpxConfig) {
    .profile = 0,
    .level = 0,
    .bit_depth = 8,
    .chroma_subsampling = 1,
    .full_range = FALSE,
    .colour_primaries = 2,
    .transfer_characteristics = 2,
    .matrix_coefficients = 2,
  };
}

gboolean
codecs_vp9_config_from_features (VpxConfig *c, const guint8 *data, gsize len)
{
  ByteReader r;
  byte_reader_init (&r, data, len);
  while (byte_reader_remaining (&r) > 0) {
    guint8 id, n, v;
    const guint8 *value;
    if (!byte_reader_u8 (&r, &id) || !byte_reader_u8 (&r, &n) || !byte_reader_bytes (&r, n, &value))
      return FALSE;
    if (n != 1)
      continue;
    v = value[0];
    switch (id) {
    case 1: if (v <= 3) c->profile = v; break;
    case 2: c->level = v; break;
    case 3: if (v == 8 || v == 10 || v == 12) c->bit_depth = v; break;
    case 4: if (v <= 3) c->chroma_subsampling = v; break;
    default: break;
    }
  }
  return TRUE;
}

gboolean
codecs_vp9_config_from_keyframe (VpxConfig *c, const guint8 *frame, gsize len)
{
  /* VP9 bitstream specification 6.2 uncompressed_header(), 6.2.2 color_config(). */
  BitReader b = { frame, len, 0 };
  guint32 marker, lo, hi, reserved, show_existing, frame_type, skip, sync, v;
  if (!bits_read (&b, 2, &marker) || marker != 2 || !bits_read (&b, 1, &lo) || !bits_read (&b, 1, &hi))
    return FALSE;
  guint profile = hi << 1 | lo;
  if (profile == 3 && !bits_read (&b, 1, &reserved))
    return FALSE;
  if (!bits_read (&b, 1, &show_existing) || show_existing || !bits_read (&b, 1, &frame_type) ||
      frame_type != 0 || !bits_read (&b, 2, &skip) || !bits_read (&b, 24, &sync) || sync != 0x498342)
    return FALSE;
  guint bit_depth = 8;
  if (profile >= 2) {
    if (!bits_read (&b, 1, &v))
      return FALSE;
    bit_depth = v ? 12 : 10;
  }
  guint32 color_space, range = 1, ss_x = 0, ss_y = 0;
  if (!bits_read (&b, 3, &color_space))
    return FALSE;
  if (color_space != 7) {   /* not CS_RGB */
    if (!bits_read (&b, 1, &range))
      return FALSE;
    if (profile == 1 || profile == 3) {
      if (!bits_read (&b, 1, &ss_x) || !bits_read (&b, 1, &ss_y))
        return FALSE;
    } else {
      ss_x = ss_y = 1;
    }
  }
  /* VP9 color_space to ISO/IEC 23091-4 MatrixCoefficients, as FFmpeg's decoder maps them. */
  static const guint8 matrix[8] = { 2, 5, 1, 6, 7, 9, 2, 0 };
  c->profile = (guint8) profile;
  c->bit_depth = (guint8) bit_depth;
  c->chroma_subsampling = ss_x && ss_y ? (c->chroma_subsampling == 0 ? 0 : 1) : ss_x ? 2 : 3;
  c->full_range = range != 0;
  c->matrix_coefficients = matrix[color_space];
  return TRUE;
}

gboolean
codecs_vp8_config_from_keyframe (VpxConfig *c, const guint8 *frame, gsize len)
{
  /* RFC 6386 9.1: frame tag bit 0 is 0 on key frames, bits 1-3 the version. */
  if (len < 10 || (frame[0] & 1) || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a)
    return FALSE;
  c->profile = (frame[0] >> 1) & 7;
  if (c->profile > 3)
    c->profile = 3;
  return TRUE;
}

guint8
codecs_vp9_level (guint width, guint height)
{
  /* VP9 levels by maximum luma picture size (webmproject.org/vp9/levels). */
  static const struct { guint64 size; guint8 level; } levels[] = {
    { 36864, 10 }, { 73728, 11 }, { 122880, 20 }, { 245760, 21 }, { 552960, 30 }, { 983040, 31 },
    { 2228224, 40 }, { 8912896, 50 }, { 35651584, 60 },
  };
  guint64 size = (guint64) width * height;
  for (gsize i = 0; i < G_N_ELEMENTS (levels); i++)
    if (size <= levels[i].size)
      return levels[i].level;
  return 62;
}

gboolean
codecs_write_vpx (ByteWriter *w, guint32 fourcc, guint16 width, guint16 height, const VpxConfig *c)
{
  if (c->profile > 3 || c->chroma_subsampling > 3 || (c->bit_depth != 8 && c->bit_depth != 10 && c->bit_depth != 12))
    return FALSE;
  gsize box = visual_entry_begin (w, fourcc, width, height);
  gsize vpcc = box_begin_full (w, FOURCC ('v', 'p', 'c', 'C'), 1, 0);
  byte_writer_u8 (w, c->profile);
  byte_writer_u8 (w, c->level);
  byte_writer_u8 (w, (guint8) (c->bit_depth << 4 | c->chroma_subsampling << 1 | (c->full_range ? 1 : 0)));
  byte_writer_u8 (w, c->colour_primaries);
  byte_writer_u8 (w, c->transfer_characteristics);
  byte_writer_u8 (w, c->matrix_coefficients);
  byte_writer_u16 (w, 0);   /* codecIntializationDataSize: none for VP8/VP9 */
  box_end (w, vpcc);
  box_end (w, box);
  return TRUE;
}

/* ---- Opus ------------------------------------------------------------------ */

gboolean
codecs_write_opus (ByteWriter *w, const guint8 *head, gsize len, guint16 *pre_skip_out)
{
  /* OpusHead (RFC 7845 5.1): magic, version, channels, pre-skip, input rate,
   * gain, mapping family and, for families other than 0, the mapping table;
   * little-endian, where dOps is big-endian. */
  if (!head || len < 19 || memcmp (head, "OpusHead", 8) != 0 || (head[8] & 0xf0) != 0 || head[9] == 0)
    return FALSE;
  guint8 channels = head[9];
  guint16 pre_skip = (guint16) (head[10] | head[11] << 8);
  guint32 input_rate = (guint32) head[12] | (guint32) head[13] << 8 | (guint32) head[14] << 16 |
                       (guint32) head[15] << 24;
  guint16 gain = (guint16) (head[16] | head[17] << 8);
  guint8 family = head[18];
  if (family != 0 && len < 21u + channels)
    return FALSE;
  if (family == 0 && channels > 2)
    return FALSE;

  gsize box = audio_entry_begin (w, FOURCC ('O', 'p', 'u', 's'), channels, 16, 48000);
  gsize dops = box_begin (w, FOURCC ('d', 'O', 'p', 's'));
  byte_writer_u8 (w, 0);   /* Version */
  byte_writer_u8 (w, channels);
  byte_writer_u16 (w, pre_skip);
  byte_writer_u32 (w, input_rate);
  byte_writer_u16 (w, gain);
  byte_writer_u8 (w, family);
  if (family != 0)
    byte_writer_bytes (w, head + 19, 2u + channels);   /* StreamCount, CoupledCount, ChannelMapping */
  box_end (w, dops);
  box_end (w, box);
  if (pre_skip_out)
    *pre_skip_out = pre_skip;
  return TRUE;
}

guint32
codecs_opus_packet_samples (const guint8 *packet, gsize len)
{
  if (len < 1)
    return 0;
  guint config = packet[0] >> 3;
  guint32 frame;   /* samples at 48 kHz */
  if (config < 12)
    frame = (guint32[]) { 480, 960, 1920, 2880 }[config & 3];    /* SILK 10/20/40/60 ms */
  else if (config < 16)
    frame = (config & 1) ? 960 : 480;                              /* hybrid 10/20 ms */
  else
    frame = (guint32[]) { 120, 240, 480, 960 }[config & 3];      /* CELT 2.5/5/10/20 ms */
  guint32 count;
  switch (packet[0] & 3) {
  case 0: count = 1; break;
  case 1:
  case 2: count = 2; break;
  default:
    if (len < 2)
      return 0;
    count = packet[1] & 0x3f;
    break;
  }
  guint32 total = frame * count;
  return count && total <= 5760 ? total : 0;   /* at most 120 ms (RFC 6716 3.2.5) */
}

/* ---- AAC ------------------------------------------------------------------- */

static const guint32 aac_rates[13] = {
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
};

static gboolean
read_aac_object_type (BitReader *b, guint *out)
{
  guint32 v, ext;
  if (!bits_read (b, 5, &v))
    return FALSE;
  if (v == 31) {
    if (!bits_read (b, 6, &ext))
      return FALSE;
    v = 32 + ext;
  }
  *out = v;
  return TRUE;
}

static gboolean
read_aac_rate (BitReader *b, guint32 *out)
{
  guint32 index;
  if (!bits_read (b, 4, &index))
    return FALSE;
  if (index == 15)
    return bits_read (b, 24, out) && *out > 0;
  if (index >= G_N_ELEMENTS (aac_rates))
    return FALSE;
  *out = aac_rates[index];
  return TRUE;
}

gboolean
codecs_aac_config_parse (const guint8 *asc, gsize len, AacConfig *out)
{
  BitReader b = { asc, len, 0 };
  guint aot;
  guint32 rate, channels, ext_rate = 0, frame_length = 0;
  if (!asc || !read_aac_object_type (&b, &aot) || !read_aac_rate (&b, &rate) || !bits_read (&b, 4, &channels))
    return FALSE;
  if (aot == 5 || aot == 29) {   /* explicit SBR / PS: the extension rate, then the core type */
    if (!read_aac_rate (&b, &ext_rate) || !read_aac_object_type (&b, &aot))
      return FALSE;
  }
  if (aot == 0)
    return FALSE;
  /* GASpecificConfig (14496-3 4.4.1) starts with frameLengthFlag for the GA types. */
  static const guint ga_types[] = { 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23 };
  for (gsize i = 0; i < G_N_ELEMENTS (ga_types); i++)
    if (aot == ga_types[i] && !bits_read (&b, 1, &frame_length))
      return FALSE;
  if (ext_rate == 0) {
    /* Backward-compatible SBR signalling after the core config (sync extension 0x2b7). */
    guint32 sync, ext_type, present;
    BitReader t = b;
    guint32 skip;
    if (aot == 2 || aot == 1 || aot == 3 || aot == 4) {
      /* dependsOnCoreCoder (1, + 14 bits) and extensionFlag (1) precede it. */
      guint32 depends;
      if (bits_read (&t, 1, &depends) && (!depends || bits_read (&t, 14, &skip)) && bits_read (&t, 1, &skip) &&
          channels != 0 && bits_read (&t, 11, &sync) && sync == 0x2b7 && bits_read (&t, 5, &ext_type) &&
          ext_type == 5 && bits_read (&t, 1, &present) && present) {
        guint32 r;
        if (read_aac_rate (&t, &r))
          ext_rate = r;
      }
    }
  }
  out->object_type = aot;
  out->sample_rate = rate;
  out->channel_config = channels;
  out->frame_samples = frame_length ? 960 : 1024;
  out->output_rate = rate;
  if (ext_rate == 2 * rate) {
    out->output_rate = ext_rate;
    out->frame_samples *= 2;
  }
  return TRUE;
}

static void
put_aac_rate (BitWriter *b, guint32 rate)
{
  for (guint i = 0; i < G_N_ELEMENTS (aac_rates); i++)
    if (aac_rates[i] == rate) {
      bits_put (b, 4, i);
      return;
    }
  bits_put (b, 4, 15);
  bits_put (b, 24, rate);
}

gsize
codecs_aac_config_build (guint8 out[10], guint object_type, guint32 sample_rate, guint channels, guint32 sbr_rate)
{
  BitWriter b = { out, 10, 0 };
  memset (out, 0, 10);
  bits_put (&b, 5, object_type);
  put_aac_rate (&b, sample_rate);
  bits_put (&b, 4, channels);
  bits_put (&b, 3, 0);   /* GASpecificConfig: 1024 samples, no core coder, no extension */
  if (sbr_rate) {
    bits_put (&b, 11, 0x2b7);
    bits_put (&b, 5, 5);  /* SBR */
    bits_put (&b, 1, 1);
    put_aac_rate (&b, sbr_rate);
  }
  return (b.bit + 7) / 8;
}

/* An MPEG-4 descriptor header (14496-1 8.3.3) in the four-byte size form FFmpeg writes. */
static void
descriptor (ByteWriter *w, guint8 tag, guint32 size)
{
  byte_writer_u8 (w, tag);
  for (int i = 3; i > 0; i--)
    byte_writer_u8 (w, (guint8) ((size >> (7 * i)) | 0x80));
  byte_writer_u8 (w, size & 0x7f);
}

/* 'esds' (14496-14 5.6): an ES_Descriptor whose DecoderConfigDescriptor
 * carries the objectTypeIndication and, if any, the DecoderSpecificInfo. */
static void
write_esds_of (ByteWriter *w, guint16 es_id, guint8 object_type, guint8 stream_type, const guint8 *dsi,
               gsize dsi_len)
{
  gsize esds = box_begin_full (w, FOURCC ('e', 's', 'd', 's'), 0, 0);
  guint32 dsi_size = dsi_len ? 5 + (guint32) dsi_len : 0;
  guint32 dcd = 5 + 13 + dsi_size;
  descriptor (w, 0x03, 3 + dcd + 5 + 1);       /* ES_Descriptor */
  byte_writer_u16 (w, es_id);
  byte_writer_u8 (w, 0);                         /* no dependence, URL or OCR stream */
  descriptor (w, 0x04, 13 + dsi_size);           /* DecoderConfigDescriptor */
  byte_writer_u8 (w, object_type);
  byte_writer_u8 (w, (guint8) (stream_type << 2 | 1));   /* streamType (4 visual, 5 audio), reserved 1 */
  byte_writer_u24 (w, 0);                        /* bufferSizeDB */
  byte_writer_u32 (w, 0);                        /* maxBitrate */
  byte_writer_u32 (w, 0);                        /* avgBitrate */
  if (dsi_len) {
    descriptor (w, 0x05, (guint32) dsi_len);     /* DecoderSpecificInfo */
    byte_writer_bytes (w, dsi, dsi_len);
  }
  descriptor (w, 0x06, 1);                       /* SLConfigDescriptor */
  byte_writer_u8 (w, 0x02);                      /* predefined: MP4 */
  box_end (w, esds);
}

static void
write_esds (ByteWriter *w, guint16 es_id, guint8 object_type, const guint8 *dsi, gsize dsi_len)
{
  write_esds_of (w, es_id, object_type, 0x05, dsi, dsi_len);
}

gboolean
codecs_write_mp4a_aac (ByteWriter *w, guint16 es_id, guint16 channels, guint32 sample_rate,
                       const guint8 *asc, gsize len)
{
  AacConfig config;
  if (!codecs_aac_config_parse (asc, len, &config) || len > 1024)
    return FALSE;
  gsize box = audio_entry_begin (w, FOURCC ('m', 'p', '4', 'a'), channels, 16, sample_rate);
  write_esds (w, es_id, 0x40, asc, len);         /* MPEG-4 audio */
  box_end (w, box);
  return TRUE;
}

/* ---- MPEG-1/2 audio (MP3, MP2) ---------------------------------------------- */

gboolean
codecs_mpeg_audio_parse (const guint8 *frame, gsize len, MpegAudioInfo *out)
{
  /* ISO/IEC 11172-3 2.4.1.3 and 13818-3 header: sync, version, layer,
   * protection, bitrate, sampling frequency, padding, private, mode. */
  static const guint32 rates[3] = { 44100, 48000, 32000 };
  if (len < 4 || frame[0] != 0xff || (frame[1] & 0xe0) != 0xe0)
    return FALSE;
  guint version = (frame[1] >> 3) & 3;   /* 0 MPEG-2.5, 1 reserved, 2 MPEG-2, 3 MPEG-1 */
  guint layer = 4 - ((frame[1] >> 1) & 3);
  guint bitrate = frame[2] >> 4, rate_index = (frame[2] >> 2) & 3;
  if (version == 1 || layer == 4 || bitrate == 15 || rate_index == 3)
    return FALSE;
  guint32 rate = rates[rate_index] >> (version == 3 ? 0 : version == 2 ? 1 : 2);
  *out = (MpegAudioInfo) {
    .sample_rate = rate,
    .channels = (frame[3] >> 6) == 3 ? 1 : 2,
    .frame_samples = layer == 1 ? 384 : layer == 2 || version == 3 ? 1152 : 576,
    .object_type = version == 3 ? 0x6b : 0x69,   /* 11172-3, or 13818-3 for the lower rates */
  };
  return TRUE;
}

gboolean
codecs_write_mp4a_mpeg_audio (ByteWriter *w, guint16 es_id, const MpegAudioInfo *info)
{
  gsize box = audio_entry_begin (w, FOURCC ('m', 'p', '4', 'a'), (guint16) info->channels, 16, info->sample_rate);
  write_esds (w, es_id, info->object_type, NULL, 0);
  box_end (w, box);
  return TRUE;
}

/* ---- FLAC ------------------------------------------------------------------ */

gboolean
codecs_write_flac (ByteWriter *w, const guint8 *header, gsize len, FlacInfo *info)
{
  const guint8 *streaminfo = NULL;
  if (!header)
    return FALSE;
  if (len == 34) {
    streaminfo = header;
  } else {
    ByteReader r;
    const guint8 *magic;
    byte_reader_init (&r, header, len);
    if (!byte_reader_bytes (&r, 4, &magic) || memcmp (magic, "fLaC", 4) != 0)
      return FALSE;
    /* STREAMINFO must be the first metadata block. */
    guint8 type;
    guint32 block_len;
    if (!byte_reader_u8 (&r, &type) || (type & 0x7f) != 0 || !byte_reader_u24 (&r, &block_len) ||
        block_len != 34 || !byte_reader_bytes (&r, 34, &streaminfo))
      return FALSE;
  }
  BitReader b = { streaminfo, 34, 0 };
  guint32 min_block, max_block, skip, rate, channels, bits;
  if (!bits_read (&b, 16, &min_block) || !bits_read (&b, 16, &max_block) || !bits_read (&b, 24, &skip) ||
      !bits_read (&b, 24, &skip) || !bits_read (&b, 20, &rate) || !bits_read (&b, 3, &channels) ||
      !bits_read (&b, 5, &bits) || rate == 0 || max_block < 16)
    return FALSE;

  gsize box = audio_entry_begin (w, FOURCC ('f', 'L', 'a', 'C'), (guint16) (channels + 1), (guint16) (bits + 1), rate);
  gsize dfla = box_begin_full (w, FOURCC ('d', 'f', 'L', 'a'), 0, 0);
  byte_writer_u8 (w, 0x80);    /* last metadata block, type STREAMINFO */
  byte_writer_u24 (w, 34);
  byte_writer_bytes (w, streaminfo, 34);
  box_end (w, dfla);
  box_end (w, box);
  if (info)
    *info = (FlacInfo) { rate, channels + 1, bits + 1, min_block, max_block };
  return TRUE;
}

guint32
codecs_flac_frame_samples (const guint8 *frame, gsize len)
{
  /* Sync code 0b11111111111110, reserved 0, blocking strategy. */
  if (len < 5 || frame[0] != 0xff || (frame[1] & 0xfe) != 0xf8)
    return 0;
  guint code = frame[2] >> 4;
  /* The frame or sample number, UTF-8 coded in 1 to 7 bytes: the count of
   * leading one bits gives the length (none: one byte; one: invalid). */
  guint ones = 0;
  while (ones < 8 && (frame[4] & (0x80 >> ones)))
    ones++;
  if (ones == 1 || ones == 8)
    return 0;
  gsize at = 4 + (ones == 0 ? 1 : ones);
  switch (code) {
  case 0: return 0;
  case 1: return 192;
  case 2: case 3: case 4: case 5: return 576u << (code - 2);
  case 6: return at + 1 <= len ? frame[at] + 1u : 0;
  case 7: return at + 2 <= len ? (guint32) (frame[at] << 8 | frame[at + 1]) + 1u : 0;
  default: return 256u << (code - 8);
  }
}

/* ---- AC-3 ------------------------------------------------------------------ */

gboolean
codecs_ac3_parse (const guint8 *frame, gsize len, Ac3Info *out)
{
  BitReader b = { frame, len, 0 };
  guint32 sync, crc, fscod, frmsizecod, bsid, bsmod, acmod, skip, lfeon;
  if (!bits_read (&b, 16, &sync) || sync != 0x0b77 || !bits_read (&b, 16, &crc) || !bits_read (&b, 2, &fscod) ||
      fscod == 3 || !bits_read (&b, 6, &frmsizecod) || frmsizecod >= 38 || !bits_read (&b, 5, &bsid) ||
      bsid > 8 || !bits_read (&b, 3, &bsmod) || !bits_read (&b, 3, &acmod))
    return FALSE;
  if ((acmod & 1) && acmod != 1 && !bits_read (&b, 2, &skip))   /* cmixlev */
    return FALSE;
  if ((acmod & 4) && !bits_read (&b, 2, &skip))                 /* surmixlev */
    return FALSE;
  if (acmod == 2 && !bits_read (&b, 2, &skip))                  /* dsurmod */
    return FALSE;
  if (!bits_read (&b, 1, &lfeon))
    return FALSE;
  static const guint8 channels[8] = { 2, 1, 2, 3, 3, 4, 4, 5 };
  static const guint32 rates[3] = { 48000, 44100, 32000 };
  *out = (Ac3Info) {
    .sample_rate = rates[fscod],
    .channels = channels[acmod] + lfeon,
    .fscod = (guint8) fscod,
    .bsid = (guint8) bsid,
    .bsmod = (guint8) bsmod,
    .acmod = (guint8) acmod,
    .lfeon = (guint8) lfeon,
    .bit_rate_code = (guint8) (frmsizecod >> 1),
  };
  return TRUE;
}

gboolean
codecs_write_ac3 (ByteWriter *w, const Ac3Info *info)
{
  guint8 dac3[3] = { 0 };
  BitWriter b = { dac3, 3, 0 };
  bits_put (&b, 2, info->fscod);
  bits_put (&b, 5, info->bsid);
  bits_put (&b, 3, info->bsmod);
  bits_put (&b, 3, info->acmod);
  bits_put (&b, 1, info->lfeon);
  bits_put (&b, 5, info->bit_rate_code);
  bits_put (&b, 5, 0);
  gsize box = audio_entry_begin (w, FOURCC ('a', 'c', '-', '3'), (guint16) info->channels, 16, info->sample_rate);
  config_box (w, FOURCC ('d', 'a', 'c', '3'), dac3, 3);
  box_end (w, box);
  return TRUE;
}

/* ---- MPEG-2 video ------------------------------------------------------------ */

gboolean
codecs_write_mp4v (ByteWriter *w, guint16 es_id, guint8 object_type, guint16 width, guint16 height,
                   const guint8 *dsi, gsize dsi_len)
{
  if (width == 0 || height == 0)
    return FALSE;
  gsize box = visual_entry_begin (w, FOURCC ('m', 'p', '4', 'v'), width, height);
  write_esds_of (w, es_id, object_type, 0x04, dsi, dsi_len);
  box_end (w, box);
  return TRUE;
}

/* ---- E-AC-3 ---------------------------------------------------------------- */

gboolean
codecs_eac3_parse (const guint8 *frame, gsize len, Eac3Info *out)
{
  BitReader b = { frame, len, 0 };
  guint32 sync, strmtyp, substream, frmsiz, fscod, code, acmod, lfeon, bsid;
  static const guint32 rates[3] = { 48000, 44100, 32000 };
  static const guint8 blocks[4] = { 1, 2, 3, 6 };
  static const guint8 channels[8] = { 2, 1, 2, 3, 3, 4, 4, 5 };
  if (!bits_read (&b, 16, &sync) || sync != 0x0b77 || !bits_read (&b, 2, &strmtyp) || strmtyp == 3 ||
      !bits_read (&b, 3, &substream) || !bits_read (&b, 11, &frmsiz) || !bits_read (&b, 2, &fscod) ||
      !bits_read (&b, 2, &code) || !bits_read (&b, 3, &acmod) || !bits_read (&b, 1, &lfeon) ||
      !bits_read (&b, 5, &bsid) || bsid <= 10 || bsid > 16 || (fscod == 3 && code == 3))
    return FALSE;
  guint32 rate = fscod == 3 ? rates[code] / 2 : rates[fscod];
  guint32 samples = fscod == 3 ? 1536 : 256u * blocks[code];
  guint64 bytes = ((guint64) frmsiz + 1) * 2;
  *out = (Eac3Info) {
    .sample_rate = rate,
    .channels = channels[acmod] + lfeon,
    .fscod = (guint8) fscod,
    .bsid = (guint8) bsid,
    .acmod = (guint8) acmod,
    .lfeon = (guint8) lfeon,
    .data_rate = (guint16) MIN (bytes * 8 * rate / samples / 1000, 8191),
    .frame_samples = samples,
  };
  return TRUE;
}

gboolean
codecs_write_eac3 (ByteWriter *w, const Eac3Info *info)
{
  guint8 dec3[5] = { 0 };
  BitWriter b = { dec3, 5, 0 };
  bits_put (&b, 13, info->data_rate);
  bits_put (&b, 3, 0);               /* num_ind_sub - 1 */
  bits_put (&b, 2, info->fscod);
  bits_put (&b, 5, info->bsid);
  bits_put (&b, 1, 0);               /* reserved */
  bits_put (&b, 1, 0);               /* asvc */
  bits_put (&b, 3, 0);               /* bsmod: lies deep in the bsi; 0, complete main */
  bits_put (&b, 3, info->acmod);
  bits_put (&b, 1, info->lfeon);
  bits_put (&b, 3, 0);               /* reserved */
  bits_put (&b, 4, 0);               /* num_dep_sub */
  bits_put (&b, 1, 0);               /* reserved */
  gsize box = audio_entry_begin (w, FOURCC ('e', 'c', '-', '3'), (guint16) info->channels, 16, info->sample_rate);
  config_box (w, FOURCC ('d', 'e', 'c', '3'), dec3, 5);
  box_end (w, box);
  return TRUE;
}

/* ---- language -------------------------------------------------------------- */

guint16
codecs_pack_language (const char *code)
{
  if (!code || strlen (code) != 3)
    return 0x55c4;
  guint16 v = 0;
  for (int i = 0; i < 3; i++) {
    if (code[i] < 'a' || code[i] > 'z')
      return 0x55c4;
    v = (guint16) (v << 5 | (code[i] - 0x60));
  }
  return v;
}

/* test-codecs.c — each sample entry builder writes the expected bytes; frame
 * duration helpers read codec headers right and refuse malformed ones. */
#include <string.h>

#include "muxer/codecs.h"

/* VisualSampleEntry fields after the box header, for 64x48. */
static const guint8 visual_64x48[78] = {
  0, 0, 0, 0, 0, 0, 0, 1,                                  /* reserved, data_reference_index */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* pre_defined, reserved, pre_defined[3] */
  0, 64, 0, 48,                                            /* width, height */
  0, 0x48, 0, 0, 0, 0x48, 0, 0,                            /* 72 dpi */
  0, 0, 0, 0,                                              /* reserved */
  0, 1,                                                    /* frame_count */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* compressorname */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0x18, 0xff, 0xff,                                     /* depth, pre_defined -1 */
};

/* AudioSampleEntry fields after the box header. */
static void
audio_fields (guint8 out[28], guint16 channels, guint16 sample_size, guint32 rate)
{
  memset (out, 0, 28);
  out[7] = 1;
  out[16] = (guint8) (channels >> 8);
  out[17] = (guint8) channels;
  out[18] = (guint8) (sample_size >> 8);
  out[19] = (guint8) sample_size;
  out[24] = (guint8) (rate >> 8);
  out[25] = (guint8) rate;
}

/* Checks a box header, then returns the bytes after it. */
static const guint8 *
expect_box (GByteArray *buf, gsize at, guint32 size, const char *type)
{
  g_assert_cmpuint (buf->len, >=, at + size);
  const guint8 *p = buf->data + at;
  g_assert_cmpuint ((guint32) p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3], ==, size);
  g_assert_cmpmem (p + 4, 4, type, 4);
  return p + 8;
}

static void
test_avc1 (void)
{
  static const guint8 avcc[] = { 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x00 };
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_avc1 (&w, 64, 48, avcc, sizeof avcc));
  const guint8 *p = expect_box (w.buf, 0, 8 + 78 + 8 + sizeof avcc, "avc1");
  g_assert_cmpmem (p, 78, visual_64x48, 78);
  p = expect_box (w.buf, 86, 8 + sizeof avcc, "avcC");
  g_assert_cmpmem (p, sizeof avcc, avcc, sizeof avcc);
  g_assert_cmpuint (w.buf->len, ==, 86 + 8 + sizeof avcc);
  byte_writer_clear (&w);
}

static void
test_hvc1_and_av01_copy_their_records (void)
{
  guint8 hvcc[23] = { 0x01, 0x01, 0x60 };
  static const guint8 av1c[] = { 0x81, 0x00, 0x0c, 0x00 };
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_hvc1 (&w, 64, 48, hvcc, sizeof hvcc));
  expect_box (w.buf, 0, 86 + 8 + 23, "hvc1");
  g_assert_cmpmem (expect_box (w.buf, 86, 8 + 23, "hvcC"), 23, hvcc, 23);
  gsize at = w.buf->len;
  g_assert_true (codecs_write_av01 (&w, 64, 48, av1c, sizeof av1c));
  g_assert_cmpmem (expect_box (w.buf, at, 86 + 12, "av01"), 78, visual_64x48, 78);
  g_assert_cmpmem (expect_box (w.buf, at + 86, 12, "av1C"), 4, av1c, 4);
  byte_writer_clear (&w);
}

static void
test_malformed_configs_write_nothing (void)
{
  static const guint8 bad[] = { 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_false (codecs_write_avc1 (&w, 64, 48, bad, sizeof bad));
  g_assert_false (codecs_write_avc1 (&w, 64, 48, NULL, 0));
  g_assert_false (codecs_write_hvc1 (&w, 64, 48, bad, sizeof bad));
  g_assert_false (codecs_write_av01 (&w, 64, 48, bad, 3));
  g_assert_false (codecs_write_opus (&w, bad, sizeof bad, NULL));
  g_assert_false (codecs_write_mp4a_aac (&w, 1, 2, 44100, bad, 1));
  g_assert_false (codecs_write_flac (&w, bad, sizeof bad, NULL));
  g_assert_cmpuint (w.buf->len, ==, 0);
  byte_writer_clear (&w);
}

static void
test_vp09_vpcc (void)
{
  VpxConfig c;
  codecs_vpx_config_init (&c);
  c.profile = 2;
  c.level = 31;
  c.bit_depth = 10;
  c.chroma_subsampling = 0;
  c.full_range = TRUE;
  c.colour_primaries = 9;
  c.transfer_characteristics = 16;
  c.matrix_coefficients = 9;
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_vpx (&w, FOURCC ('v', 'p', '0', '9'), 64, 48, &c));
  expect_box (w.buf, 0, 86 + 20, "vp09");
  static const guint8 vpcc[12] = { 1, 0, 0, 0, 2, 31, 0xa1, 9, 16, 9, 0, 0 };
  g_assert_cmpmem (expect_box (w.buf, 86, 20, "vpcC"), 12, vpcc, 12);
  byte_writer_clear (&w);
}

static void
test_vp9_config_from_features_and_keyframe (void)
{
  VpxConfig c;
  codecs_vpx_config_init (&c);
  /* Profile 0, 8 bits, BT.709 matrix, full range. */
  static const guint8 key0[] = { 0x82, 0x49, 0x83, 0x42, 0x50 };
  g_assert_true (codecs_vp9_config_from_keyframe (&c, key0, sizeof key0));
  g_assert_cmpuint (c.profile, ==, 0);
  g_assert_cmpuint (c.bit_depth, ==, 8);
  g_assert_cmpuint (c.chroma_subsampling, ==, 1);
  g_assert_true (c.full_range);
  g_assert_cmpuint (c.matrix_coefficients, ==, 1);
  /* Profile 2, 10 bits, BT.601, limited range. */
  static const guint8 key2[] = { 0x92, 0x49, 0x83, 0x42, 0x10 };
  g_assert_true (codecs_vp9_config_from_keyframe (&c, key2, sizeof key2));
  g_assert_cmpuint (c.profile, ==, 2);
  g_assert_cmpuint (c.bit_depth, ==, 10);
  g_assert_false (c.full_range);
  g_assert_cmpuint (c.matrix_coefficients, ==, 5);
  /* An inter frame says nothing. */
  static const guint8 inter[] = { 0x86, 0x00, 0x00, 0x00, 0x00 };
  g_assert_false (codecs_vp9_config_from_keyframe (&c, inter, sizeof inter));
  /* CodecPrivate features: profile 1, level 4.1, 12 bits, 4:4:4. */
  static const guint8 features[] = { 1, 1, 1, 2, 1, 41, 3, 1, 12, 4, 1, 3 };
  g_assert_true (codecs_vp9_config_from_features (&c, features, sizeof features));
  g_assert_cmpuint (c.profile, ==, 1);
  g_assert_cmpuint (c.level, ==, 41);
  g_assert_cmpuint (c.bit_depth, ==, 12);
  g_assert_cmpuint (c.chroma_subsampling, ==, 3);
  g_assert_false (codecs_vp9_config_from_features (&c, features, 5));
  g_assert_cmpuint (codecs_vp9_level (320, 240), ==, 20);
  g_assert_cmpuint (codecs_vp9_level (1920, 1080), ==, 40);
}

static const guint8 opus_head[19] = { 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 0x01,
                                      0x80, 0xbb, 0, 0, 0xfe, 0xff, 0 };

static void
test_opus_dops_is_big_endian (void)
{
  ByteWriter w;
  guint16 pre_skip = 0;
  byte_writer_init (&w);
  g_assert_true (codecs_write_opus (&w, opus_head, sizeof opus_head, &pre_skip));
  g_assert_cmpuint (pre_skip, ==, 312);
  guint8 fields[28];
  audio_fields (fields, 2, 16, 48000);
  g_assert_cmpmem (expect_box (w.buf, 0, 8 + 28 + 19, "Opus"), 28, fields, 28);
  static const guint8 dops[11] = { 0, 2, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0xff, 0xfe, 0 };
  g_assert_cmpmem (expect_box (w.buf, 36, 19, "dOps"), 11, dops, 11);
  byte_writer_clear (&w);
}

static void
test_opus_mapping_family_1_keeps_table (void)
{
  guint8 head[19 + 2 + 6];
  memcpy (head, opus_head, 19);
  head[9] = 6;
  head[18] = 1;
  static const guint8 table[8] = { 4, 2, 0, 4, 1, 2, 3, 5 };
  memcpy (head + 19, table, 8);
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_opus (&w, head, sizeof head, NULL));
  const guint8 *p = expect_box (w.buf, 36, 8 + 11 + 8, "dOps");
  g_assert_cmpuint (p[1], ==, 6);
  g_assert_cmpmem (p + 11, 8, table, 8);
  /* A family-1 head without its table is malformed. */
  g_assert_false (codecs_write_opus (&w, head, 20, NULL));
  byte_writer_clear (&w);
}

static void
test_opus_packet_samples (void)
{
  static const guint8 celt20[] = { 0xfc };
  static const guint8 silk10[] = { 0x00 };
  static const guint8 two_frames[] = { 0xfd };
  static const guint8 silk20x3[] = { 0x0b, 0x03 };
  static const guint8 cbr_missing_count[] = { 0x0b };
  static const guint8 too_long[] = { 0x1b, 0x04 };   /* 4 x 60 ms */
  g_assert_cmpuint (codecs_opus_packet_samples (celt20, 1), ==, 960);
  g_assert_cmpuint (codecs_opus_packet_samples (silk10, 1), ==, 480);
  g_assert_cmpuint (codecs_opus_packet_samples (two_frames, 1), ==, 1920);
  g_assert_cmpuint (codecs_opus_packet_samples (silk20x3, 2), ==, 2880);
  g_assert_cmpuint (codecs_opus_packet_samples (cbr_missing_count, 1), ==, 0);
  g_assert_cmpuint (codecs_opus_packet_samples (too_long, 2), ==, 0);
  g_assert_cmpuint (codecs_opus_packet_samples (celt20, 0), ==, 0);
}

static void
test_mp4a_esds (void)
{
  static const guint8 asc[] = { 0x12, 0x10 };   /* AAC LC, 44.1 kHz, stereo */
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_mp4a_aac (&w, 2, 2, 44100, asc, sizeof asc));
  guint8 fields[28];
  audio_fields (fields, 2, 16, 44100);
  g_assert_cmpmem (expect_box (w.buf, 0, 8 + 28 + 51, "mp4a"), 28, fields, 28);
  static const guint8 esds[43] = {
    0, 0, 0, 0,                                        /* version, flags */
    0x03, 0x80, 0x80, 0x80, 34, 0, 2, 0,               /* ES_Descriptor, ES_ID 2 */
    0x04, 0x80, 0x80, 0x80, 20, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x05, 0x80, 0x80, 0x80, 2, 0x12, 0x10,             /* DecoderSpecificInfo */
    0x06, 0x80, 0x80, 0x80, 1, 0x02,                   /* SLConfigDescriptor */
  };
  g_assert_cmpmem (expect_box (w.buf, 36, 51, "esds"), 43, esds, 43);
  g_assert_cmpuint (w.buf->len, ==, 87);
  byte_writer_clear (&w);
}

static void
test_aac_config_parse (void)
{
  static const guint8 lc[] = { 0x12, 0x10 };
  static const guint8 lc960[] = { 0x12, 0x14 };
  static const guint8 he_explicit[] = { 0x2b, 0x11, 0x88, 0x00 };   /* SBR, 24 kHz core, 48 kHz */
  AacConfig c;
  g_assert_true (codecs_aac_config_parse (lc, 2, &c));
  g_assert_cmpuint (c.object_type, ==, 2);
  g_assert_cmpuint (c.sample_rate, ==, 44100);
  g_assert_cmpuint (c.channel_config, ==, 2);
  g_assert_cmpuint (c.frame_samples, ==, 1024);
  g_assert_cmpuint (c.output_rate, ==, 44100);
  g_assert_true (codecs_aac_config_parse (lc960, 2, &c));
  g_assert_cmpuint (c.frame_samples, ==, 960);
  g_assert_true (codecs_aac_config_parse (he_explicit, sizeof he_explicit, &c));
  g_assert_cmpuint (c.object_type, ==, 2);
  g_assert_cmpuint (c.sample_rate, ==, 24000);
  g_assert_cmpuint (c.output_rate, ==, 48000);
  g_assert_cmpuint (c.frame_samples, ==, 2048);
  g_assert_false (codecs_aac_config_parse (lc, 1, &c));
}

/* The legacy "A_AAC/MPEG4/LC/SBR" config, as FFmpeg's demuxer builds it. */
static void
test_aac_config_build_with_sbr (void)
{
  guint8 buf[10];
  static const guint8 expect[5] = { 0x13, 0x10, 0x56, 0xe5, 0x98 };
  gsize len = codecs_aac_config_build (buf, 2, 24000, 2, 48000);
  g_assert_cmpmem (buf, len, expect, 5);
  AacConfig c;
  g_assert_true (codecs_aac_config_parse (buf, len, &c));
  g_assert_cmpuint (c.output_rate, ==, 48000);
  g_assert_cmpuint (c.frame_samples, ==, 2048);
  static const guint8 plain[2] = { 0x12, 0x10 };
  len = codecs_aac_config_build (buf, 2, 44100, 2, 0);
  g_assert_cmpmem (buf, len, plain, 2);
}

static void
test_mpeg_audio_header (void)
{
  static const guint8 mp3_44k_stereo[] = { 0xff, 0xfb, 0x90, 0x64 };
  static const guint8 mp3_22k_mono[] = { 0xff, 0xf3, 0x80, 0xc4 };
  static const guint8 mp2_48k[] = { 0xff, 0xfd, 0x84, 0x04 };
  static const guint8 bad_rate[] = { 0xff, 0xfb, 0x9c, 0x64 };
  static const guint8 reserved_version[] = { 0xff, 0xeb, 0x90, 0x64 };
  MpegAudioInfo i;
  g_assert_true (codecs_mpeg_audio_parse (mp3_44k_stereo, 4, &i));
  g_assert_cmpuint (i.sample_rate, ==, 44100);
  g_assert_cmpuint (i.channels, ==, 2);
  g_assert_cmpuint (i.frame_samples, ==, 1152);
  g_assert_cmphex (i.object_type, ==, 0x6b);
  g_assert_true (codecs_mpeg_audio_parse (mp3_22k_mono, 4, &i));
  g_assert_cmpuint (i.sample_rate, ==, 22050);
  g_assert_cmpuint (i.channels, ==, 1);
  g_assert_cmpuint (i.frame_samples, ==, 576);
  g_assert_cmphex (i.object_type, ==, 0x69);
  g_assert_true (codecs_mpeg_audio_parse (mp2_48k, 4, &i));
  g_assert_cmpuint (i.sample_rate, ==, 48000);
  g_assert_cmpuint (i.frame_samples, ==, 1152);
  g_assert_false (codecs_mpeg_audio_parse (bad_rate, 4, &i));
  g_assert_false (codecs_mpeg_audio_parse (reserved_version, 4, &i));
  g_assert_false (codecs_mpeg_audio_parse (mp3_44k_stereo, 3, &i));
}

/* MP3 in MP4: objectTypeIndication 0x6b and no DecoderSpecificInfo. */
static void
test_mp4a_mp3_esds (void)
{
  static const guint8 header[] = { 0xff, 0xfb, 0x90, 0x64 };
  MpegAudioInfo info;
  g_assert_true (codecs_mpeg_audio_parse (header, sizeof header, &info));
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_mp4a_mpeg_audio (&w, 1, &info));
  guint8 fields[28];
  audio_fields (fields, 2, 16, 44100);
  g_assert_cmpmem (expect_box (w.buf, 0, 8 + 28 + 44, "mp4a"), 28, fields, 28);
  static const guint8 esds[36] = {
    0, 0, 0, 0,
    0x03, 0x80, 0x80, 0x80, 27, 0, 1, 0,
    0x04, 0x80, 0x80, 0x80, 13, 0x6b, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x06, 0x80, 0x80, 0x80, 1, 0x02,
  };
  g_assert_cmpmem (expect_box (w.buf, 36, 44, "esds"), 36, esds, 36);
  byte_writer_clear (&w);
}

static const guint8 streaminfo[34] = {
  0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0,       /* block sizes 4096, frame sizes unknown */
  0x0a, 0xc4, 0x42, 0xf0, 0, 0, 0, 0,             /* 44100 Hz, 2 channels, 16 bits, length unknown */
};

static void
test_flac_dfla_from_native_header (void)
{
  guint8 header[4 + 4 + 34 + 4 + 8];
  memcpy (header, "fLaC", 4);
  memcpy (header + 4, "\x00\x00\x00\x22", 4);        /* STREAMINFO, not last */
  memcpy (header + 8, streaminfo, 34);
  memcpy (header + 42, "\x84\x00\x00\x08", 4);       /* VORBIS_COMMENT, last */
  memset (header + 46, 0, 8);
  ByteWriter w;
  FlacInfo info;
  byte_writer_init (&w);
  g_assert_true (codecs_write_flac (&w, header, sizeof header, &info));
  g_assert_cmpuint (info.sample_rate, ==, 44100);
  g_assert_cmpuint (info.channels, ==, 2);
  g_assert_cmpuint (info.bits_per_sample, ==, 16);
  guint8 fields[28];
  audio_fields (fields, 2, 16, 44100);
  g_assert_cmpmem (expect_box (w.buf, 0, 8 + 28 + 50, "fLaC"), 28, fields, 28);
  const guint8 *p = expect_box (w.buf, 36, 50, "dfLa");
  static const guint8 head[8] = { 0, 0, 0, 0, 0x80, 0, 0, 34 };   /* only STREAMINFO, marked last */
  g_assert_cmpmem (p, 8, head, 8);
  g_assert_cmpmem (p + 8, 34, streaminfo, 34);
  g_assert_cmpuint (w.buf->len, ==, 86);
  byte_writer_clear (&w);
}

static void
test_flac_frame_samples (void)
{
  static const guint8 fixed4096[] = { 0xff, 0xf8, 0xc9, 0x08, 0x00, 0 };
  static const guint8 explicit8[] = { 0xff, 0xf8, 0x69, 0x08, 0x00, 0xff };
  static const guint8 explicit16[] = { 0xff, 0xf9, 0x79, 0x08, 0xc2, 0x80, 0x01, 0x00 };
  static const guint8 code576[] = { 0xff, 0xf8, 0x29, 0x08, 0x00 };
  static const guint8 not_sync[] = { 0xff, 0xf0, 0xc9, 0x08, 0x00 };
  static const guint8 bad_number[] = { 0xff, 0xf8, 0xc9, 0x08, 0x80 };
  g_assert_cmpuint (codecs_flac_frame_samples (fixed4096, sizeof fixed4096), ==, 4096);
  g_assert_cmpuint (codecs_flac_frame_samples (explicit8, sizeof explicit8), ==, 256);
  g_assert_cmpuint (codecs_flac_frame_samples (explicit16, sizeof explicit16), ==, 257);
  g_assert_cmpuint (codecs_flac_frame_samples (explicit16, 7), ==, 0);
  g_assert_cmpuint (codecs_flac_frame_samples (code576, sizeof code576), ==, 576);
  g_assert_cmpuint (codecs_flac_frame_samples (not_sync, sizeof not_sync), ==, 0);
  g_assert_cmpuint (codecs_flac_frame_samples (bad_number, sizeof bad_number), ==, 0);
}

static void
test_ac3_dac3 (void)
{
  /* 48 kHz, frmsizecod 28 (384 kbit/s), bsid 8, bsmod 0, 3/2 with LFE. */
  static const guint8 frame[] = { 0x0b, 0x77, 0, 0, 0x1c, 0x40, 0xe1, 0x00 };
  Ac3Info info;
  g_assert_true (codecs_ac3_parse (frame, sizeof frame, &info));
  g_assert_cmpuint (info.sample_rate, ==, 48000);
  g_assert_cmpuint (info.channels, ==, 6);
  ByteWriter w;
  byte_writer_init (&w);
  g_assert_true (codecs_write_ac3 (&w, &info));
  guint8 fields[28];
  audio_fields (fields, 6, 16, 48000);
  g_assert_cmpmem (expect_box (w.buf, 0, 8 + 28 + 11, "ac-3"), 28, fields, 28);
  static const guint8 dac3[3] = { 0x10, 0x3d, 0xc0 };
  g_assert_cmpmem (expect_box (w.buf, 36, 11, "dac3"), 3, dac3, 3);
  byte_writer_clear (&w);
  /* E-AC-3 (bsid 16) and a broken sync word are refused. */
  static const guint8 eac3[] = { 0x0b, 0x77, 0, 0, 0x1c, 0x80, 0xe1, 0x00 };
  static const guint8 nosync[] = { 0x0b, 0x78, 0, 0, 0x1c, 0x40, 0xe1, 0x00 };
  g_assert_false (codecs_ac3_parse (eac3, sizeof eac3, &info));
  g_assert_false (codecs_ac3_parse (nosync, sizeof nosync, &info));
  g_assert_false (codecs_ac3_parse (frame, 6, &info));
}

static void
test_language_packing (void)
{
  g_assert_cmphex (codecs_pack_language ("und"), ==, 0x55c4);
  g_assert_cmphex (codecs_pack_language ("eng"), ==, 0x15c7);
  g_assert_cmphex (codecs_pack_language ("EN"), ==, 0x55c4);
  g_assert_cmphex (codecs_pack_language ("en-US"), ==, 0x55c4);
  g_assert_cmphex (codecs_pack_language (NULL), ==, 0x55c4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/codecs/avc1", test_avc1);
  g_test_add_func ("/codecs/hvc1-av01", test_hvc1_and_av01_copy_their_records);
  g_test_add_func ("/codecs/malformed-writes-nothing", test_malformed_configs_write_nothing);
  g_test_add_func ("/codecs/vp09-vpcc", test_vp09_vpcc);
  g_test_add_func ("/codecs/vp9-config", test_vp9_config_from_features_and_keyframe);
  g_test_add_func ("/codecs/opus/dops", test_opus_dops_is_big_endian);
  g_test_add_func ("/codecs/opus/family-1", test_opus_mapping_family_1_keeps_table);
  g_test_add_func ("/codecs/opus/packet-samples", test_opus_packet_samples);
  g_test_add_func ("/codecs/aac/esds", test_mp4a_esds);
  g_test_add_func ("/codecs/aac/config-parse", test_aac_config_parse);
  g_test_add_func ("/codecs/aac/config-build-sbr", test_aac_config_build_with_sbr);
  g_test_add_func ("/codecs/mpeg-audio/header", test_mpeg_audio_header);
  g_test_add_func ("/codecs/mpeg-audio/esds", test_mp4a_mp3_esds);
  g_test_add_func ("/codecs/flac/dfla", test_flac_dfla_from_native_header);
  g_test_add_func ("/codecs/flac/frame-samples", test_flac_frame_samples);
  g_test_add_func ("/codecs/ac3/dac3", test_ac3_dac3);
  g_test_add_func ("/codecs/language", test_language_packing);
  return g_test_run ();
}

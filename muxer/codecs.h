/* codecs.h — MP4 sample entries for codec configurations met in other containers.
 *
 * Each codecs_write_* appends one complete sample entry box (ISO/IEC 14496-12
 * 12.1.3 VisualSampleEntry / 12.2.3 AudioSampleEntry with its configuration
 * box inside) to a ByteWriter, or returns FALSE and writes nothing when the
 * configuration is malformed.  The frame helpers give a frame's duration so
 * that indexers can time audio by samples, not by rounded container clocks.
 * Nothing here knows about Matroska; mkv.c maps CodecIDs onto these.
 */
#pragma once

#include <glib.h>

#include "bytes.h"

G_BEGIN_DECLS

/* ---- video --------------------------------------------------------------- */

/* 'avc1' + 'avcC' (ISO/IEC 14496-15 5.3.3): avcc is an AVCDecoderConfigurationRecord. */
gboolean codecs_write_avc1 (ByteWriter *w, guint16 width, guint16 height, const guint8 *avcc, gsize len);
/* 'hvc1' + 'hvcC' (14496-15 8.3.3): hvcc is an HEVCDecoderConfigurationRecord. */
gboolean codecs_write_hvc1 (ByteWriter *w, guint16 width, guint16 height, const guint8 *hvcc, gsize len);
/* 'av01' + 'av1C' (AV1 ISOBMFF binding 2.3): av1c is an AV1CodecConfigurationRecord. */
gboolean codecs_write_av01 (ByteWriter *w, guint16 width, guint16 height, const guint8 *av1c, gsize len);

/* 'mp4v' + 'esds' for MPEG-1/2 video (objectTypeIndication 0x6a, 0x60-0x65),
 * the sequence header (and its extension) as DecoderSpecificInfo, as FFmpeg
 * writes it. */
gboolean codecs_write_mp4v (ByteWriter *w, guint16 es_id, guint8 object_type, guint16 width, guint16 height,
                            const guint8 *dsi, gsize dsi_len);

/* VPCodecConfigurationRecord fields (VP codec ISOBMFF binding 2.2). */
typedef struct {
  guint8 profile;
  guint8 level;                      /* 0 when unknown: codecs_vp9_level() guesses one */
  guint8 bit_depth;
  guint8 chroma_subsampling;         /* 0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2, 3 4:4:4 */
  gboolean full_range;
  guint8 colour_primaries;           /* ISO/IEC 23091-4 code points; 2 = unspecified */
  guint8 transfer_characteristics;
  guint8 matrix_coefficients;
} VpxConfig;

/* Profile 0, 8 bits, 4:2:0 colocated, limited range, unspecified colours. */
void codecs_vpx_config_init (VpxConfig *c);
/* Applies the VP9 codec feature metadata of a Matroska/WebM CodecPrivate
 * (ID, length, value triples: 1 profile, 2 level, 3 bit depth, 4 chroma). */
gboolean codecs_vp9_config_from_features (VpxConfig *c, const guint8 *data, gsize len);
/* Reads profile, bit depth, subsampling, range and matrix from a VP9 key
 * frame's uncompressed header; FALSE if frame is not a key frame. */
gboolean codecs_vp9_config_from_keyframe (VpxConfig *c, const guint8 *frame, gsize len);
/* Reads the profile (version) from a VP8 frame tag; FALSE if not a key frame. */
gboolean codecs_vp8_config_from_keyframe (VpxConfig *c, const guint8 *frame, gsize len);
/* The lowest VP9 level whose picture size limit holds width x height. */
guint8 codecs_vp9_level (guint width, guint height);
/* 'vp08' or 'vp09' + 'vpcC' version 1. */
gboolean codecs_write_vpx (ByteWriter *w, guint32 fourcc, guint16 width, guint16 height, const VpxConfig *c);

/* ---- audio --------------------------------------------------------------- */

/* 'Opus' + 'dOps' (Opus ISOBMFF binding 4.3) from an Ogg OpusHead packet;
 * channels and pre-skip are kept.  *pre_skip (may be NULL) receives it. */
gboolean codecs_write_opus (ByteWriter *w, const guint8 *opus_head, gsize len, guint16 *pre_skip);
/* Samples at 48 kHz in an Opus packet, from its TOC (RFC 6716 3.1); 0 if malformed. */
guint32 codecs_opus_packet_samples (const guint8 *packet, gsize len);

/* What an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) says about timing. */
typedef struct {
  guint object_type;          /* after SBR/PS signalling is resolved to the core */
  guint32 sample_rate;        /* core sampling rate */
  guint32 output_rate;        /* with SBR: the doubled rate; else sample_rate */
  guint channel_config;
  guint32 frame_samples;      /* per access unit at output_rate: 1024, 960, 2048 or 1920 */
} AacConfig;

gboolean codecs_aac_config_parse (const guint8 *asc, gsize len, AacConfig *out);
/* Builds an AudioSpecificConfig; with sbr_rate non-zero, explicit
 * backward-compatible SBR signalling (sync extension 0x2b7) is appended.
 * Returns its length (2 to 10 bytes). */
gsize codecs_aac_config_build (guint8 out[10], guint object_type, guint32 sample_rate, guint channels,
                               guint32 sbr_rate);
/* 'mp4a' + 'esds' (ISO/IEC 14496-14 5.6, 14496-1 7.2.6.5) for AAC. */
gboolean codecs_write_mp4a_aac (ByteWriter *w, guint16 es_id, guint16 channels, guint32 sample_rate,
                                const guint8 *asc, gsize len);

typedef struct {
  guint32 sample_rate;
  guint channels;
  guint32 frame_samples;      /* 384, 576 or 1152 */
  guint8 object_type;         /* 0x6b MPEG-1 audio, 0x69 MPEG-2 audio */
} MpegAudioInfo;

/* Reads an MPEG-1/2/2.5 audio frame header (Layer I, II or III); FALSE if it is none. */
gboolean codecs_mpeg_audio_parse (const guint8 *frame, gsize len, MpegAudioInfo *out);
/* 'mp4a' + 'esds' for MP3/MP2 (objectTypeIndication 0x6b or 0x69, no
 * DecoderSpecificInfo), as FFmpeg writes them. */
gboolean codecs_write_mp4a_mpeg_audio (ByteWriter *w, guint16 es_id, const MpegAudioInfo *info);

typedef struct {
  guint32 sample_rate;
  guint channels;
  guint bits_per_sample;
  guint min_block_size;
  guint max_block_size;
} FlacInfo;

/* 'fLaC' + 'dfLa' (FLAC ISOBMFF binding 3.3.2) from the native FLAC header
 * ("fLaC" and metadata blocks, as in Matroska's CodecPrivate) or from a bare
 * 34-byte STREAMINFO.  Only STREAMINFO is carried.  *info may be NULL. */
gboolean codecs_write_flac (ByteWriter *w, const guint8 *header, gsize len, FlacInfo *info);
/* Samples in a FLAC frame, from its header (FLAC format, FRAME_HEADER); 0 if malformed. */
guint32 codecs_flac_frame_samples (const guint8 *frame, gsize len);

typedef struct {
  guint32 sample_rate;
  guint channels;
  guint8 fscod, bsid, bsmod, acmod, lfeon, bit_rate_code;
} Ac3Info;

/* Reads syncinfo and bsi of an AC-3 frame (ETSI TS 102 366 4.3); FALSE for
 * anything else, E-AC-3 included. */
gboolean codecs_ac3_parse (const guint8 *frame, gsize len, Ac3Info *out);
/* 'ac-3' + 'dac3' (ETSI TS 102 366 F.3, F.4). */
gboolean codecs_write_ac3 (ByteWriter *w, const Ac3Info *info);
#define CODECS_AC3_FRAME_SAMPLES 1536

typedef struct {
  guint32 sample_rate;
  guint channels;
  guint8 fscod, bsid, acmod, lfeon;
  guint16 data_rate;                 /* kbit/s */
  guint32 frame_samples;             /* 256, 512, 768 or 1536 */
} Eac3Info;

/* Reads the bsi of an E-AC-3 independent substream frame (ETSI TS 102 366
 * E.1.2); FALSE for anything else. */
gboolean codecs_eac3_parse (const guint8 *frame, gsize len, Eac3Info *out);
/* 'ec-3' + 'dec3' (ETSI TS 102 366 F.5, F.6): one independent substream. */
gboolean codecs_write_eac3 (ByteWriter *w, const Eac3Info *info);

/* ---- language -------------------------------------------------------------- */

/* Packs a three-letter ISO 639-2/T code for mdhd; "und" (0x55c4) if it is not one. */
guint16 codecs_pack_language (const char *code);

G_END_DECLS

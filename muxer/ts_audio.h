/* ts_audio.h — audio frames in elementary streams: where one begins, how long
 * it is, and what the sample entry needs from its header.
 *
 * AAC in ADTS (ISO/IEC 13818-7 6.2, 14496-3 1.A.2): the MP4 sample is the raw
 * data block, the 7- or 9-byte header removed (FFmpeg's aac_adtstoasc).
 * AC-3 and E-AC-3 (ETSI TS 102 366 4.3, E.1.2), MPEG-1/2 audio
 * (ISO/IEC 11172-3 2.4.2.3): the sample is the whole frame.  Opus (the
 * "Opus in MPEG-2 TS" mapping, ETSI TS 102 366 style control headers): each
 * packet follows an opus_control_header (0x7fe0 | flags, its size, optional
 * trims), which is removed; the first packet's start trim is the pre-skip.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TS_AUDIO_PROBE: private data whose first frame tells (ts_audio_probe). */
typedef enum { TS_AUDIO_AAC, TS_AUDIO_AC3, TS_AUDIO_EAC3, TS_AUDIO_MPEG, TS_AUDIO_OPUS, TS_AUDIO_PROBE } TsAudioCodec;

typedef struct {
  guint header_len;           /* bytes before the sample's data (ADTS header) */
  guint frame_len;            /* whole frame, header included */
  guint32 samples;            /* per frame, at sample_rate */
  guint32 sample_rate;
  guint channels;
  /* AAC */
  guint object_type, rate_index, channel_config;
  /* Opus */
  gboolean has_start_trim;
  guint16 start_trim;
} TsAudioFrame;

/* Reads the frame header at p.  Returns 1 for a frame, 0 for no frame here
 * (resynchronise a byte later), -1 when more bytes are needed. */
int ts_audio_frame_parse (TsAudioCodec codec, const guint8 *p, gsize avail, TsAudioFrame *out);
/* Which codec the frame at p is in: 1 (set), 0 none recognised, -1 more bytes needed. */
int ts_audio_probe (const guint8 *p, gsize avail, TsAudioCodec *out);
/* The program_config_element that begins an AAC raw data block (its 3-bit
 * id_syn_ele 5 first), copied as FFmpeg's aac_adtstoasc copies it into the
 * AudioSpecificConfig (ff_copy_pce_data): returns its length in out (0 if
 * the block does not begin with one, or it is cut or larger than out_cap);
 * *consumed is the whole bytes of the block it took, which FFmpeg's remux
 * removes from the first frame; *channels what it declares. */
gsize ts_aac_copy_pce (const guint8 *raw, gsize len, guint8 *out, gsize out_cap, gsize *consumed, guint *channels);
/* The bytes a header needs to be parsed. */
#define TS_AUDIO_HEADER_MAX 16

G_END_DECLS

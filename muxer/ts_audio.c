/* ts_audio.c — audio frame headers of elementary streams. */
#include "ts_audio.h"

#include "codecs.h"

#include <string.h>

static int
adts_parse (const guint8 *p, gsize avail, TsAudioFrame *f)
{
  static const guint32 rates[13] = { 96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                     22050, 16000, 12000, 11025, 8000,  7350 };
  if (avail < 1)
    return -1;
  if (p[0] != 0xff)
    return 0;
  if (avail < 2)
    return -1;
  if ((p[1] & 0xf6) != 0xf0)   /* sync, layer 0 */
    return 0;
  if (avail < 7)
    return -1;
  guint rate_index = (p[2] >> 2) & 0xf;
  guint frame_len = (guint) (p[3] & 3) << 11 | (guint) p[4] << 3 | p[5] >> 5;
  guint header = (p[1] & 1) ? 7 : 9;
  guint blocks = (p[6] & 3) + 1;
  if (rate_index >= 13 || frame_len <= header)
    return 0;
  *f = (TsAudioFrame) {
    .header_len = header,
    .frame_len = frame_len,
    .samples = 1024 * blocks,
    .sample_rate = rates[rate_index],
    .object_type = (p[2] >> 6) + 1,
    .rate_index = rate_index,
    .channel_config = (guint) (p[2] & 1) << 2 | p[3] >> 6,
  };
  f->channels = f->channel_config == 7 ? 8 : f->channel_config;
  return 1;
}

static int
ac3_parse (const guint8 *p, gsize avail, TsAudioFrame *f)
{
  static const guint16 kbps[19] = { 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640 };
  static const guint32 rates[3] = { 48000, 44100, 32000 };
  static const guint8 channels[8] = { 2, 1, 2, 3, 3, 4, 4, 5 };
  if (avail < 1)
    return -1;
  if (p[0] != 0x0b)
    return 0;
  if (avail < 2)
    return -1;
  if (p[1] != 0x77)
    return 0;
  if (avail < 7)
    return -1;
  guint bsid = p[5] >> 3;
  if (bsid <= 10) {
    guint fscod = p[4] >> 6, code = p[4] & 0x3f;
    if (fscod == 3 || code >= 38)
      return 0;
    guint words = fscod == 0 ? kbps[code >> 1] * 2u
                  : fscod == 2 ? kbps[code >> 1] * 3u
                  : kbps[code >> 1] * 96000u / 44100u + (code & 1);
    *f = (TsAudioFrame) { .frame_len = words * 2, .samples = 1536, .sample_rate = rates[fscod] };
    f->channels = channels[p[6] >> 5];
    return 1;
  }
  if (bsid > 16)
    return 0;
  /* E-AC-3: frmsiz, fscod, numblkscod (E.1.2.1). */
  guint frmsiz = (guint) (p[2] & 7) << 8 | p[3];
  guint fscod = p[4] >> 6, blocks_code = (p[4] >> 4) & 3;
  static const guint8 blocks[4] = { 1, 2, 3, 6 };
  guint32 rate;
  guint n_blocks = 6;
  if (fscod == 3) {
    guint fscod2 = blocks_code;
    if (fscod2 == 3)
      return 0;
    rate = rates[fscod2] / 2;
  } else {
    rate = rates[fscod];
    n_blocks = blocks[blocks_code];
  }
  guint acmod = (p[4] >> 1) & 7, lfe = p[4] & 1;
  *f = (TsAudioFrame) { .frame_len = (frmsiz + 1) * 2, .samples = 256 * n_blocks, .sample_rate = rate };
  f->channels = channels[acmod] + lfe;
  return 1;
}

static int
mpeg_parse (const guint8 *p, gsize avail, TsAudioFrame *f)
{
  static const guint16 kbps[2][3][15] = {
    { /* MPEG-1 */
      { 0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448 },
      { 0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384 },
      { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 } },
    { /* MPEG-2, 2.5 */
      { 0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256 },
      { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160 },
      { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160 } },
  };
  static const guint32 rates[3] = { 44100, 48000, 32000 };
  if (avail < 1)
    return -1;
  if (p[0] != 0xff)
    return 0;
  if (avail < 2)
    return -1;
  if ((p[1] & 0xe0) != 0xe0)
    return 0;
  if (avail < 4)
    return -1;
  guint version = (p[1] >> 3) & 3, layer = 4 - ((p[1] >> 1) & 3);
  guint br = p[2] >> 4, ri = (p[2] >> 2) & 3, pad = (p[2] >> 1) & 1;
  if (version == 1 || layer == 4 || br == 0 || br == 15 || ri == 3)
    return 0;
  guint32 rate = rates[ri] >> (version == 3 ? 0 : version == 2 ? 1 : 2);
  guint32 bitrate = kbps[version == 3 ? 0 : 1][layer - 1][br] * 1000u;
  guint len, samples;
  if (layer == 1) {
    len = (12 * bitrate / rate + pad) * 4;
    samples = 384;
  } else {
    samples = layer == 3 && version != 3 ? 576 : 1152;
    len = samples / 8 * bitrate / rate + pad;
  }
  if (len < 4)
    return 0;
  *f = (TsAudioFrame) { .frame_len = len, .samples = samples, .sample_rate = rate,
                        .channels = (p[3] >> 6) == 3 ? 1 : 2 };
  return 1;
}

/* opus_control_header: 11 bits of ones, start/end trim and extension
 * flags, the packet size as 0xff bytes and a last byte, the trims, the
 * extension.  Complete only with the whole packet (its TOC gives the
 * duration). */
static int
opus_parse (const guint8 *p, gsize avail, TsAudioFrame *f)
{
  if (avail < 2)
    return -1;
  if (p[0] != 0x7f || (p[1] & 0xe0) != 0xe0)
    return 0;
  gboolean start_trim = (p[1] & 0x10) != 0, end_trim = (p[1] & 0x08) != 0, ext = (p[1] & 0x04) != 0;
  gsize pos = 2, size = 0;
  for (;;) {
    if (pos >= avail)
      return -1;
    guint8 b = p[pos++];
    size += b;
    if (b != 0xff)
      break;
    if (size > 65536)
      return 0;
  }
  guint16 trim = 0;
  if (start_trim) {
    if (pos + 2 > avail)
      return -1;
    trim = (guint16) (p[pos] << 8 | p[pos + 1]) & 0x1fff;
    pos += 2;
  }
  if (end_trim)
    pos += 2;
  if (ext) {
    if (pos >= avail)
      return -1;
    pos += 1 + p[pos];
  }
  if (size == 0)
    return 0;
  if (avail < pos + size)
    return -1;
  guint32 samples = codecs_opus_packet_samples (p + pos, size);
  if (samples == 0)
    return 0;
  *f = (TsAudioFrame) { .header_len = (guint) pos, .frame_len = (guint) (pos + size), .samples = samples,
                        .sample_rate = 48000, .has_start_trim = start_trim, .start_trim = trim };
  return 1;
}

int
ts_audio_frame_parse (TsAudioCodec codec, const guint8 *p, gsize avail, TsAudioFrame *out)
{
  switch (codec) {
  case TS_AUDIO_AAC: return adts_parse (p, avail, out);
  case TS_AUDIO_AC3:
  case TS_AUDIO_EAC3: return ac3_parse (p, avail, out);
  case TS_AUDIO_MPEG: return mpeg_parse (p, avail, out);
  case TS_AUDIO_OPUS: return opus_parse (p, avail, out);
  case TS_AUDIO_PROBE: break;
  }
  return 0;
}

int
ts_audio_probe (const guint8 *p, gsize avail, TsAudioCodec *out)
{
  static const TsAudioCodec order[] = { TS_AUDIO_AAC, TS_AUDIO_AC3, TS_AUDIO_MPEG };
  gboolean more = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++) {
    TsAudioFrame f;
    int r = ts_audio_frame_parse (order[i], p, avail, &f);
    if (r > 0) {
      /* AC-3 and E-AC-3 share a sync word: bsid tells. */
      *out = order[i] == TS_AUDIO_AC3 && (p[5] >> 3) > 10 ? TS_AUDIO_EAC3 : order[i];
      return 1;
    }
    more |= r < 0;
  }
  return more ? -1 : 0;
}

/* ---- AAC program_config_element (ISO/IEC 14496-3 4.4.1.1) ------------------- */

typedef struct {
  const guint8 *in;
  gsize in_bits, in_pos;
  guint8 *out;
  gsize out_bits, out_pos;
  gboolean bad;
} BitCopy;

static guint32
copy_bits (BitCopy *c, guint n)
{
  guint32 v = 0;
  for (guint i = 0; i < n; i++) {
    if (c->in_pos >= c->in_bits || c->out_pos >= c->out_bits) {
      c->bad = TRUE;
      return 0;
    }
    guint bit = (c->in[c->in_pos / 8] >> (7 - c->in_pos % 8)) & 1;
    c->in_pos++;
    if (bit)
      c->out[c->out_pos / 8] |= (guint8) (0x80 >> (c->out_pos % 8));
    c->out_pos++;
    v = v << 1 | bit;
  }
  return v;
}

gsize
ts_aac_copy_pce (const guint8 *raw, gsize len, guint8 *out, gsize out_cap, gsize *consumed, guint *channels)
{
  if (len < 1 || (raw[0] >> 5) != 5)
    return 0;
  memset (out, 0, out_cap);
  BitCopy c = { raw, (gsize) len * 8, 3, out, out_cap * 8, 0, FALSE };
  copy_bits (&c, 10);   /* element_instance_tag, object_type, sampling_frequency_index */
  guint front = copy_bits (&c, 4), side = copy_bits (&c, 4), back = copy_bits (&c, 4);
  guint lfe = copy_bits (&c, 2), assoc = copy_bits (&c, 3), cc = copy_bits (&c, 4);
  for (int k = 0; k < 3; k++)   /* mono, stereo, matrix mixdown */
    if (copy_bits (&c, 1))
      copy_bits (&c, k == 2 ? 3 : 4);
  guint n = 0;
  for (guint i = 0; i < front + side + back; i++)
    n += copy_bits (&c, 1) ? 2 : 1, copy_bits (&c, 4);
  for (guint i = 0; i < lfe; i++)
    copy_bits (&c, 4), n++;
  for (guint i = 0; i < assoc; i++)
    copy_bits (&c, 4);
  for (guint i = 0; i < cc; i++)
    copy_bits (&c, 5);
  /* byte_alignment() of both, then the comment. */
  c.out_pos = (c.out_pos + 7) / 8 * 8;
  c.in_pos = (c.in_pos + 7) / 8 * 8;
  guint comment = copy_bits (&c, 8);
  for (guint i = 0; i < comment; i++)
    copy_bits (&c, 8);
  if (c.bad || n == 0)
    return 0;
  *consumed = c.in_pos / 8;
  *channels = n;
  return c.out_pos / 8;
}

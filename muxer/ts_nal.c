/* ts_nal.c — Annex B access units to length-prefixed samples; SPS parsing,
 * avcC and hvcC from the in-band parameter sets. */
#include "ts_nal.h"

#include <string.h>

#include "codecs.h"

/* ---- Annex B ------------------------------------------------------------------ */

guint64
ts_annexb_nals (const guint8 *p, gsize n, GArray *nals)
{
  /* The first "00 00 01". */
  gsize i = 0;
  guint zeros = 0;
  for (; i < n; i++) {
    if (p[i] == 1 && zeros >= 2)
      break;
    zeros = p[i] == 0 ? zeros + 1 : 0;
  }
  if (i >= n)
    return 0;
  guint64 size = 0;
  gsize start = i + 1;
  while (start < n) {
    /* The next "00 00 01" at or after start (memchr for the 01). */
    gsize end = n, next = n;
    for (gsize j = start + 2; j < n;) {
      const guint8 *one = memchr (p + j, 1, n - j);
      if (!one)
        break;
      j = (gsize) (one - p);
      if (p[j - 1] == 0 && p[j - 2] == 0) {
        /* One zero before the pattern, if it is the NAL unit's, is not. */
        end = j - 2 - (j - 3 >= start && j >= 3 && p[j - 3] == 0 ? 1 : 0);
        next = j + 1;
        break;
      }
      j++;
    }
    if (nals)
      g_array_append_val (nals, ((TsNal) { start, end - start }));
    size += 4 + (end - start);
    start = next;
  }
  return size;
}

gboolean
ts_annexb_convert (TsEsWalk *w, guint8 *dest, gsize size)
{
  const guint8 *p = NULL;
  gsize avail = 0;
  guint zeros = 0;
#define NEXT_BYTE(b)                                       \
  do {                                                     \
    if (avail == 0 && (avail = ts_es_walk_next (w, G_MAXSIZE, &p)) == 0) \
      return FALSE;                                        \
    (b) = *p++;                                            \
    avail--;                                               \
  } while (0)
  for (;;) {
    guint8 b;
    NEXT_BYTE (b);
    if (b == 1 && zeros >= 2)
      break;
    zeros = b == 0 ? zeros + 1 : 0;
  }
  gsize o = 0;
  while (o < size) {
    if (size - o < 4)
      return FALSE;
    gsize len_at = o, start = o + 4;
    o = start;
    for (;;) {
      if (o == size)
        break;
      if (avail == 0 && (avail = ts_es_walk_next (w, G_MAXSIZE, &p)) == 0)
        return FALSE;
      /* Copy up to the next 01, the only byte that can end a start code;
       * whether "00 00" came before it is in what was copied. */
      gsize lim = MIN (avail, size - o);
      const guint8 *one = memchr (p, 1, lim);
      gsize k = one ? (gsize) (one - p) : lim;
      memcpy (dest + o, p, k);
      o += k;
      p += k;
      avail -= k;
      if (!one)
        continue;
      p++;
      avail--;
      if (o - start >= 2 && dest[o - 1] == 0 && dest[o - 2] == 0) {
        o -= 2 + (o - start >= 3 && dest[o - 3] == 0 ? 1 : 0);
        break;
      }
      dest[o++] = 1;
    }
    guint32 len = (guint32) (o - start);
    dest[len_at] = (guint8) (len >> 24);
    dest[len_at + 1] = (guint8) (len >> 16);
    dest[len_at + 2] = (guint8) (len >> 8);
    dest[len_at + 3] = (guint8) len;
  }
#undef NEXT_BYTE
  return TRUE;
}

/* ---- access unit boundaries ------------------------------------------------------ */

int
ts_nal_starts_au (TsVideoCodec codec, const guint8 *p, gsize avail, gboolean au_has_slice, gboolean *is_slice)
{
  *is_slice = FALSE;
  if (codec == TS_VIDEO_H264) {
    if (avail < 2)
      return -1;
    guint type = p[0] & 0x1f;
    if (type == 1 || type == 5) {
      *is_slice = TRUE;
      /* first_mb_in_slice == 0 is the single bit '1'. */
      return au_has_slice && (p[1] & 0x80);
    }
    if (type == 9)
      return TRUE;
    if (type == 6 || type == 7 || type == 8 || (type >= 14 && type <= 18))
      return au_has_slice;
    return FALSE;
  }
  if (codec == TS_VIDEO_MPEG2) {
    if (avail < 1)
      return -1;
    /* ff_mpeg1_find_frame_end: a picture, sequence or GOP start code after
     * slices begins the next frame. */
    *is_slice = p[0] >= 0x01 && p[0] <= 0xaf;
    return au_has_slice && (p[0] == 0x00 || p[0] == 0xb3 || p[0] == 0xb8);
  }
  if (avail < 3)
    return -1;
  guint type = (p[0] >> 1) & 0x3f;
  if (type <= 31) {
    *is_slice = TRUE;
    /* first_slice_segment_in_pic_flag */
    return au_has_slice && (p[2] & 0x80);
  }
  if (type == 35)
    return TRUE;
  if ((type >= 32 && type <= 34) || type == 39 || (type >= 41 && type <= 44) || (type >= 48 && type <= 55))
    return au_has_slice;
  return FALSE;
}

/* ---- RBSP bits -------------------------------------------------------------------- */

typedef struct {
  guint8 *data;     /* emulation prevention removed */
  gsize len;
  gsize bit;
  gboolean bad;
} Rbsp;

static void
rbsp_init (Rbsp *r, const guint8 *nal, gsize len)
{
  r->data = g_malloc (MAX (len, 1));
  r->len = 0;
  r->bit = 0;
  r->bad = FALSE;
  guint zeros = 0;
  for (gsize i = 0; i < len; i++) {
    if (zeros >= 2 && nal[i] == 3) {
      zeros = 0;
      continue;
    }
    zeros = nal[i] == 0 ? zeros + 1 : 0;
    r->data[r->len++] = nal[i];
  }
}

static guint32
rbsp_bits (Rbsp *r, guint n)
{
  guint32 v = 0;
  for (guint i = 0; i < n; i++) {
    if (r->bit >= r->len * 8) {
      r->bad = TRUE;
      return 0;
    }
    v = v << 1 | ((r->data[r->bit / 8] >> (7 - r->bit % 8)) & 1);
    r->bit++;
  }
  return v;
}

static guint32
rbsp_ue (Rbsp *r)
{
  guint lz = 0;
  while (!r->bad && rbsp_bits (r, 1) == 0)
    if (++lz > 31) {
      r->bad = TRUE;
      return 0;
    }
  if (r->bad)
    return 0;
  return (guint32) ((1ull << lz) - 1 + rbsp_bits (r, lz));
}

static gint32
rbsp_se (Rbsp *r)
{
  guint32 k = rbsp_ue (r);
  return k & 1 ? (gint32) ((k + 1) / 2) : -(gint32) (k / 2);
}

/* ---- H.264 SPS (7.3.2.1.1) ------------------------------------------------------- */

static void
skip_scaling_list (Rbsp *r, guint size)
{
  gint32 last = 8, next = 8;
  for (guint j = 0; j < size && !r->bad; j++) {
    if (next != 0)
      next = (last + rbsp_se (r) + 256) % 256;
    last = next == 0 ? last : next;
  }
}

/* hrd_parameters (E.1.2); TRUE (it was there). */
static gboolean
skip_hrd_parameters (Rbsp *r)
{
  guint count = rbsp_ue (r) + 1;
  rbsp_bits (r, 8);
  for (guint i = 0; i < count && i < 32 && !r->bad; i++) {
    rbsp_ue (r);
    rbsp_ue (r);
    rbsp_bits (r, 1);
  }
  rbsp_bits (r, 20);
  return TRUE;
}

/* Reads an SPS NAL unit (header included) up to its VUI timing_info (E.1.1);
 * FALSE if it is damaged or its size is out of range. */
gboolean
ts_h264_sps_parse (const guint8 *nal, gsize len, TsH264Sps *out)
{
  memset (out, 0, sizeof *out);
  if (len < 4)
    return FALSE;
  Rbsp r;
  rbsp_init (&r, nal + 1, len - 1);
  guint profile = rbsp_bits (&r, 8);
  rbsp_bits (&r, 16);   /* constraint flags, level */
  rbsp_ue (&r);         /* seq_parameter_set_id */
  guint chroma = 1;
  if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 || profile == 83 ||
      profile == 86 || profile == 118 || profile == 128 || profile == 138 || profile == 139 || profile == 134 ||
      profile == 135) {
    chroma = rbsp_ue (&r);
    if (chroma == 3)
      out->separate_colour_plane = rbsp_bits (&r, 1);
    rbsp_ue (&r);
    rbsp_ue (&r);
    rbsp_bits (&r, 1);
    if (rbsp_bits (&r, 1))
      for (guint i = 0; i < (chroma != 3 ? 8u : 12u) && !r.bad; i++)
        if (rbsp_bits (&r, 1))
          skip_scaling_list (&r, i < 6 ? 16 : 64);
  }
  guint log2_frame_num = rbsp_ue (&r) + 4;   /* log2_max_frame_num_minus4 + 4 */
  out->log2_max_frame_num = MIN (log2_frame_num, 16u);
  guint poc_type = rbsp_ue (&r);
  out->poc_type = poc_type;
  if (poc_type == 0) {
    guint log2_poc_lsb = rbsp_ue (&r) + 4;
    out->log2_max_poc_lsb = MIN (log2_poc_lsb, 16u);
  } else if (poc_type == 1) {
    rbsp_bits (&r, 1);
    rbsp_se (&r);
    rbsp_se (&r);
    guint n = rbsp_ue (&r);
    for (guint i = 0; i < n && i < 256 && !r.bad; i++)
      rbsp_se (&r);
  }
  rbsp_ue (&r);          /* max_num_ref_frames */
  rbsp_bits (&r, 1);
  guint w_mbs = rbsp_ue (&r) + 1, h_map = rbsp_ue (&r) + 1;
  guint frame_mbs_only = rbsp_bits (&r, 1);
  if (!frame_mbs_only)
    rbsp_bits (&r, 1);
  rbsp_bits (&r, 1);
  guint64 w = (guint64) w_mbs * 16, h = (guint64) h_map * 16 * (2 - frame_mbs_only);
  if (rbsp_bits (&r, 1)) {
    guint cl = rbsp_ue (&r), cr = rbsp_ue (&r), ct = rbsp_ue (&r), cb = rbsp_ue (&r);
    guint sx = chroma == 1 || chroma == 2 ? 2 : 1, sy = (chroma == 1 ? 2 : 1) * (2 - frame_mbs_only);
    if (chroma == 0 || chroma == 3)
      sx = 1, sy = 2 - frame_mbs_only;
    guint64 cw = (guint64) (cl + cr) * sx, ch = (guint64) (ct + cb) * sy;
    if (cw < w && ch < h)
      w -= cw, h -= ch;
  }
  out->frame_mbs_only = frame_mbs_only;
  if (!r.bad && rbsp_bits (&r, 1)) {   /* vui_parameters_present_flag */
    if (rbsp_bits (&r, 1) && rbsp_bits (&r, 8) == 255)   /* aspect_ratio_idc: Extended_SAR */
      rbsp_bits (&r, 32);
    if (rbsp_bits (&r, 1))   /* overscan_info_present_flag */
      rbsp_bits (&r, 1);
    if (rbsp_bits (&r, 1)) {   /* video_signal_type_present_flag */
      rbsp_bits (&r, 4);
      if (rbsp_bits (&r, 1))
        rbsp_bits (&r, 24);
    }
    if (rbsp_bits (&r, 1)) {   /* chroma_loc_info_present_flag */
      rbsp_ue (&r);
      rbsp_ue (&r);
    }
    if (rbsp_bits (&r, 1)) {   /* timing_info_present_flag */
      guint32 units = rbsp_bits (&r, 32), scale = rbsp_bits (&r, 32);
      out->fixed_frame_rate = rbsp_bits (&r, 1);
      if (!r.bad && units > 0 && scale > 0) {
        out->num_units_in_tick = units;
        out->time_scale = scale;
      }
    }
    gboolean nal_hrd = rbsp_bits (&r, 1) && skip_hrd_parameters (&r);
    gboolean vcl_hrd = rbsp_bits (&r, 1) && skip_hrd_parameters (&r);
    if (nal_hrd || vcl_hrd)
      rbsp_bits (&r, 1);   /* low_delay_hrd_flag */
    rbsp_bits (&r, 1);     /* pic_struct_present_flag */
    if (rbsp_bits (&r, 1)) {   /* bitstream_restriction_flag */
      rbsp_bits (&r, 1);
      for (int i = 0; i < 4; i++)
        rbsp_ue (&r);
      guint reorder = rbsp_ue (&r);
      rbsp_ue (&r);   /* max_dec_frame_buffering */
      if (!r.bad && reorder <= 16) {
        out->has_reorder = TRUE;
        out->max_num_reorder_frames = reorder;
      }
    }
    if (r.bad)   /* a VUI cut short leaves the size alone: no timing */
      out->num_units_in_tick = out->time_scale = 0, out->has_reorder = FALSE, r.bad = FALSE;
  }
  gboolean ok = !r.bad && w > 0 && h > 0 && w <= 16384 && h <= 16384;
  g_free (r.data);
  out->width = (guint) w;
  out->height = (guint) h;
  return ok;
}

gboolean
ts_h264_slice_poc_lsb (const TsH264Sps *sps, const guint8 *nal, gsize len, guint32 *lsb)
{
  if (sps->poc_type != 0 || len < 2)
    return FALSE;
  Rbsp r;
  rbsp_init (&r, nal + 1, len - 1);
  rbsp_ue (&r);   /* first_mb_in_slice */
  rbsp_ue (&r);   /* slice_type */
  rbsp_ue (&r);   /* pic_parameter_set_id */
  if (sps->separate_colour_plane)
    rbsp_bits (&r, 2);
  rbsp_bits (&r, sps->log2_max_frame_num);
  gboolean field = !sps->frame_mbs_only && rbsp_bits (&r, 1);
  if ((nal[0] & 0x1f) == 5)
    rbsp_ue (&r);   /* idr_pic_id */
  *lsb = rbsp_bits (&r, sps->log2_max_poc_lsb);
  gboolean ok = !r.bad && !field;
  g_free (r.data);
  return ok;
}

/* ---- HEVC SPS (7.3.2.2) ---------------------------------------------------------- */

typedef struct {
  guint8 ptl[12];        /* general profile_tier_level bytes */
  guint max_sub_layers;
  gboolean temporal_id_nesting;
  guint chroma, bit_depth_luma, bit_depth_chroma;
  guint width, height;
} HevcSps;

static gboolean
hevc_sps_parse (const guint8 *nal, gsize len, HevcSps *s)
{
  if (len < 3)
    return FALSE;
  Rbsp r;
  rbsp_init (&r, nal + 2, len - 2);
  rbsp_bits (&r, 4);
  s->max_sub_layers = rbsp_bits (&r, 3) + 1;
  s->temporal_id_nesting = rbsp_bits (&r, 1);
  for (guint i = 0; i < 12; i++)
    s->ptl[i] = (guint8) rbsp_bits (&r, 8);
  guint sub = s->max_sub_layers - 1;
  guint8 profile_present[8] = { 0 }, level_present[8] = { 0 };
  for (guint i = 0; i < sub; i++) {
    profile_present[i] = (guint8) rbsp_bits (&r, 1);
    level_present[i] = (guint8) rbsp_bits (&r, 1);
  }
  if (sub > 0)
    for (guint i = sub; i < 8; i++)
      rbsp_bits (&r, 2);
  for (guint i = 0; i < sub; i++) {
    if (profile_present[i])
      rbsp_bits (&r, 32), rbsp_bits (&r, 32), rbsp_bits (&r, 24);
    if (level_present[i])
      rbsp_bits (&r, 8);
  }
  rbsp_ue (&r);   /* sps_seq_parameter_set_id */
  s->chroma = rbsp_ue (&r);
  if (s->chroma == 3)
    rbsp_bits (&r, 1);
  guint64 w = rbsp_ue (&r), h = rbsp_ue (&r);
  if (rbsp_bits (&r, 1)) {
    guint sx = s->chroma == 1 || s->chroma == 2 ? 2 : 1, sy = s->chroma == 1 ? 2 : 1;
    guint64 l = rbsp_ue (&r), rr = rbsp_ue (&r), t = rbsp_ue (&r), b = rbsp_ue (&r);
    if ((l + rr) * sx < w && (t + b) * sy < h)
      w -= (l + rr) * sx, h -= (t + b) * sy;
  }
  s->bit_depth_luma = rbsp_ue (&r) + 8;
  s->bit_depth_chroma = rbsp_ue (&r) + 8;
  gboolean ok = !r.bad && w > 0 && h > 0 && w <= 16384 && h <= 16384 && s->chroma <= 3 &&
                s->bit_depth_luma <= 16 && s->bit_depth_chroma <= 16;
  g_free (r.data);
  s->width = (guint) w;
  s->height = (guint) h;
  return ok;
}

/* ---- configuration ------------------------------------------------------------------ */

void
ts_video_config_init (TsVideoConfig *c, TsVideoCodec codec)
{
  memset (c, 0, sizeof *c);
  c->codec = codec;
}

void
ts_video_config_clear (TsVideoConfig *c)
{
  g_clear_pointer (&c->vps, g_byte_array_unref);
  g_clear_pointer (&c->sps, g_byte_array_unref);
  g_clear_pointer (&c->pps, g_byte_array_unref);
}

static void
keep (GByteArray **slot, const guint8 *nal, gsize len)
{
  if (!*slot && len > 0 && len < 4096)
    *slot = g_byte_array_append (g_byte_array_new (), nal, (guint) len);
}

/* An H.264 SEI NAL unit with a recovery point (payload type 6, D.1.8). */
static gboolean
h264_sei_has_recovery_point (const guint8 *nal, gsize len)
{
  Rbsp r;
  rbsp_init (&r, nal + 1, len - 1);
  gboolean found = FALSE;
  gsize pos = 0;
  while (pos + 2 <= r.len && !found) {
    guint type = 0, size = 0;
    while (pos < r.len && r.data[pos] == 0xff)
      type += 255, pos++;
    if (pos >= r.len)
      break;
    type += r.data[pos++];
    while (pos < r.len && r.data[pos] == 0xff)
      size += 255, pos++;
    if (pos >= r.len)
      break;
    size += r.data[pos++];
    if (type == 6)
      found = TRUE;
    pos += size;
    if (pos < r.len && r.data[pos] == 0x80 && pos + 1 == r.len)
      break;   /* rbsp trailing bits */
  }
  g_free (r.data);
  return found;
}

gboolean
ts_video_access_unit (TsVideoConfig *c, const guint8 *p, const GArray *nals)
{
  gboolean key = FALSE;
  for (guint i = 0; i < nals->len; i++) {
    const TsNal *n = &g_array_index (nals, TsNal, i);
    const guint8 *nal = p + n->start;
    if (n->len < 2)
      continue;
    if (c->codec == TS_VIDEO_H264) {
      guint type = nal[0] & 0x1f;
      if (type == 7 && !c->sps) {
        TsH264Sps sps;
        if (ts_h264_sps_parse (nal, n->len, &sps)) {
          keep (&c->sps, nal, n->len);
          c->width = sps.width;
          c->height = sps.height;
        }
      } else if (type == 8) {
        keep (&c->pps, nal, n->len);
      } else if (type == 5) {
        key = TRUE;
      } else if (type == 6 && h264_sei_has_recovery_point (nal, n->len)) {
        key = TRUE;
      }
    } else {
      guint type = (nal[0] >> 1) & 0x3f;
      if (type == 32) {
        keep (&c->vps, nal, n->len);
      } else if (type == 33 && !c->sps) {
        HevcSps s;
        if (hevc_sps_parse (nal, n->len, &s)) {
          keep (&c->sps, nal, n->len);
          c->width = s.width;
          c->height = s.height;
        }
      } else if (type == 34) {
        keep (&c->pps, nal, n->len);
      } else if (type >= 16 && type <= 23) {
        key = TRUE;
      }
    }
  }
  return key;
}

gboolean
ts_mpeg2_access_unit (TsVideoConfig *c, const guint8 *p, gsize n)
{
  gboolean key = FALSE;
  for (gsize i = 0; i + 4 <= n; i++) {
    if (p[i] != 0 || p[i + 1] != 0 || p[i + 2] != 1)
      continue;
    guint8 code = p[i + 3];
    if (code == 0xb3 && !c->sps && i + 8 <= n) {
      /* sequence_header (6.2.2.1): 12-bit width and height; kept with its
       * extension, up to the next start code that is not an extension. */
      c->width = (guint) p[i + 4] << 4 | p[i + 5] >> 4;
      c->height = (guint) (p[i + 5] & 0x0f) << 8 | p[i + 6];
      gsize end = n;
      for (gsize j = i + 4; j + 4 <= n; j++)
        if (p[j] == 0 && p[j + 1] == 0 && p[j + 2] == 1 && p[j + 3] != 0xb5) {
          end = j;
          break;
        }
      gboolean mpeg2 = FALSE;
      for (gsize j = i + 4; j + 4 <= end; j++)
        if (p[j] == 0 && p[j + 1] == 0 && p[j + 2] == 1 && p[j + 3] == 0xb5)
          mpeg2 = TRUE;
      c->mpeg_object_type = mpeg2 ? 0x61 : 0x6a;
      if (end - i < 4096)
        c->sps = g_byte_array_append (g_byte_array_new (), p + i, (guint) (end - i));
    } else if (code == 0x00 && i + 6 <= n) {
      key |= ((p[i + 5] >> 3) & 7) == 1;   /* picture_coding_type I */
      break;
    }
  }
  return key;
}

static void
write_array (ByteWriter *w, guint8 type, const GByteArray *nal)
{
  byte_writer_u8 (w, 0x80 | type);   /* array_completeness */
  byte_writer_u16 (w, 1);
  byte_writer_u16 (w, (guint16) nal->len);
  byte_writer_bytes (w, nal->data, nal->len);
}

gboolean
ts_video_write_entry (const TsVideoConfig *c, ByteWriter *w)
{
  if (c->codec == TS_VIDEO_MPEG2)
    return c->sps && codecs_write_mp4v (w, 1, c->mpeg_object_type, (guint16) MIN (c->width, 0xffff),
                                        (guint16) MIN (c->height, 0xffff), c->sps->data, c->sps->len);
  if (!c->sps || !c->pps || (c->codec == TS_VIDEO_HEVC && !c->vps))
    return FALSE;
  ByteWriter rec;
  byte_writer_init (&rec);
  if (c->codec == TS_VIDEO_H264) {
    /* AVCDecoderConfigurationRecord (14496-15 5.3.3.1). */
    const guint8 *sps = c->sps->data;
    byte_writer_u8 (&rec, 1);
    byte_writer_u8 (&rec, sps[1]);
    byte_writer_u8 (&rec, sps[2]);
    byte_writer_u8 (&rec, sps[3]);
    byte_writer_u8 (&rec, 0xff);   /* 4-byte lengths */
    byte_writer_u8 (&rec, 0xe1);
    byte_writer_u16 (&rec, (guint16) c->sps->len);
    byte_writer_bytes (&rec, c->sps->data, c->sps->len);
    byte_writer_u8 (&rec, 1);
    byte_writer_u16 (&rec, (guint16) c->pps->len);
    byte_writer_bytes (&rec, c->pps->data, c->pps->len);
  } else {
    /* HEVCDecoderConfigurationRecord (14496-15 8.3.3.1). */
    HevcSps s;
    if (!hevc_sps_parse (c->sps->data, c->sps->len, &s)) {
      byte_writer_clear (&rec);
      return FALSE;
    }
    byte_writer_u8 (&rec, 1);
    byte_writer_bytes (&rec, s.ptl, 12);
    byte_writer_u16 (&rec, 0xf000);
    byte_writer_u8 (&rec, 0xfc);
    byte_writer_u8 (&rec, 0xfc | s.chroma);
    byte_writer_u8 (&rec, 0xf8 | (s.bit_depth_luma - 8));
    byte_writer_u8 (&rec, 0xf8 | (s.bit_depth_chroma - 8));
    byte_writer_u16 (&rec, 0);
    byte_writer_u8 (&rec, (guint8) (MIN (s.max_sub_layers, 7) << 3 | (s.temporal_id_nesting ? 4 : 0) | 3));
    byte_writer_u8 (&rec, 3);
    write_array (&rec, 32, c->vps);
    write_array (&rec, 33, c->sps);
    write_array (&rec, 34, c->pps);
  }
  guint16 width = (guint16) MIN (c->width, 0xffff), height = (guint16) MIN (c->height, 0xffff);
  gboolean ok = c->codec == TS_VIDEO_H264 ? codecs_write_avc1 (w, width, height, rec.buf->data, rec.buf->len)
                                           : codecs_write_hvc1 (w, width, height, rec.buf->data, rec.buf->len);
  byte_writer_clear (&rec);
  return ok;
}

/* ts_nal.h — H.264 and HEVC in Annex B byte streams (ITU-T H.264 B, H.265 B).
 *
 * An access unit from the stream is stored as FFmpeg's MP4 muxer stores it
 * (ff_avc_parse_nal_units): every NAL unit kept, each start code replaced by
 * a 4-byte length, emulation prevention bytes untouched.  A NAL unit ends
 * where the next "00 00 01" begins, less one zero before it; bytes before the
 * first start code are dropped.  ts_annexb_nals() applies this to a whole
 * access unit at index time; ts_annexb_convert() produces the same bytes
 * while reading, stopping at the size the index promised, so the read needs
 * no more than where the access unit starts.
 */
#pragma once

#include "bytes.h"
#include "ts_packet.h"

G_BEGIN_DECLS

/* MPEG-2 (and MPEG-1) video is carried as it is, start codes and all
 * (ISO/IEC 14496-2 style elementary stream in mp4v, as FFmpeg stores it). */
typedef enum { TS_VIDEO_H264, TS_VIDEO_HEVC, TS_VIDEO_MPEG2 } TsVideoCodec;

typedef struct {
  gsize start;     /* first byte after the start code */
  gsize len;
} TsNal;

/* The NAL units of the access unit in p (appended to nals, which may be
 * NULL); returns the stored size. */
guint64 ts_annexb_nals (const guint8 *p, gsize n, GArray *nals);
/* Produces the stored form of an access unit of size bytes from w. */
gboolean ts_annexb_convert (TsEsWalk *w, guint8 *dest, gsize size);

/* Whether the NAL unit whose header starts at p (with avail bytes from
 * there) begins a new access unit after one that has a slice (7.4.1.2.3,
 * H.265 7.4.2.4.4).  Returns -1 when more bytes are needed. */
int ts_nal_starts_au (TsVideoCodec codec, const guint8 *p, gsize avail, gboolean au_has_slice, gboolean *is_slice);

/* What an H.264 SPS (7.3.2.1.1, VUI E.1.1) says of size and timing. */
typedef struct {
  guint width, height;
  guint poc_type;                 /* pic_order_cnt_type: 2 means output order is decode order */
  gboolean frame_mbs_only;
  guint32 num_units_in_tick, time_scale;   /* timing_info; 0 when absent */
  gboolean fixed_frame_rate;
  guint log2_max_frame_num, log2_max_poc_lsb;
  gboolean separate_colour_plane;
  gboolean has_reorder;           /* bitstream_restriction: max_num_reorder_frames */
  guint max_num_reorder_frames;
} TsH264Sps;

gboolean ts_h264_sps_parse (const guint8 *nal, gsize len, TsH264Sps *out);
/* pic_order_cnt_lsb of a frame's slice NAL unit (header included; its first
 * bytes are enough) under an SPS of pic_order_cnt_type 0 (7.3.3); FALSE if
 * cut short, or a field. */
gboolean ts_h264_slice_poc_lsb (const TsH264Sps *sps, const guint8 *nal, gsize len, guint32 *lsb);

/* Parameter sets and picture facts gathered from the NAL units of access units. */
typedef struct {
  TsVideoCodec codec;
  GByteArray *vps, *sps, *pps;   /* the first of each kind seen (NAL unit with header);
                                  * MPEG-2: sps holds the sequence header and extension */
  guint8 mpeg_object_type;       /* MPEG-2: 0x61 (0x6a for MPEG-1 video) */
  guint width, height;
} TsVideoConfig;

void ts_video_config_init (TsVideoConfig *c, TsVideoCodec codec);
void ts_video_config_clear (TsVideoConfig *c);
/* Looks at one access unit: keeps parameter sets, returns whether FFmpeg's
 * parser marks it a key frame (an IDR or IRAP picture, or an H.264 recovery
 * point SEI). */
gboolean ts_video_access_unit (TsVideoConfig *c, const guint8 *p, const GArray *nals);
/* The same for an MPEG-2 video access unit of n bytes (an I picture is a key frame). */
gboolean ts_mpeg2_access_unit (TsVideoConfig *c, const guint8 *p, gsize n);
/* The sample entry (avc1 + avcC, hvc1 + hvcC) once the parameter sets are known. */
gboolean ts_video_write_entry (const TsVideoConfig *c, ByteWriter *w);

G_END_DECLS

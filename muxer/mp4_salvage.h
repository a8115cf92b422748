/* mp4_salvage.h — a plain MP4 without a moov: `ftyp [free|wide|skip|uuid]
 * mdat`, the mdat of size 0 ("to the end of the file") or reaching the end
 * of the file, as a recorder leaves it while it records and after a crash
 * (`kill -9` of FFmpeg, GStreamer's mp4mux/qtmux).
 *
 * The mdat is walked unit by unit where its contents delimit themselves:
 * H.264 NAL units with 4-byte lengths (14496-15 5.3.2) whose parameter sets
 * are repeated in the stream (GStreamer `h264parse config-interval=-1`,
 * x264 `repeat-headers=1`), and MP3 or AC-3 frames (their headers give their
 * lengths).  At each position a length whose first byte is 0 (a NAL unit of
 * less than 16 MiB) is video, an MPEG audio or AC-3 sync word is audio, and
 * anything else stops the walk: recorders write chunks of whole samples of
 * one track after another.  NAL units are grouped into access units as the
 * MPEG-TS path does (ts_nal_starts_au: AUD, first_mb_in_slice); an access
 * unit is complete when the next unit begins another one or is audio.
 *
 * Timing is not in the mdat, so it is derived and said so (a note): video
 * frames last 2 * num_units_in_tick of the SPS's VUI timing_info (frame
 * coding only), audio frames their sample count; both tracks start at 0 (the
 * A/V offset a recorder writes into its moov's edit lists is lost).  Frames
 * are presented in picture order count order (pic_order_cnt_type 0, with
 * the VUI's max_num_reorder_frames; type 2 is decode order): B-frames get
 * composition offsets and an edit of max_num_reorder_frames frames.
 * Streams this cannot do exactly are refused with the reason, never guessed:
 * AAC and other audio without frame headers, pic_order_cnt_type 0 without
 * max_num_reorder_frames, type 1, interlaced video, an SPS without
 * timing_info, HEVC (not walked yet).
 *
 * If the recorder finishes the file (the mdat sized, a moov after it) the
 * recording is finalised and indexed again by mp4.c (recording_successor).
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

extern const IndexerClass mp4_salvage_indexer;

/* Why src, a plain MP4 without a moov, is mirrored as it is rather than
 * walked; NULL if it is not such a file, or if it can be walked. */
char *mp4_salvage_why_not (const Source *src);

/* A NAL unit longer than this is damage. */
#define MP4_SALVAGE_MAX_NAL (16u * 1024 * 1024)
/* The probe walks this much of the mdat at most. */
#define MP4_SALVAGE_PROBE_BYTES (4u * 1024 * 1024)

G_END_DECLS

/* mkv.h — indexer for Matroska and WebM recordings (RFC 9559).
 *
 * A recording is an EBML header (DocType "matroska" or "webm") and a Segment,
 * whose size and whose Clusters' sizes may be unknown while it is written.
 * The indexer reads element headers, Info, Tracks and block headers, never a
 * frame's payload except the few bytes that give an audio frame's duration.
 * Each frame of a block becomes one sample where it lies in the file.
 *
 * Timing: presentation times are the Matroska timestamps (minus CodecDelay
 * for audio).  Video decode times are rebuilt from the block order, like
 * FFmpeg's remux does: a frame's duration is known once the next frame of its
 * track arrives, so each video track holds its last frame back, and an H.264
 * or HEVC track holds its first frames until the reorder depth of B-frames is
 * known (VP8, VP9 and AV1 blocks come in presentation order).  Audio frames
 * are final on arrival: their durations come from the codec (Opus TOC, AAC
 * frame length, FLAC block size, AC-3, MPEG audio), so long recordings do
 * not drift, and where the timestamps stray by more than a frame (a dropout,
 * DTX) a composition offset keeps the frames after it in place.  Samples are
 * appended in file order across tracks, so a held frame also holds back the
 * frames after it.  The held frames are released with an estimated duration
 * when the Segment ends (its known size reached, or Cues, Tags, Chapters or
 * Attachments after the Clusters).  DiscardPadding shortens a block's last
 * frame, so the track's edit ends where the source's audio does.
 *
 * Bounds: the walk descends only into Segment, Cluster and BlockGroup (and, in
 * memory, Tracks > TrackEntry > Video/Audio > Colour), so nesting is bounded by
 * the schema and nothing recurses on input; header elements are read whole
 * only up to RECORDING_MAX_HEADER_BOX; queued frames are capped below.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

extern const IndexerClass mkv_indexer;

/* Frames an H.264/HEVC track holds back to learn its B-frame reorder depth. */
#define MKV_REORDER_LOOKAHEAD 16
/* Reorder depths above this are treated as this (H.264 allows 16). */
#define MKV_MAX_REORDER 16
/* Frames waiting behind a held one; past this the held frame is released
 * with an estimated duration, so a stalled track cannot hold memory. */
#define MKV_MAX_PENDING_FRAMES 20000

G_END_DECLS

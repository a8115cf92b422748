/* segment.h — a recording as HLS: an init segment and media segments (fMP4).
 *
 *   init.mp4   ftyp | moov (mvhd, trak per track with stsd and empty tables, mvex/trex)
 *   NNNNNN.m4s moof (mfhd, per track traf: tfhd default-base-is-moof, tfdt, trun v1
 *              with data_offset, durations, sizes, flags, composition offsets) | mdat
 *
 * A segment begins at each sync sample of the first video track that lies
 * SEGMENT_MIN_MS or more after the segment's start (all-intra video would
 * otherwise give a segment a frame; without video: at the first sample of
 * the first track 2 s or more after the segment's start); the other tracks' samples go to the segment in whose time
 * they begin.  A segment is listed once it is settled: the sample that begins
 * the next one is in the snapshot and every other track has a sample at or
 * past that time (so no sample of it changes again), or the recording has
 * ended.  Bytes and numbering depend on the source's samples alone: segment N
 * is the same whenever it is built.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

/* Audio-only recordings: the length of a segment. */
#define SEGMENT_AUDIO_SECONDS 2
#define SEGMENT_MIN_MS 900
/* A media segment's sample bytes and samples at most (a longer GOP is
 * refused, with the reason logged). */
#define SEGMENT_MAX_BYTES (512u * 1024 * 1024)
#define SEGMENT_MAX_SAMPLES (1u << 20)

typedef struct SegmentPlan SegmentPlan;

/* The settled segments of snap; with ended, the rest of it as a last one.
 * Call with rec->lock held for reading. */
SegmentPlan *segment_plan_new (Recording *rec, const Snapshot *snap, gboolean ended);
void segment_plan_free (SegmentPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SegmentPlan, segment_plan_free)

/* Tracks in the init segment (0: nothing to show yet). */
guint segment_plan_tracks (const SegmentPlan *plan);
guint segment_plan_count (const SegmentPlan *plan);
/* Whether the plan's last segment ends the recording (EXT-X-ENDLIST). */
gboolean segment_plan_complete (const SegmentPlan *plan);
double segment_plan_duration (const SegmentPlan *plan, guint index);

/* The init segment; NULL if the plan has no track.  rec->lock held for reading. */
GBytes *segment_build_init (Recording *rec, const SegmentPlan *plan);
/* Media segment index, its samples read from src; NULL (with the reason in
 * *error) if they cannot be read.  rec->lock held for reading. */
GBytes *segment_build_media (Recording *rec, const SegmentPlan *plan, guint index, const Source *src,
                             char **error);
/* The least #EXT-X-TARGETDURATION a playlist of the plan may have: every
 * segment's duration rounded to the nearest second (RFC 8216 4.3.3.1), and
 * at least SEGMENT_MIN_TARGET, so that GOPs of up to 6 s never change it. */
#define SEGMENT_MIN_TARGET 6
guint segment_plan_target (const SegmentPlan *plan);
/* The size segment_build_media() gives segment index, without reading a
 * sample; FALSE (with the reason in *error) where it would fail for its size. */
gboolean segment_media_size (Recording *rec, const SegmentPlan *plan, guint index, guint64 *size, char **error);
/* The HLS playlist (RFC 8216, version 7, EVENT) of the plan with that
 * target duration; prefix goes before every URI ("NAME.hls/"). */
char *segment_playlist (const SegmentPlan *plan, const char *prefix, guint target);
/* A segment's file name: "%06u.m4s". */
char *segment_name (guint index);

G_END_DECLS

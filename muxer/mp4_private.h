/* mp4_private.h — what the plain MP4 indexer (mp4.c) shares with its
 * followers of moovs rewritten in place (mp4_robust.c): its state, the
 * top-level walk to the moov, and the queues of samples not appended yet.
 */
#pragma once

#include "bytes.h"
#include "recording.h"

G_BEGIN_DECLS

/* A track's samples not appended yet: in decode order, which must be source
 * order too, so the recording's source order is a merge of these. */
typedef struct {
  Track *track;
  GArray *samples;               /* StblSample */
  guint next;
  /* While the moov is followed (mp4_robust.c): samples[0] is the moov's
   * sample number base, the moov listed `listed`, and prefix_hash sums them
   * up (the last one's duration left out: the next moov may still set it). */
  guint32 base, listed;
  guint64 prefix_hash;
} Mp4Queue;

typedef struct {
  guint64 pos;                   /* next top-level box; then where the moov is */
  BoxHeader moov;                /* the moov's header, once found */
  guint boxes;                   /* top-level boxes walked */
  gboolean indexed;              /* the moov's tracks and samples are in */
  guint64 indexed_size;          /* the source size when every sample was appended */
  gboolean noted_growth;
  GArray *queues;                /* Mp4Queue, in track order; empty once all are appended */
  /* The moov lies in front of an mdat still being written (GStreamer's
   * robust muxing rewrites it in place): its updates are followed. */
  gboolean follow;
  GBytes *moov_bytes;            /* the followed moov's body */
  guint64 listed_end;            /* where the last sample it lists ends */
  guint32 movie_timescale;       /* its mvhd's (0: none) */
} Mp4State;

typedef enum {
  WALK_MOOV,        /* *pos is at a moov that is on disk whole */
  WALK_NEED_MORE,   /* the moov is not on disk (yet) */
  WALK_NOT_MP4,     /* damaged, or not a plain MP4: *why says why */
} WalkResult;

/* Reads the top-level box header at pos: WALK_MOOV when it is read (size 0:
 * to the end of the file), WALK_NEED_MORE when it is not on disk whole. */
WalkResult mp4_read_box_header (const Source *src, guint64 pos, BoxHeader *h, const char **why);

/* Walks the top-level boxes from *pos, by header, to the moov; *boxes counts
 * the boxes walked.  Stops at the moov (with its header in *moov) or where
 * the file ends. */
WalkResult mp4_walk_to_moov (const Source *src, guint64 *pos, guint *boxes, BoxHeader *moov, const char **why);

/* An edit list that ends inside the last sample shortens it (mp4.c). */
void mp4_trim_last_sample (GArray *samples, guint64 edit_end);

G_END_DECLS

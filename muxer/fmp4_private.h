/* fmp4_private.h — what the fragmented MP4 indexer's files share: its state,
 * the samples parsed but not yet on disk, and the entry points of the init
 * segment (fmp4_moov.c) and fragment (fmp4_moof.c) parsers.  Not a public API.
 */
#pragma once

#include "bytes.h"
#include "fmp4.h"

G_BEGIN_DECLS

#define MAX_SAMPLES_PER_MOOF (1u << 20)
/* Samples a moof may hold beyond one per byte of moof and payload. */
#define MOOF_FREE_SAMPLES 4096

typedef struct {
  guint32 id;
  Track *track;
  guint32 default_description_index;
  guint32 default_duration;
  guint32 default_size;
  guint32 default_flags;
  gboolean started;              /* the first sample has been parsed */
  guint64 next_decode_time;      /* of the next sample, as the samples parsed so far lead to it */
  guint32 last_duration;         /* of the last sample parsed */
  guint32 amend_duration;        /* for the last appended sample once this moof is good; 0: none */
} Fmp4Track;

typedef struct {
  guint64 source_offset;
  Fmp4Track *track;
  SampleInfo info;
} PendingSample;

typedef enum { PHASE_HEAD, PHASE_FRAGMENTS, PHASE_TAIL } Phase;

typedef struct {
  Phase phase;
  guint64 pos;                   /* next top-level box */
  guint32 recent_moofs[16];      /* sizes of the last moofs, to read the next with its header */
  guint64 n_moofs;
  gboolean moof_expected;        /* pos is just past an mdat */
  /* GStreamer's first-moov-then-finalise: the first fragment's mdat comes
   * before the moov, each later mdat before its moof, written with size 0
   * until the moof follows; finalising renames the moov at moov_pos. */
  gboolean mdat_first;
  guint64 moov_pos;
  GArray *tracks;                /* Fmp4Track */
  GArray *hidden_trex;           /* Fmp4Track (track NULL): trex of tracks not shown */
  GArray *pending;               /* PendingSample, in source order */
  guint pending_done;
  gboolean warned_unknown_track;
  GArray *moov_samples;          /* StblSample of the track being parsed */
} Fmp4State;

/* The indexer's record of the shown track with this track_ID, or NULL. */
Fmp4Track *fmp4_find_track (Fmp4State *st, guint32 id);
gboolean fmp4_parse_moov (Fmp4State *st, Recording *rec, ByteReader moov);
gboolean fmp4_parse_moof (Fmp4State *st, Recording *rec, ByteReader moof, guint64 moof_start);
/* Puts the pending samples from index first on (one moof's, or the moov's)
 * in data offset order: payload order is source order.  FALSE if two of
 * them overlap, which is damage. */
gboolean fmp4_sort_pending (Fmp4State *st, guint first);

G_END_DECLS

/* recording.h — a recording as the muxer sees it, whatever its container.
 *
 * A Recording owns its tracks (codec configuration and sample tables) and the
 * payload extents: the source byte ranges that make up the virtual mdat, in
 * source order.  An indexer (fmp4.c, mkv.c) feeds it from the source's new
 * bytes; recording_snapshot() pins the sample counts that a virtual file is
 * built from.  Appends take the write lock; layout reads take the read lock.
 */
#pragma once

#include <glib.h>

#include "source.h"
#include "table.h"

G_BEGIN_DECLS

/* Documented resource bounds per recording (README, "Limits"). */
#define RECORDING_MAX_TRACKS 64
#define RECORDING_MAX_SAMPLES (100u * 1000 * 1000)
#define RECORDING_MAX_HEADER_BOX (64u * 1024 * 1024)  /* moov, moof, EBML header elements */
/* The payload keeps the source's page alignment (layout.h). */
#define RECORDING_PAGE 4096u
/* The sample tables in the synthesised moov, which must stay below 4 GiB. */
#define RECORDING_MAX_MOOV_TABLES (3ull << 30)

typedef struct {
  guint32 id;                     /* track_ID, unique in the recording */
  guint32 handler;                /* 'vide', 'soun', 'text', 'subt', ... */
  guint32 timescale;
  guint16 language;               /* mdhd packed ISO-639-2/T */
  guint16 tkhd_flags;
  gint16 layer;
  gint16 alternate_group;
  gint16 volume;                  /* 8.8 */
  gint32 matrix[9];
  guint32 width;                  /* 16.16 */
  guint32 height;                 /* 16.16 */
  GBytes *media_header;           /* vmhd/smhd/sthd/nmhd box, or NULL to synthesise */
  GBytes *sample_descriptions;    /* stsd body after version/flags: entry_count, entries */
  guint32 codec;                  /* fourcc of the first sample entry */
  /* Presentation time, in timescale units, of decode time 0; the writer adds
   * the first decode time to place the track's first sample. */
  gint64 edit_base;
  guint64 first_decode_time;
  SampleTable table;
} Track;

/* Source bytes in the payload.  source_offset - payload_offset is the same
 * for every extent of a recording, modulo RECORDING_PAGE. */
typedef struct {
  guint64 source_offset;
  guint64 payload_offset;
  guint64 length;                 /* the last extent grows while samples arrive */
  guint64 zeros;                  /* 1: source bytes the recorder rewrites later, read as zeros
                                   * (64 bits: no padding in an Extent, which tests compare) */
} Extent;

/* Source bytes a recording may mark as rewritten later, at most. */
#define RECORDING_MAX_MASK 64u

typedef struct Recording Recording;

typedef enum {
  PROBE_NO,          /* not a recording of this kind */
  PROBE_NEED_MORE,   /* too few bytes to tell */
  PROBE_YES,
} ProbeResult;

typedef struct {
  const char *name;               /* "fmp4", "matroska", ... */
  ProbeResult (*probe) (const Source *src);
  gpointer (*state_new) (void);
  void (*state_free) (gpointer state);
  /* Indexes the bytes not seen yet.  Returns FALSE when the recording cannot
   * be indexed further; the reason is set with recording_fail(). */
  gboolean (*feed) (gpointer state, Recording *rec, const Source *src);
  /* Optional: the payload is produced by the indexer rather than spliced
   * from the source (MPEG-TS, whose samples are spread over packets).  Writes
   * payload bytes [payload_offset, payload_offset + len) of samples already
   * appended to dest; FALSE if the source cannot be read.  Called with
   * rec->lock held for reading, concurrently with feed() and other reads. */
  gboolean (*read_payload) (gpointer state, Recording *rec, const Source *src, guint64 payload_offset,
                            guint8 *dest, gsize len);
  /* Optional: bytes the state keeps per sample (read_payload's locators),
   * for recording_memory().  Called with rec->lock held for reading. */
  gsize (*memory) (gpointer state);
  /* Also fed when the source changed without growing (a new mtime): the
   * format rewrites bytes in place (a robust-muxing moov, mp4_robust.h). */
  gboolean rewrites_in_place;
  /* Optional: the writer is done with the source (the recording settled, or
   * a tool reads it as finished): completes what waits for bytes that will
   * not come (an MPEG-TS access unit in an unbounded PES).  Returns TRUE if
   * it made samples visible that more bytes could have made otherwise: then
   * a recording that grows again is indexed anew (recording_needs_reindex).
   * Called under feed_lock, after feed() has seen every byte of src. */
  gboolean (*finish) (gpointer state, Recording *rec, const Source *src);
} IndexerClass;

/* Locks, in the order they are taken (never the other way round):
 *   feed_lock      one indexer run at a time (recording_update); the indexer's
 *                  state, source_size and failed are written only under it;
 *   lock           the tracks, sample tables and extents: appends take it for
 *                  writing, snapshots and layout reads for reading;
 *   problems_lock  error and notes; a leaf, held only to copy or append.
 * Without a lock: name and indexer (fixed); failed through recording_failed(). */
struct Recording {
  gint ref;
  char *name;                     /* for log messages */
  GRWLock lock;
  GMutex feed_lock;
  GMutex problems_lock;
  const IndexerClass *indexer;
  gpointer state;
  GPtrArray *tracks;              /* Track* */
  GArray *extents;                /* Extent */
  guint64 payload_len;
  guint64 total_samples;
  guint64 moov_table_bytes;       /* what the tables take in a moov of every sample */
  guint64 source_size;            /* bytes the indexer has been shown */
  guint64 generation;             /* changes whenever a sample is appended or amended */
  gboolean failed;                /* set atomically, under feed_lock */
  gboolean io_failed;             /* a read failed: index again (recording_io_failed) */
  gboolean finished;              /* recording_finish() ran since the last new bytes: feed_lock */
  gboolean finish_provisional;    /* ...and made samples visible that more bytes could change: atomic */
  gboolean finalised;             /* the recorder finalised the file (recording_finalise) */
  guint64 mask_start, mask_end;   /* recording_mask_source(); feed_lock */
  guint io_errors_at_feed;        /* source_io_errors() when the feed began: feed_lock */
  char *error;                    /* first problem met, or NULL: problems_lock */
  char *io_error;                 /* the read error that stopped it, or NULL: problems_lock */
  GString *notes;                 /* dropped tracks and other warnings, one per line: problems_lock */
  /* The source moov's user data (its udta and meta boxes, whole), written
   * verbatim at the end of the synthesised moov; NULL if none.  Set once, by
   * the indexer, under the write lock. */
  GBytes *user_data;
  /* Read back from an index cache (index_cache.h): never fed, whatever the
   * source's size; fixed once returned. */
  gboolean restored;
};

typedef struct {
  guint n_tracks;
  guint32 *counts;                /* samples per track */
  TablePin *pins;                 /* per track: what its table may still change */
  gboolean *configured;           /* per track: its sample entry is known */
  guint64 payload_len;
  guint64 source_size;
  guint64 generation;             /* the recording's, when taken */
} Snapshot;

/* Where the payload lies against the source's pages: source_offset -
 * payload_offset of every extent, modulo RECORDING_PAGE (0 without payload).
 * Call with rec->lock held. */
guint64 recording_payload_phase (Recording *rec);

/* Finds the indexer for src, or NULL.  *need_more is set when a short
 * source could still turn out to be a recording. */
const IndexerClass *recording_detect (const Source *src, gboolean *need_more);

/* Why src, which looks like a recording of a kind an indexer knows, is not
 * one it can show (a moov-less MP4 whose mdat cannot be walked): a reason
 * for the mirrored file's user.livemp4.error, or NULL. */
char *recording_why_not (const Source *src);

Recording *recording_new (const IndexerClass *indexer, const char *name);
Recording *recording_ref (Recording *rec);
void recording_unref (Recording *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Recording, recording_unref)

/* Indexes what src holds beyond what was seen.  Returns TRUE if new samples
 * became visible. */
gboolean recording_update (Recording *rec, const Source *src);

/* The writer is done with src (which recording_update() has seen): the
 * indexer completes what waits for more bytes (IndexerClass.finish).  Once
 * only until the source grows; if the recording then grows and the finish
 * made samples visible, it is not fed further (recording_needs_reindex). */
void recording_finish (Recording *rec, const Source *src);
gboolean recording_finished (Recording *rec);
/* Whether the caller must index the source again in a new Recording before
 * showing source_size bytes of it: an I/O error stopped this index
 * (recording_io_failed), or it grew past a finish that completed samples
 * its new bytes could have made otherwise.  Any thread. */
gboolean recording_needs_reindex (Recording *rec, guint64 source_size);

Snapshot *recording_snapshot (Recording *rec);
Snapshot *snapshot_copy (const Snapshot *snap);
void snapshot_free (Snapshot *snap);
gboolean snapshot_equal (const Snapshot *a, const Snapshot *b);
guint64 snapshot_samples (const Snapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Snapshot, snapshot_free)

/* For indexers.  Tracks are added and samples appended between
 * recording_begin_append() and recording_end_append(), which hold the write
 * lock; parse outside it so readers are not held up. */
void recording_begin_append (Recording *rec);
void recording_end_append (Recording *rec);
Track *recording_add_track (Recording *rec);
/* Appends one sample whose bytes lie at source_offset.  Samples must arrive in
 * source order; fails (and records why) otherwise or past the limits. */
gboolean recording_append_sample (Recording *rec, Track *track, guint64 source_offset,
                                  const SampleInfo *info);
/* For indexers with read_payload: appends one sample at the end of the
 * produced payload (it has no extents); same limits as above. */
gboolean recording_append_produced_sample (Recording *rec, Track *track, const SampleInfo *info);
/* Gives the track's last appended sample its final duration (at least 1),
 * once the source's next timestamp shows it: see sample_table_set_last_duration(). */
void recording_set_last_duration (Recording *rec, Track *track, guint64 duration);
/* Stops indexing with a reason; logged once. */
void recording_fail (Recording *rec, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Records a non-fatal problem (a dropped track, a gap); logged once. */
void recording_note (Recording *rec, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* A copy of the error or notes, for status attributes; any thread. */
char *recording_describe_problems (Recording *rec);
/* Whether indexing stopped for good; any thread. */
gboolean recording_failed (Recording *rec);
/* Whether an I/O error (not bad bytes) stopped the last update: this index
 * may be wrong from there on and is never fed again; index the source again
 * in a new Recording.  Its snapshots taken before the update stay valid.
 * recording_describe_problems() names the error.  Any thread. */
gboolean recording_io_failed (Recording *rec);
/* For indexers: the recorder finalised the source into a layout another
 * indexer reads whole (a hybrid MP4's moov written after its fragments, the
 * head rewritten over them).  Not an error: this index ends where it is, and
 * recording_successor() tells when the source can be indexed again. */
void recording_finalise (Recording *rec);
/* For indexers: source bytes [offset, offset + len) (len at most
 * RECORDING_MAX_MASK) will be rewritten by the recorder (GStreamer renames
 * the first moov of a first-moov-then-finalise recording): carried in the
 * payload between samples as zeros, so a snapshot's bytes never change. */
void recording_mask_source (Recording *rec, guint64 offset, guint64 len);
gboolean recording_finalised (Recording *rec);
/* For a finalised recording, the indexer that now reads src, if it is
 * another than rec's (the finalisation is through): index src again with
 * it in a new Recording, as after a read error.  NULL while the recorder is
 * still rewriting (or if it never finishes); reads a few box headers. */
const IndexerClass *recording_successor (Recording *rec, const Source *src);
const char *recording_format_name (Recording *rec);
gsize recording_memory (Recording *rec);
/* Whether rec was read back from an index cache: recording_update() leaves
 * it as it is, and a source that changed needs a new Recording. */
gboolean recording_restored (Recording *rec);

G_END_DECLS

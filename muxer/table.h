/* table.h — append-only, compact sample tables of one track.
 *
 * Sizes take 4 bytes a sample; durations and composition offsets are kept as
 * runs while samples arrive; sync samples are listed only once the first
 * non-sync sample appears; chunks are maximal runs of samples that are
 * contiguous in the payload, and runs of chunks alike in sample count and
 * description (stsc) are kept as chunks close.  Entries are appended or their
 * last run is extended, never rewritten, so a snapshot is just a sample
 * count: every query below takes the count it should look at, and costs no
 * more than the samples appended after that count (a snapshot's own tables
 * are never walked).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint32 count;
  guint32 delta;
} DurationRun;

typedef struct {
  guint32 count;
  gint32 offset;
} OffsetRun;

typedef struct {
  guint64 payload_offset;     /* where the chunk starts in the virtual payload */
  guint32 first_sample;       /* 0-based */
  guint32 count;              /* grows while the chunk is the last one */
  guint32 description_index;  /* 1-based stsd entry */
} Chunk;

/* Duration (stts) or composition offset (ctts) runs, packed: every run but
 * the last two, which may still change, is a few bytes (table_runs.c), with
 * a mark every RUN_MARK_EVERY runs.  Offsets are kept as guint32 in
 * DurationRun.delta.  len counts every run. */
#define RUN_MARK_EVERY 64

typedef struct {
  guint64 sum;                /* of count * value over the runs before */
  guint32 samples;            /* in the runs before */
  guint32 byte;               /* where the run starts */
} RunMark;

typedef struct {
  guint32 len;                /* runs, the last two included */
  guint32 packed;             /* runs in bytes: len - 2, or 0 */
  gboolean is_signed;         /* values are gint32 (ctts) */
  GByteArray *bytes;
  GArray *marks;              /* RunMark of runs 0, RUN_MARK_EVERY, ... */
  guint32 packed_samples;
  guint64 packed_sum;
  DurationRun tail[2];        /* runs packed .. len - 1 */
} RunList;

/* Reads runs in order from any one of them. */
typedef struct {
  const RunList *list;
  guint32 index;              /* of run */
  DurationRun run;
  guint32 samples_before;     /* in the runs before this one */
  guint64 sum_before;         /* of count * value over the runs before (durations) */
  guint byte;                 /* where the next packed run starts */
} RunCursor;

/* Puts c on run i (i < l->len). */
void run_cursor_init (RunCursor *c, const RunList *l, guint32 i);
/* Moves c to the next run; FALSE (c unchanged) past the last. */
gboolean run_cursor_next (RunCursor *c);
/* Puts c on the run that holds sample n - 1; FALSE if n or l is empty. */
gboolean run_list_locate (const RunList *l, guint32 n, RunCursor *c);
/* Run i as it stands now. */
DurationRun run_list_get (const RunList *l, guint32 i);
/* Writes runs [first, first + count) as big-endian stts/ctts entries, add
 * added to each value (modulo 2^32). */
void run_list_write (const RunList *l, guint32 first, guint32 count, guint32 add, guint8 *out);
/* Whether a and b hold the same runs. */
gboolean run_list_equal (const RunList *a, const RunList *b);

/* For table.c. */
RunList *run_list_new (gboolean is_signed);
void run_list_free (RunList *l);
void run_list_push (RunList *l, guint32 count, guint32 value);
DurationRun *run_list_last (RunList *l);          /* NULL while empty */
DurationRun *run_list_before_last (RunList *l);   /* NULL unless kept whole */
void run_list_drop_last (RunList *l);
gsize run_list_memory (const RunList *l);

/* The chunks of a table, packed: every chunk but the last, which still
 * grows, is a few bytes (table_chunks.c), with an absolute mark every
 * CHUNK_MARK_EVERY chunks for the searches.  Read through
 * sample_table_chunk() and ChunkCursor; len counts the last one too. */
#define CHUNK_MARK_EVERY 128

typedef struct {
  guint64 payload_offset;     /* of the chunk the mark stands for */
  guint32 first_sample;
  guint32 description_index;
  guint32 byte;               /* where that chunk's entry starts */
} ChunkMark;

typedef struct {
  guint32 len;                /* chunks, the last one included */
  guint32 closed;             /* chunks packed in bytes (len - 1, or 0) */
  GByteArray *bytes;          /* the closed chunks' entries */
  GArray *marks;              /* ChunkMark of chunks 0, CHUNK_MARK_EVERY, ... */
  Chunk last;                 /* the last chunk, while len > 0 */
  guint64 last_gap_from;      /* payload end of the chunk before the last */
  guint32 packed_description; /* of the last packed chunk */
} ChunkList;

/* A run of chunks with the same samples and description (8.7.4). */
typedef struct {
  guint32 first_chunk;        /* 0-based */
  guint32 samples;
  guint32 description_index;
} ChunkRun;

typedef struct {
  guint32 count;
  guint64 duration;           /* sum of all durations */
  guint64 payload_end;        /* payload offset just past the last sample */
  GArray *sizes;              /* guint32 */
  RunList *durations;         /* stts */
  RunList *offsets;           /* ctts */
  GArray *syncs;              /* guint32 0-based sample numbers; empty while all are sync */
  gboolean all_sync;
  ChunkList *chunks;
  GArray *chunk_runs;         /* ChunkRun of the chunks before the last */
  /* The first sample that differs from sample 0 in size, has a composition
   * offset, has a negative one; G_MAXUINT32 while there is none. */
  guint32 first_other_size;
  guint32 first_offset;
  guint32 first_negative_offset;
  /* Where the smallest negative composition offset so far fell: each entry
   * a sample and an offset below every one before it, so the most negative
   * offset among the first n samples is a binary search away. */
  GArray *offset_minima;      /* OffsetMinimum */
  /* The latest presentation end (decode time + offset + duration) of every
   * sample but the last, whose duration may still change. */
  gint64 settled_presentation_end;
} SampleTable;

typedef struct {
  guint32 sample;
  gint32 offset;
} OffsetMinimum;

typedef struct {
  guint32 size;
  guint32 duration;
  gint32 composition_offset;
  gboolean sync;
  guint32 description_index;
  guint64 payload_offset;
} SampleInfo;

void sample_table_init (SampleTable *t);
void sample_table_clear (SampleTable *t);
void sample_table_append (SampleTable *t, const SampleInfo *s);
/* Gives the last sample a new duration, once the sample after it shows how
 * long it lasts (a gap in the source's timestamps, or the end of a guess).
 * Only the last two stts runs change (the last split off, or merged into
 * the one before), so the runs stay maximal, as if the sample had come with
 * that duration, and a snapshot, which pins its last two, reads what it read.
 * Returns the change in stts entries (-1, 0 or 1). */
gint sample_table_set_last_duration (SampleTable *t, guint32 duration);
guint32 sample_table_last_duration (const SampleTable *t);

/* What a snapshot of the first n samples keeps of what may change after it:
 * the duration of the table's last sample (sample_table_set_last_duration),
 * which changes the last two stts runs at most, and the sum of durations.
 * A snapshot is its sample counts and these. */
typedef struct {
  guint64 duration;           /* of the first n samples */
  gint64 presentation_end;    /* the latest decode time + composition offset + duration */
  guint32 stts_entries;
  DurationRun stts_tail[2];   /* the last two entries (the last one alone if there is one) */
} TablePin;

/* Pins every sample the table has now. */
void sample_table_pin (const SampleTable *t, TablePin *pin);

/* Queries about the first n samples (n <= t->count). */
guint64 sample_table_duration (const SampleTable *t, guint32 n);
/* The duration (stts) and composition offset (ctts) runs the first n samples
 * span, and how many of those samples the last of them holds. */
guint32 sample_table_duration_runs (const SampleTable *t, guint32 n, guint32 *last_count);
guint32 sample_table_offset_runs (const SampleTable *t, guint32 n, guint32 *last_count);
guint32 sample_table_chunk_count (const SampleTable *t, guint32 n);
/* Chunk i (i < t->chunks->len) as it stands now: its count may still grow
 * if it is the last; a snapshot caps it at its own sample count. */
Chunk sample_table_chunk (const SampleTable *t, guint32 i);
/* The chunk that starts last at or before payload_offset; FALSE if none does. */
gboolean sample_table_chunk_at (const SampleTable *t, guint64 payload_offset, Chunk *out);

/* Writes the offsets of chunks [first, first + count), base added, as
 * big-endian stco (32-bit, truncated) or co64 entries. */
void sample_table_write_chunk_offsets (const SampleTable *t, guint32 first, guint32 count, guint64 base,
                                       gboolean co64, guint8 *out);

/* Reads chunks in order from any one of them, a few bytes each. */
typedef struct {
  const SampleTable *table;
  guint32 index;              /* of chunk */
  Chunk chunk;
  guint byte;                 /* where the next packed entry starts */
} ChunkCursor;

/* Puts c on chunk i (i < t->chunks->len). */
void chunk_cursor_init (ChunkCursor *c, const SampleTable *t, guint32 i);
/* Moves c to the next chunk; FALSE (c unchanged) past the last. */
gboolean chunk_cursor_next (ChunkCursor *c);
/* Puts c on the chunk that starts last at or before payload_offset; FALSE
 * (c unset) if none does. */
gboolean chunk_cursor_at (ChunkCursor *c, const SampleTable *t, guint64 payload_offset);
/* Run i of the durations, of the composition offsets (i below ->len). */
DurationRun sample_table_duration_run (const SampleTable *t, guint32 i);
OffsetRun sample_table_offset_run (const SampleTable *t, guint32 i);
/* The stsc entries of the first n samples and the last of them: the runs of
 * closed chunks, and the snapshot's last chunk as it stands within n. */
guint32 sample_table_chunk_runs (const SampleTable *t, guint32 n, ChunkRun *last);
guint32 sample_table_sync_count (const SampleTable *t, guint32 n);
gboolean sample_table_has_offsets (const SampleTable *t, guint32 n, gboolean *negative);
/* The most negative composition offset of the first n samples, or 0. */
gint32 sample_table_min_offset (const SampleTable *t, guint32 n);
/* The constant size of the first n samples, or 0 if they differ. */
guint32 sample_table_constant_size (const SampleTable *t, guint32 n);
guint64 sample_table_bytes (const SampleTable *t, guint32 n);
/* The bytes its tables take in a moov of all its samples, at most. */
static inline guint64
sample_table_moov_bytes (const SampleTable *t)
{
  return 8ull * t->durations->len + 8ull * t->offsets->len + 4ull * t->syncs->len + 4ull * t->count +
         12ull * (t->chunk_runs->len + (t->chunks->len > 0)) + 8ull * t->chunks->len;
}
/* For table.c: the chunk list's storage (table_chunks.c). */
ChunkList *chunk_list_new (void);
void chunk_list_free (ChunkList *l);
/* Makes c the last chunk; the one before it, which ended at payload_end, is packed. */
void chunk_list_push (ChunkList *l, const Chunk *c, guint64 payload_end);
gsize chunk_list_memory (const ChunkList *l);
/* A walk over the samples one by one, in decode order (segment.c): each
 * sample's size, duration, composition offset, sync flag, description and
 * payload offset, and its decode time from the track's first sample.  The
 * cursor is a position only; it may be copied to resume a walk later, while
 * the table has not changed. */
typedef struct {
  guint32 index;              /* the next sample */
  guint64 payload_offset;     /* of the next sample */
  guint64 decode_time;        /* of the next sample */
  gboolean started;
  RunCursor duration, offset;
  guint32 duration_used, offset_used;
  ChunkCursor chunk;
  guint sync_entry;
} SampleCursor;

void sample_cursor_init (SampleCursor *c);
/* The cursor's sample into *out (and its decode time), then moves past it;
 * FALSE at the table's end. */
gboolean sample_cursor_next (const SampleTable *t, SampleCursor *c, SampleInfo *out, guint64 *decode_time);

/* Resident bytes, for memory accounting. */
gsize sample_table_memory (const SampleTable *t);

G_END_DECLS

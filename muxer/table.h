/* table.h — append-only, compact sample tables of one track.
 *
 * Sizes take 4 bytes a sample; durations and composition offsets are kept as
 * runs while samples arrive; sync samples are listed only once the first
 * non-sync sample appears; chunks are maximal runs of samples that are
 * contiguous in the payload.  Entries are appended or their last run is
 * extended, never rewritten, so a snapshot is just a sample count: every
 * query below takes the count it should look at.
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

typedef struct {
  guint32 count;
  guint64 duration;           /* sum of all durations */
  guint64 payload_end;        /* payload offset just past the last sample */
  GArray *sizes;              /* guint32 */
  GArray *durations;          /* DurationRun */
  GArray *offsets;            /* OffsetRun */
  GArray *syncs;              /* guint32 0-based sample numbers; empty while all are sync */
  gboolean all_sync;
  GArray *chunks;             /* Chunk */
} SampleTable;

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

/* Queries about the first n samples (n <= t->count). */
guint64 sample_table_duration (const SampleTable *t, guint32 n);
guint32 sample_table_chunk_count (const SampleTable *t, guint32 n);
guint32 sample_table_sync_count (const SampleTable *t, guint32 n);
gboolean sample_table_has_offsets (const SampleTable *t, guint32 n, gboolean *negative);
/* The constant size of the first n samples, or 0 if they differ. */
guint32 sample_table_constant_size (const SampleTable *t, guint32 n);
guint64 sample_table_bytes (const SampleTable *t, guint32 n);
/* Resident bytes, for memory accounting. */
gsize sample_table_memory (const SampleTable *t);

G_END_DECLS

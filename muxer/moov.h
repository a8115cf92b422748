/* moov.h — the moov box of a snapshot (ISO/IEC 14496-12 8.2-8.7).
 *
 * The boxes are written into the caller's ByteWriter, except the entries of
 * the sample tables (stts, ctts, stss, stsz, stsc, stco/co64): each is a hole
 * in the writer, described by a MoovTable and produced from the track's
 * SampleTable when those bytes are read.  Building the moov of a snapshot
 * therefore costs the same for the first minute of a recording as for its
 * twenty-fourth hour, and a snapshot's header takes a few hundred bytes of
 * memory, not a copy of its tables.
 */
#pragma once

#include "bytes.h"
#include "recording.h"

G_BEGIN_DECLS

typedef enum {
  MOOV_STTS,
  MOOV_CTTS,
  MOOV_STSS,
  MOOV_STSZ,
  MOOV_STSC,
  MOOV_STCO,
  MOOV_CO64,
} MoovTableKind;

/* The entries of one table box, a hole in the written moov. */
typedef struct {
  MoovTableKind kind;
  const SampleTable *table;
  guint32 entries;
  /* stts, ctts, stsc: the snapshot's last entry, which the table may have
   * grown past (a run or chunk that went on). */
  guint32 last[3];
  guint32 before_last[2];     /* stts: the entry before the last, also the snapshot's own */
  guint64 base;               /* stco, co64: added to every payload offset */
  guint32 shift;              /* ctts: added to every offset, so that none is negative */
} MoovTable;

typedef struct {
  GArray *tables;             /* MoovTable, one per hole, in order */
  gboolean co64;
  guint64 last_chunk_offset;  /* the largest payload offset of a chunk */
  guint32 movie_timescale;
  guint64 duration;           /* in movie_timescale */
  guint n_tracks;             /* tracks written */
} Moov;

/* Appends the moov of snap to w; call with rec->lock held for reading.
 * Chunk offsets are relative to the payload until moov_relocate().  FALSE if
 * the moov would reach 4 GiB (recording_append_sample() keeps it below). */
gboolean moov_build (Recording *rec, const Snapshot *snap, gboolean co64, ByteWriter *w, Moov *out);
/* Appends the moov of a fragmented file's init segment (segment.c): the
 * tracks rec->tracks[indices[i]], each with its sample entries, empty sample
 * tables and an edit for its edit_base only, and mvex with a trex per track.
 * Depends on nothing the indexer may still learn of those tracks. */
gboolean moov_build_init (Recording *rec, const guint *indices, guint n, ByteWriter *w);
/* Adds base to every chunk offset; FALSE if one no longer fits stco. */
gboolean moov_relocate (Moov *moov, guint64 base);
void moov_clear (Moov *moov);

/* For moov.c: writes the table boxes of the first n samples of t, as pinned by a snapshot. */
void moov_write_tables (ByteWriter *w, const SampleTable *t, guint32 n, const TablePin *pin, Moov *out);
/* Produces bytes [offset, offset + len) of a table's entries; call with the
 * recording's lock held for reading. */
void moov_table_read (const MoovTable *table, guint64 offset, guint8 *dest, gsize len);
guint64 moov_table_len (const MoovTable *table);

G_END_DECLS

/* moov.h — the moov box of a snapshot (ISO/IEC 14496-12 8.2-8.7).
 *
 * Chunk offsets are written relative to the start of the payload and their
 * positions kept, so the layout can move them once it knows how large the
 * header in front of the payload is; no table is built twice.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

typedef struct {
  GByteArray *bytes;
  GArray *offset_fields;    /* gsize: positions of stco/co64 entries */
  gboolean co64;
  guint32 movie_timescale;
  guint64 duration;         /* in movie_timescale */
  guint n_tracks;           /* tracks written (those with samples) */
} Moov;

/* Builds the moov of snap; call with rec->lock held for reading. */
void moov_build (Recording *rec, const Snapshot *snap, gboolean co64, Moov *out);
/* Adds base to every chunk offset; FALSE if one no longer fits stco. */
gboolean moov_relocate (Moov *moov, guint64 base);
void moov_clear (Moov *moov);

G_END_DECLS

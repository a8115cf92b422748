/* trak.h — one trak of a moov (ISO/IEC 14496-12 8.3-8.5), as every MP4
 * indexer reads it: the boxes it must have, the track's description (tkhd,
 * mdhd, hdlr, stsd, the edit list as Track.edit_base), and the Track added
 * to a recording with its sample entries and media header copied.  Shared by
 * the fragmented (fmp4_moov.c) and the plain (mp4.c) MP4 indexers.
 */
#pragma once

#include "bytes.h"
#include "recording.h"

G_BEGIN_DECLS

typedef struct {
  ByteReader tkhd, mdhd, hdlr, minf, stbl;
  ByteReader stsd;             /* stsd body: version/flags, entry_count, entries */
} TrakBoxes;

/* The movie timescale from the moov's mvhd; FALSE (and 0) without a usable one. */
gboolean trak_movie_timescale (ByteReader moov, guint32 *timescale);
/* Finds the boxes a shown track needs; FALSE if one is missing. */
gboolean trak_find_boxes (ByteReader trak, TrakBoxes *out);
/* Fills out (id, handler, timescale, codec, tkhd fields, edit_base) from the
 * trak; FALSE with a note on rec if the track is left out.  *edit_end, if
 * asked for, is the media time where the edit list's last edit ends
 * (G_MAXUINT64: no such end). */
gboolean trak_describe (ByteReader trak, const TrakBoxes *boxes, guint32 movie_timescale, Recording *rec,
                        Track *out, guint64 *edit_end);
/* Adds the track described by desc to rec, with sample_descriptions (taken:
 * the stsd body after version and flags) and the media header; NULL (the
 * recording failed) past the track limit. */
Track *trak_add_track (Recording *rec, const Track *desc, const TrakBoxes *boxes, GBytes *sample_descriptions);

G_END_DECLS

/* layout.h — the virtual file of one snapshot: ftyp | moov | free | mdat header | payload.
 *
 * The header is built once and shared (refcounted) by every handle on the
 * snapshot.  It is kept as its box structure only: the sample tables inside
 * it are produced from the recording's tables when read (moov.h), so a
 * layout costs the same to build and to keep whatever the recording's
 * length.  The free box puts the payload on the source's page boundaries
 * (a virtual offset and the source offset it maps to are equal modulo a
 * page).  layout_read() maps a byte range of the virtual file to pieces:
 * header bytes, or extents of the source file to be read (or spliced) from
 * its descriptor.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

typedef struct {
  gint ref;
  Recording *rec;
  Snapshot *snap;
  GBytes *stored;             /* the header's bytes outside the tables */
  GArray *holes;              /* ByteHole: where each table's entries go */
  GArray *tables;             /* MoovTable, one per hole */
  guint64 header_len;
  guint64 size;
  guint n_tracks;             /* tracks shown */
  guint32 movie_timescale;
  guint64 duration;           /* in movie_timescale */
} Layout;

typedef struct {
  const guint8 *data;         /* header or produced bytes, or NULL for source bytes */
  guint64 source_offset;
  gsize len;
} LayoutPiece;

/* Builds the layout of snap (taking ownership of it). */
Layout *layout_new (Recording *rec, Snapshot *snap);
Layout *layout_ref (Layout *layout);
void layout_unref (Layout *layout);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Layout, layout_unref)

/* Appends to pieces (LayoutPiece) the parts of [offset, offset + len) that lie
 * inside the file; returns the number of bytes they cover.  Header bytes, and
 * the payload of a recording whose indexer produces it (read_payload, from
 * src), are produced into buffer (resized to hold them), which those pieces
 * point into; buffer may be NULL for a range past the header of a recording
 * whose payload is spliced (src is then unused and may be NULL).  Fewer bytes
 * than asked for inside the file mean the source could not be read. */
gsize layout_read (Layout *layout, const Source *src, guint64 offset, gsize len, GArray *pieces,
                   GByteArray *buffer);
/* Copies payload bytes [payload_offset, payload_offset + len) of samples
 * already appended into dest, from the source's extents or through the
 * indexer's read_payload (segment.c); call with rec->lock held for reading.
 * FALSE if they are not all in the payload or the source cannot be read. */
gboolean layout_read_payload (Recording *rec, const Source *src, guint64 payload_offset, guint8 *dest, gsize len);
/* Whether layout_read() produces the payload into its buffer. */
gboolean layout_produces_payload (const Layout *layout);
/* The whole header, made at once (tests, small files). */
GBytes *layout_header (Layout *layout);
double layout_duration_seconds (const Layout *layout);

G_END_DECLS

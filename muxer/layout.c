/* layout.c — the virtual file of a snapshot and its read map. */
#include "layout.h"

#include "bytes.h"
#include "moov.h"

static void
write_ftyp (ByteWriter *w)
{
  static const char brands[][5] = { "isom", "iso2", "avc1", "mp41" };
  gsize box = box_begin (w, FOURCC ('f', 't', 'y', 'p'));
  byte_writer_bytes (w, "isom", 4);
  byte_writer_u32 (w, 0x200);
  for (gsize i = 0; i < G_N_ELEMENTS (brands); i++)
    byte_writer_bytes (w, brands[i], 4);
  box_end (w, box);
}

Layout *
layout_new (Recording *rec, Snapshot *snap)
{
  Layout *l = g_new0 (Layout, 1);
  l->ref = 1;
  l->rec = recording_ref (rec);
  l->snap = snap;

  ByteWriter w;
  byte_writer_init (&w);
  write_ftyp (&w);
  gboolean large_mdat = snap->payload_len > G_MAXUINT32 - 8;
  guint mdat_header = large_mdat ? 16 : 8;

  Moov moov;
  g_rw_lock_reader_lock (&rec->lock);
  moov_build (rec, snap, FALSE, &moov);
  guint64 base = byte_writer_len (&w) + moov.bytes->len + mdat_header;
  if (!moov_relocate (&moov, base)) {
    /* An offset reaches 4 GiB: the same tables with co64. */
    moov_clear (&moov);
    moov_build (rec, snap, TRUE, &moov);
    base = byte_writer_len (&w) + moov.bytes->len + mdat_header;
    moov_relocate (&moov, base);
  }
  g_rw_lock_reader_unlock (&rec->lock);

  byte_writer_bytes (&w, moov.bytes->data, moov.bytes->len);
  if (large_mdat) {
    byte_writer_u32 (&w, 1);
    byte_writer_u32 (&w, FOURCC ('m', 'd', 'a', 't'));
    byte_writer_u64 (&w, snap->payload_len + 16);
  } else {
    byte_writer_u32 (&w, (guint32) (snap->payload_len + 8));
    byte_writer_u32 (&w, FOURCC ('m', 'd', 'a', 't'));
  }
  l->n_tracks = moov.n_tracks;
  l->movie_timescale = moov.movie_timescale;
  l->duration = moov.duration;
  moov_clear (&moov);

  l->header = byte_writer_free_to_bytes (&w);
  l->header_len = g_bytes_get_size (l->header);
  l->size = l->header_len + snap->payload_len;
  return l;
}

Layout *
layout_ref (Layout *layout)
{
  g_atomic_int_inc (&layout->ref);
  return layout;
}

void
layout_unref (Layout *layout)
{
  if (!layout || !g_atomic_int_dec_and_test (&layout->ref))
    return;
  g_bytes_unref (layout->header);
  snapshot_free (layout->snap);
  recording_unref (layout->rec);
  g_free (layout);
}

/* Index of the extent holding payload offset pos. */
static guint
find_extent (GArray *extents, guint64 pos)
{
  guint lo = 0, hi = extents->len;
  while (hi - lo > 1) {
    guint mid = lo + (hi - lo) / 2;
    if (g_array_index (extents, Extent, mid).payload_offset <= pos)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

gsize
layout_read (Layout *layout, guint64 offset, gsize len, GArray *pieces)
{
  if (len == 0 || offset >= layout->size)
    return 0;   /* never an empty piece */
  len = MIN (len, layout->size - offset);
  gsize done = 0;

  if (offset < layout->header_len) {
    gsize n = MIN (len, layout->header_len - offset);
    const guint8 *data = g_bytes_get_data (layout->header, NULL);
    g_array_append_val (pieces, ((LayoutPiece) { data + offset, 0, n }));
    done = n;
  }
  if (done == len)
    return done;

  guint64 pos = offset + done - layout->header_len;
  guint64 end = pos + (len - done);
  Recording *rec = layout->rec;
  g_rw_lock_reader_lock (&rec->lock);
  for (guint i = find_extent (rec->extents, pos); i < rec->extents->len && pos < end; i++) {
    const Extent *e = &g_array_index (rec->extents, Extent, i);
    if (pos < e->payload_offset || pos >= e->payload_offset + e->length)
      continue;
    guint64 n = MIN (end, e->payload_offset + e->length) - pos;
    g_array_append_val (pieces, ((LayoutPiece) { NULL, e->source_offset + (pos - e->payload_offset), n }));
    pos += n;
    done += n;
  }
  g_rw_lock_reader_unlock (&rec->lock);
  return done;
}

double
layout_duration_seconds (const Layout *layout)
{
  return layout->movie_timescale ? (double) layout->duration / layout->movie_timescale : 0;
}

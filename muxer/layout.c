/* layout.c — the virtual file of a snapshot and its read map. */
#include "layout.h"

#include <string.h>

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

/* Writes ftyp, moov, free (to align the payload) and the mdat header, and
 * moves the chunk offsets past them.  FALSE if an offset then no longer fits
 * stco. */
static gboolean
write_header (Recording *rec, const Snapshot *snap, gboolean co64, ByteWriter *w, Moov *moov)
{
  byte_writer_init (w);
  write_ftyp (w);
  if (!moov_build (rec, snap, co64, w, moov))
    g_critical ("%s: the moov of %" G_GUINT64_FORMAT " samples reaches 4 GiB", rec->name, snapshot_samples (snap));
  gboolean large_mdat = snap->payload_len > G_MAXUINT32 - 8;
  if (snap->payload_len > 0) {
    /* A free box puts the payload at the source's offset modulo a page, so
     * every page of it is a page of the source: the kernel splices whole
     * pages instead of copying pieces of two.  (The first extent exists as
     * soon as there is payload, and never moves.) */
    guint64 body = byte_writer_total_len (w) + (large_mdat ? 16 : 8);
    guint64 pad = (recording_payload_phase (rec) - body) % RECORDING_PAGE;
    if (pad > 0 && pad < 8)
      pad += RECORDING_PAGE;
    if (pad > 0) {
      gsize free = box_begin (w, FOURCC ('f', 'r', 'e', 'e'));
      byte_writer_zeros (w, pad - 8);
      box_end (w, free);
    }
  }
  if (large_mdat) {
    byte_writer_u32 (w, 1);
    byte_writer_u32 (w, FOURCC ('m', 'd', 'a', 't'));
    byte_writer_u64 (w, snap->payload_len + 16);
  } else {
    byte_writer_u32 (w, (guint32) (snap->payload_len + 8));
    byte_writer_u32 (w, FOURCC ('m', 'd', 'a', 't'));
  }
  return moov_relocate (moov, byte_writer_total_len (w));
}

Layout *
layout_new (Recording *rec, Snapshot *snap)
{
  Layout *l = g_new0 (Layout, 1);
  l->ref = 1;
  l->rec = recording_ref (rec);
  l->snap = snap;

  ByteWriter w;
  Moov moov;
  g_rw_lock_reader_lock (&rec->lock);
  if (!write_header (rec, snap, FALSE, &w, &moov)) {
    /* An offset reaches 4 GiB: the same tables with co64. */
    byte_writer_clear (&w);
    moov_clear (&moov);
    write_header (rec, snap, TRUE, &w, &moov);
  }
  g_rw_lock_reader_unlock (&rec->lock);

  l->n_tracks = moov.n_tracks;
  l->movie_timescale = moov.movie_timescale;
  l->duration = moov.duration;
  l->tables = g_steal_pointer (&moov.tables);
  l->holes = w.holes ? g_steal_pointer (&w.holes) : g_array_new (FALSE, FALSE, sizeof (ByteHole));
  g_assert (l->holes->len == l->tables->len);
  l->header_len = byte_writer_total_len (&w);
  l->stored = byte_writer_free_to_bytes (&w);
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
  g_bytes_unref (layout->stored);
  g_array_unref (layout->holes);
  g_array_unref (layout->tables);
  snapshot_free (layout->snap);
  recording_unref (layout->rec);
  g_free (layout);
}

/* Produces header bytes [offset, offset + len): stored bytes, and table
 * entries where the holes are.  Call with the recording's read lock held. */
static void
read_header (Layout *l, guint64 offset, guint8 *dest, gsize len)
{
  gsize stored_len;
  const guint8 *stored = g_bytes_get_data (l->stored, &stored_len);
  const ByteHole *holes = (const ByteHole *) l->holes->data;
  /* The first hole that ends past offset. */
  guint lo = 0, hi = l->holes->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (holes[mid].offset + holes[mid].len <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (guint i = lo; len > 0;) {
    const ByteHole *h = i < l->holes->len ? &holes[i] : NULL;
    guint64 hole_start = h ? h->offset : l->header_len;
    gsize n;
    if (offset < hole_start) {
      /* Stored bytes: those before hole i, less the holes before it. */
      guint64 holes_before = h ? h->offset - h->at : l->header_len - stored_len;
      n = (gsize) MIN (len, hole_start - offset);
      memcpy (dest, stored + (offset - holes_before), n);
    } else {
      n = (gsize) MIN (len, h->offset + h->len - offset);
      moov_table_read (&g_array_index (l->tables, MoovTable, i), offset - h->offset, dest, n);
      i++;
    }
    offset += n;
    dest += n;
    len -= n;
  }
}

GBytes *
layout_header (Layout *layout)
{
  guint8 *data = g_malloc (layout->header_len);
  g_rw_lock_reader_lock (&layout->rec->lock);
  read_header (layout, 0, data, layout->header_len);
  g_rw_lock_reader_unlock (&layout->rec->lock);
  return g_bytes_new_take (data, layout->header_len);
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

gboolean
layout_produces_payload (const Layout *layout)
{
  return layout->rec->indexer->read_payload != NULL;
}

gsize
layout_read (Layout *layout, const Source *src, guint64 offset, gsize len, GArray *pieces, GByteArray *buffer)
{
  if (len == 0 || offset >= layout->size)
    return 0;   /* never an empty piece */
  len = MIN (len, layout->size - offset);
  gsize done = 0;
  Recording *rec = layout->rec;
  gboolean produced = layout_produces_payload (layout);
  gsize header_n = offset < layout->header_len ? (gsize) MIN (len, layout->header_len - offset) : 0;
  g_return_val_if_fail (buffer != NULL || (header_n == 0 && !produced), 0);
  /* Pieces point into buffer: it is sized once, before any of them. */
  if (produced)
    g_byte_array_set_size (buffer, (guint) len);
  else if (header_n)
    g_byte_array_set_size (buffer, (guint) header_n);
  g_rw_lock_reader_lock (&rec->lock);

  if (header_n) {
    read_header (layout, offset, buffer->data, header_n);
    g_array_append_val (pieces, ((LayoutPiece) { buffer->data, 0, header_n }));
    done = header_n;
  }

  if (done < len && produced) {
    guint64 pos = offset + done - layout->header_len;
    if (src && rec->indexer->read_payload (rec->state, rec, src, pos, buffer->data + done, len - done)) {
      g_array_append_val (pieces, ((LayoutPiece) { buffer->data + done, 0, len - done }));
      done = len;
    }
  } else if (done < len) {
    guint64 pos = offset + done - layout->header_len;
    guint64 end = pos + (len - done);
    for (guint i = find_extent (rec->extents, pos); i < rec->extents->len && pos < end; i++) {
      const Extent *e = &g_array_index (rec->extents, Extent, i);
      if (pos < e->payload_offset || pos >= e->payload_offset + e->length)
        continue;
      guint64 n = MIN (end, e->payload_offset + e->length) - pos;
      static const guint8 zeros[RECORDING_MAX_MASK];
      if (e->zeros)   /* at most RECORDING_MAX_MASK bytes (recording_mask_source) */
        g_array_append_val (pieces, ((LayoutPiece) { zeros, 0, (gsize) MIN (n, sizeof zeros) }));
      else
        g_array_append_val (pieces, ((LayoutPiece) { NULL, e->source_offset + (pos - e->payload_offset), n }));
      pos += n;
      done += n;
    }
  }
  g_rw_lock_reader_unlock (&rec->lock);
  return done;
}

gboolean
layout_read_payload (Recording *rec, const Source *src, guint64 payload_offset, guint8 *dest, gsize len)
{
  if (payload_offset > rec->payload_len || len > rec->payload_len - payload_offset)
    return FALSE;
  if (len == 0)
    return TRUE;
  if (rec->indexer->read_payload)
    return rec->indexer->read_payload (rec->state, rec, src, payload_offset, dest, len);
  guint64 pos = payload_offset, end = payload_offset + len;
  for (guint i = find_extent (rec->extents, pos); i < rec->extents->len && pos < end; i++) {
    const Extent *e = &g_array_index (rec->extents, Extent, i);
    if (pos < e->payload_offset || pos >= e->payload_offset + e->length)
      return FALSE;
    guint64 n = MIN (end, e->payload_offset + e->length) - pos;
    if (!source_read (src, e->source_offset + (pos - e->payload_offset), dest + (pos - payload_offset), n))
      return FALSE;
    pos += n;
  }
  return pos == end;
}

double
layout_duration_seconds (const Layout *layout)
{
  return layout->movie_timescale ? (double) layout->duration / layout->movie_timescale : 0;
}

/* ts_packet.c — packets, resynchronisation, PES headers and the ES walk. */
#include "ts_packet.h"

#include <string.h>

/* ---- the source window ---------------------------------------------------- */

void
ts_reader_init (TsReader *r, const Source *src, gsize window)
{
  r->src = src;
  r->cap = window;
  r->buf = g_malloc (window);
  r->start = 0;
  r->len = 0;
  r->back = window / 4;
}

void
ts_reader_clear (TsReader *r)
{
  g_clear_pointer (&r->buf, g_free);
  r->len = 0;
}

const guint8 *
ts_reader_fill (TsReader *r, guint64 offset, gsize n)
{
  if (n > r->cap || offset > r->src->size || n > r->src->size - offset)
    return NULL;
  if (offset >= r->start && offset + n <= r->start + r->len)
    return r->buf + (offset - r->start);
  guint64 back = MIN (offset, (guint64) MIN (r->back, r->cap - n));
  guint64 start = offset - back;
  gsize want = (gsize) MIN ((guint64) r->cap, r->src->size - start);
  /* Bytes the window holds already (a walk moving forward) are moved, not
   * read again. */
  gsize keep = 0;
  if (start >= r->start && start < r->start + r->len) {
    keep = (gsize) MIN ((guint64) want, r->start + r->len - start);
    memmove (r->buf, r->buf + (start - r->start), keep);
  }
  if (keep < want && !source_read (r->src, start + keep, r->buf + keep, want - keep)) {
    r->len = 0;
    return NULL;
  }
  r->start = start;
  r->len = want;
  return r->buf + back;
}

/* ---- packets ---------------------------------------------------------------- */

static const guint strides[] = { TS_PACKET, 192, 204 };
#define DETECT_SYNCS 5

TsFormatResult
ts_format_detect (const guint8 *data, gsize len, TsFormat *out)
{
  gboolean need_more = FALSE;
  /* The first sync byte lies within the first packet (M2TS: after its 4-byte
   * timecode); the stride whose syncs line up wins, the smallest first. */
  for (guint first = 0; first < 204 + 4; first++) {
    if (first >= len) {
      need_more = TRUE;
      break;
    }
    if (data[first] != TS_SYNC)
      continue;
    for (gsize s = 0; s < G_N_ELEMENTS (strides); s++) {
      guint stride = strides[s];
      if (first >= stride + (stride == 192 ? 4 : 0))
        continue;
      guint i;
      for (i = 1; i < DETECT_SYNCS; i++) {
        gsize at = first + (gsize) i * stride;
        if (at >= len || data[at] != TS_SYNC)
          break;
      }
      if (i == DETECT_SYNCS) {
        *out = (TsFormat) { stride, first };
        return TS_FORMAT_YES;
      }
      if (first + (gsize) i * stride >= len)
        need_more = TRUE;
    }
  }
  return need_more ? TS_FORMAT_NEED_MORE : TS_FORMAT_NO;
}

gboolean
ts_header_parse (const guint8 *p, TsHeader *h)
{
  memset (h, 0, sizeof *h);
  if (p[0] != TS_SYNC)
    return FALSE;
  h->tei = (p[1] & 0x80) != 0;
  h->pusi = (p[1] & 0x40) != 0;
  h->pid = (guint16) ((p[1] & 0x1f) << 8 | p[2]);
  h->scrambling = p[3] >> 6;
  guint afc = (p[3] >> 4) & 3;
  h->cc = p[3] & 0x0f;
  guint pos = 4;
  if (afc == 0)
    return FALSE;   /* reserved */
  if (afc & 2) {
    guint af_len = p[4];
    if (af_len > 183 || (afc == 3 && af_len > 182))
      return FALSE;
    if (af_len > 0) {
      guint8 flags = p[5];
      h->discontinuity = (flags & 0x80) != 0;
      h->random_access = (flags & 0x40) != 0;
      /* Bytes the fields take (2.4.3.5); any beyond them are stuffing. */
      guint used = 1 + (flags & 0x10 ? 6 : 0) + (flags & 0x08 ? 6 : 0) + (flags & 0x04 ? 1 : 0);
      if ((flags & 0x02) && used < af_len)
        used += 1 + p[5 + used];
      if ((flags & 0x01) && used < af_len)
        used += 1 + p[5 + used];
      h->stuffed = used < af_len;
    } else {
      h->stuffed = afc == 3;   /* a zero-length adaptation field stuffs one byte */
    }
    pos = 5 + af_len;
  }
  if (afc & 1) {
    h->has_payload = pos < TS_PACKET;
    h->payload_start = (guint8) pos;
    h->payload_len = (guint8) (TS_PACKET - pos);
  }
  return TRUE;
}

TsNextResult
ts_next_packet (TsReader *r, guint stride, guint64 expected, guint64 *packet, gboolean *skipped)
{
  *skipped = FALSE;
  const guint8 *p = ts_reader_get (r, expected, TS_PACKET);
  if (!p)
    return TS_NEXT_NEED_MORE;
  if (p[0] == TS_SYNC) {
    *packet = expected;
    return TS_NEXT_OK;
  }
  /* Out of step: the first 0x47 followed by two more at the stride. */
  for (guint64 q = expected + 1;; q++) {
    const guint8 *c = ts_reader_get (r, q, 2 * (gsize) stride + TS_PACKET);
    if (!c)
      return TS_NEXT_NEED_MORE;
    if (c[0] == TS_SYNC && c[stride] == TS_SYNC && c[2 * stride] == TS_SYNC) {
      *packet = q;
      *skipped = TRUE;
      return TS_NEXT_OK;
    }
  }
}

/* ---- PES headers -------------------------------------------------------------- */

void
ts_pes_header_reset (TsPesHeader *h)
{
  /* The fields, not buf: its bytes beyond len are never read. */
  h->len = h->need = 0;
  h->done = h->bad = FALSE;
  h->stream_id = 0;
  h->packet_length = 0;
  h->has_pts = h->has_dts = FALSE;
  h->pts = h->dts = 0;
}

static guint64
read_timestamp (const guint8 *p)
{
  return (guint64) (p[0] >> 1 & 7) << 30 | (guint64) p[1] << 22 | (guint64) (p[2] >> 1) << 15 |
         (guint64) p[3] << 7 | p[4] >> 1;
}

/* Stream ids without the optional header fields (2.4.3.7). */
static gboolean
stream_id_has_no_header (guint8 id)
{
  return id == 0xbc || id == 0xbe || id == 0xbf || id == 0xf0 || id == 0xf1 || id == 0xf2 || id == 0xf8 ||
         id == 0xff;
}

gsize
ts_pes_header_feed (TsPesHeader *h, const guint8 *p, gsize n)
{
  gsize taken = 0;
  while (!h->done && taken < n) {
    guint want = h->need ? h->need : (h->len < 6 ? 6 : 9);
    gsize k = MIN ((gsize) (want - h->len), n - taken);
    memcpy (h->buf + h->len, p + taken, k);
    h->len += (guint) k;
    taken += k;
    if (h->len < want)
      break;
    if (!h->need && h->len == 6) {
      if (h->buf[0] != 0 || h->buf[1] != 0 || h->buf[2] != 1) {
        h->bad = TRUE;
        h->done = TRUE;
        break;
      }
      h->stream_id = h->buf[3];
      h->packet_length = (guint32) h->buf[4] << 8 | h->buf[5];
      if (stream_id_has_no_header (h->stream_id)) {
        h->need = 6;
        h->done = TRUE;
      }
      continue;
    }
    if (!h->need) {
      if ((h->buf[6] & 0xc0) != 0x80) {
        h->bad = TRUE;   /* MPEG-1 system headers are not carried in TS */
        h->done = TRUE;
        break;
      }
      h->need = 9 + h->buf[8];
      if (h->len < h->need)
        continue;
    }
    /* The whole header is here. */
    guint flags = h->buf[7] >> 6;
    guint have = h->need - 9;
    if ((flags & 2) && have >= 5) {
      h->has_pts = TRUE;
      h->pts = read_timestamp (h->buf + 9);
      if (flags == 3 && have >= 10) {
        h->has_dts = TRUE;
        h->dts = read_timestamp (h->buf + 14);
      }
    }
    h->done = TRUE;
  }
  return taken;
}

/* ---- the ES walk --------------------------------------------------------------- */

void
ts_es_walk_init (TsEsWalk *w, TsReader *reader, guint stride, guint16 pid, guint64 packet, guint in_packet)
{
  w->reader = reader;
  w->stride = stride;
  w->pid = pid;
  w->packet = packet;
  w->pos = in_packet;
  w->end = 0;   /* set when the first packet is read */
  w->in_header = FALSE;
  ts_pes_header_reset (&w->header);
  w->cc = 0;
  w->started = FALSE;
}

/* Moves to the next packet of the PID that carries payload, by the rules the
 * indexer follows (ts.c): damaged packets and the duplicate are dropped. */
static gboolean
walk_advance (TsEsWalk *w)
{
  guint64 expected = w->packet + w->stride;
  for (guint guard = 0; guard < (1u << 24); guard++) {
    guint64 at;
    gboolean skipped;
    if (ts_next_packet (w->reader, w->stride, expected, &at, &skipped) != TS_NEXT_OK)
      return FALSE;
    expected = at + w->stride;
    const guint8 *p = ts_reader_get (w->reader, at, TS_PACKET);
    /* Other PIDs' packets (most of the walk) and damaged ones are passed
     * over before the header is parsed. */
    if (!p || (p[1] & 0x80) || ((p[1] & 0x1f) << 8 | p[2]) != w->pid)
      continue;
    TsHeader h;
    if (!ts_header_parse (p, &h) || h.tei || h.pid != w->pid || !h.has_payload)
      continue;
    if (h.cc == w->cc && !h.discontinuity)
      continue;   /* the duplicate */
    w->cc = h.cc;
    w->packet = at;
    w->pos = h.payload_start;
    w->end = h.payload_start + h.payload_len;
    w->in_header = h.pusi;
    if (h.pusi)
      ts_pes_header_reset (&w->header);
    return TRUE;
  }
  return FALSE;
}

gsize
ts_es_walk_next (TsEsWalk *w, gsize max, const guint8 **out)
{
  for (;;) {
    if (!w->started) {
      const guint8 *p = ts_reader_get (w->reader, w->packet, TS_PACKET);
      TsHeader h;
      if (!p || !ts_header_parse (p, &h) || !h.has_payload || w->pos < h.payload_start)
        return 0;
      w->cc = h.cc;
      w->end = h.payload_start + h.payload_len;
      w->started = TRUE;
    }
    if (w->pos < w->end) {
      const guint8 *p = ts_reader_get (w->reader, w->packet, TS_PACKET);
      if (!p)
        return 0;
      if (w->in_header) {
        w->pos += (guint) ts_pes_header_feed (&w->header, p + w->pos, w->end - w->pos);
        if (w->header.done)
          w->in_header = FALSE;
        continue;
      }
      gsize n = MIN ((gsize) (w->end - w->pos), max);
      *out = p + w->pos;
      w->pos += (guint) n;
      return n;
    }
    if (!walk_advance (w))
      return 0;
  }
}

gboolean
ts_es_walk_read (TsEsWalk *w, guint8 *dest, gsize n)
{
  while (n > 0) {
    const guint8 *p;
    gsize k = ts_es_walk_next (w, n, &p);
    if (k == 0)
      return FALSE;
    memcpy (dest, p, k);
    dest += k;
    n -= k;
  }
  return TRUE;
}

/* ---- CRC ---------------------------------------------------------------------- */

guint32
ts_crc32 (const guint8 *p, gsize n)
{
  guint32 crc = 0xffffffff;
  for (gsize i = 0; i < n; i++) {
    crc ^= (guint32) p[i] << 24;
    for (int k = 0; k < 8; k++)
      crc = crc & 0x80000000 ? crc << 1 ^ 0x04c11db7 : crc << 1;
  }
  return crc;
}

/* ebml.c — EBML element reader and Matroska block lacing. */
#include "ebml.h"

#include <string.h>

/* Length of a variable-length integer from its first byte: the position of
 * the first set bit, 1..8; 0 when the byte is zero (longer than 8). */
static guint
varint_length (guint8 first)
{
  for (guint len = 1; len <= 8; len++)
    if (first & (0x80 >> (len - 1)))
      return len;
  return 0;
}

EbmlStatus
ebml_read_varint (ByteReader *r, guint64 *value, guint *len_out)
{
  if (byte_reader_remaining (r) == 0)
    return EBML_NEED_MORE;
  const guint8 *p = r->data + r->pos;
  guint len = varint_length (p[0]);
  if (len == 0)
    return EBML_INVALID;
  if (byte_reader_remaining (r) < len)
    return EBML_NEED_MORE;
  guint64 v = p[0] & (0xff >> len);
  for (guint i = 1; i < len; i++)
    v = v << 8 | p[i];
  r->pos += len;
  *value = v;
  if (len_out)
    *len_out = len;
  return EBML_OK;
}

EbmlStatus
ebml_read_id (ByteReader *r, guint32 *id)
{
  if (byte_reader_remaining (r) == 0)
    return EBML_NEED_MORE;
  const guint8 *p = r->data + r->pos;
  guint len = varint_length (p[0]);
  if (len == 0 || len > EBML_MAX_ID_LENGTH)
    return EBML_INVALID;
  if (byte_reader_remaining (r) < len)
    return EBML_NEED_MORE;
  guint32 v = 0;
  for (guint i = 0; i < len; i++)
    v = v << 8 | p[i];
  guint32 bits = v & ((1u << (7 * len)) - 1);
  if (bits == 0 || bits == (1u << (7 * len)) - 1)
    return EBML_INVALID;   /* reserved IDs (RFC 8794 5) */
  r->pos += len;
  *id = v;
  return EBML_OK;
}

EbmlStatus
ebml_read_size (ByteReader *r, guint64 *size)
{
  guint64 v;
  guint len;
  EbmlStatus s = ebml_read_varint (r, &v, &len);
  if (s != EBML_OK)
    return s;
  *size = v == (G_GUINT64_CONSTANT (1) << (7 * len)) - 1 ? EBML_UNKNOWN_SIZE : v;
  return EBML_OK;
}

EbmlStatus
ebml_read_header (ByteReader *r, EbmlHeader *out)
{
  ByteReader c = *r;
  EbmlStatus s = ebml_read_id (&c, &out->id);
  if (s == EBML_OK)
    s = ebml_read_size (&c, &out->size);
  if (s != EBML_OK)
    return s;
  out->header_len = (guint) (c.pos - r->pos);
  *r = c;
  return EBML_OK;
}

gboolean
ebml_next_child (ByteReader *parent, EbmlHeader *h, ByteReader *body, gboolean *malformed)
{
  ByteReader c = *parent;
  *malformed = FALSE;
  if (byte_reader_remaining (&c) == 0)
    return FALSE;
  if (ebml_read_header (&c, h) != EBML_OK || h->size == EBML_UNKNOWN_SIZE ||
      !byte_reader_sub (&c, h->size, body)) {
    *malformed = TRUE;
    return FALSE;
  }
  *parent = c;
  return TRUE;
}

gboolean
ebml_uint (ByteReader body, guint64 *out)
{
  gsize n = byte_reader_remaining (&body);
  if (n == 0) {
    *out = 0;
    return TRUE;
  }
  return byte_reader_uint_n (&body, (guint) MIN (n, 9), out);
}

gboolean
ebml_sint (ByteReader body, gint64 *out)
{
  gsize n = byte_reader_remaining (&body);
  guint64 v;
  if (n == 0) {
    *out = 0;
    return TRUE;
  }
  if (n > 8 || !byte_reader_uint_n (&body, (guint) n, &v))
    return FALSE;
  if (n < 8 && (v >> (8 * n - 1)) & 1)
    v |= G_MAXUINT64 << (8 * n);   /* sign-extend */
  *out = (gint64) v;
  return TRUE;
}

gboolean
ebml_float (ByteReader body, double *out)
{
  gsize n = byte_reader_remaining (&body);
  guint64 v;
  if (n == 0) {
    *out = 0.0;
    return TRUE;
  }
  if ((n != 4 && n != 8) || !byte_reader_uint_n (&body, (guint) n, &v))
    return FALSE;
  if (n == 4) {
    guint32 bits = (guint32) v;
    float f;
    memcpy (&f, &bits, 4);
    *out = f;
  } else {
    memcpy (out, &v, 8);
  }
  return TRUE;
}

char *
ebml_string (ByteReader body)
{
  gsize n = byte_reader_remaining (&body);
  const guint8 *p = body.data + body.pos;
  const guint8 *nul = n ? memchr (p, 0, n) : NULL;
  return g_strndup ((const char *) p, nul ? (gsize) (nul - p) : n);
}

/* ---- blocks -------------------------------------------------------------- */

EbmlStatus
matroska_block_track (ByteReader r, guint64 *track)
{
  return ebml_read_varint (&r, track, NULL);
}

/* Maps a failed read inside the first block_size bytes: more bytes can help
 * only if the reader does not yet hold the whole block. */
static EbmlStatus
short_read (const ByteReader *r, guint64 block_size)
{
  return r->len < block_size ? EBML_NEED_MORE : EBML_INVALID;
}

EbmlStatus
matroska_block_parse (ByteReader r, guint64 block_size, MatroskaBlock *out)
{
  guint16 ts;
  guint8 flags;
  EbmlStatus s;

  if (r.len - r.pos > block_size)
    r.len = r.pos + block_size;
  gsize start = r.pos;
  r.data += start;   /* positions below are relative to the block start */
  r.len -= start;
  r.pos = 0;

  s = ebml_read_varint (&r, &out->track, NULL);
  if (s == EBML_NEED_MORE)
    return short_read (&r, block_size);
  if (s != EBML_OK)
    return s;
  if (!byte_reader_u16 (&r, &ts) || !byte_reader_u8 (&r, &flags))
    return short_read (&r, block_size);
  out->timestamp = (gint16) ts;
  out->flags = flags;

  guint lacing = flags & MATROSKA_BLOCK_LACING_MASK;
  if (lacing == MATROSKA_LACING_NONE) {
    out->n_frames = 1;
    out->header_len = (guint) r.pos;
    if (block_size - r.pos > G_MAXUINT32)
      return EBML_INVALID;
    out->frame_sizes[0] = (guint32) (block_size - r.pos);
    return EBML_OK;
  }

  guint8 count_minus_one;
  if (!byte_reader_u8 (&r, &count_minus_one))
    return short_read (&r, block_size);
  guint n = count_minus_one + 1u;
  guint64 sum = 0;   /* of all frames but the last */

  if (lacing == MATROSKA_LACING_XIPH) {
    for (guint i = 0; i + 1 < n; i++) {
      guint64 size = 0;
      guint8 b;
      do {
        if (!byte_reader_u8 (&r, &b))
          return short_read (&r, block_size);
        size += b;
      } while (b == 255);
      if (size > G_MAXUINT32)
        return EBML_INVALID;
      out->frame_sizes[i] = (guint32) size;
      sum += size;
    }
  } else if (lacing == MATROSKA_LACING_EBML) {
    gint64 size = 0;
    for (guint i = 0; i + 1 < n; i++) {
      guint64 v;
      guint len;
      s = ebml_read_varint (&r, &v, &len);
      if (s == EBML_NEED_MORE)
        return short_read (&r, block_size);
      if (s != EBML_OK)
        return s;
      if (i == 0) {
        size = (gint64) MIN (v, (guint64) G_MAXINT64);
      } else {
        /* Signed difference: the varint minus half its range (RFC 9559 10.4.3). */
        gint64 bias = (G_GINT64_CONSTANT (1) << (7 * len - 1)) - 1;
        size += (gint64) v - bias;
      }
      if (size < 0 || size > G_MAXUINT32)
        return EBML_INVALID;
      out->frame_sizes[i] = (guint32) size;
      sum += (guint64) size;
    }
  } else {
    out->header_len = (guint) r.pos;
    guint64 payload = block_size - r.pos;
    if (payload % n != 0 || payload / n > G_MAXUINT32)
      return EBML_INVALID;
    for (guint i = 0; i < n; i++)
      out->frame_sizes[i] = (guint32) (payload / n);
    out->n_frames = n;
    return EBML_OK;
  }

  out->header_len = (guint) r.pos;
  if (sum > block_size - r.pos)
    return EBML_INVALID;
  guint64 last = block_size - r.pos - sum;
  if (last > G_MAXUINT32)
    return EBML_INVALID;
  out->frame_sizes[n - 1] = (guint32) last;
  out->n_frames = n;
  return EBML_OK;
}

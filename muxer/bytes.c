/* bytes.c — bounded byte reader and growable box writer. */
#include "bytes.h"

#include <string.h>

void
byte_reader_init (ByteReader *r, const guint8 *data, gsize len)
{
  r->data = data;
  r->len = data ? len : 0;
  r->pos = 0;
}

gboolean
byte_reader_skip (ByteReader *r, guint64 n)
{
  if (n > byte_reader_remaining (r))
    return FALSE;
  r->pos += n;
  return TRUE;
}

gboolean
byte_reader_bytes (ByteReader *r, guint64 n, const guint8 **out)
{
  if (n > byte_reader_remaining (r))
    return FALSE;
  *out = r->data + r->pos;
  r->pos += n;
  return TRUE;
}

gboolean
byte_reader_sub (ByteReader *r, guint64 n, ByteReader *out)
{
  const guint8 *p;
  if (!byte_reader_bytes (r, n, &p))
    return FALSE;
  byte_reader_init (out, p, n);
  return TRUE;
}

gboolean
box_header_read (ByteReader *r, BoxHeader *out)
{
  ByteReader c = *r;
  guint32 size32, type;
  guint64 size;
  guint header_size = 8;

  if (!byte_reader_u32 (&c, &size32) || !byte_reader_u32 (&c, &type))
    return FALSE;
  size = size32;
  if (size32 == 1) {
    if (!byte_reader_u64 (&c, &size))
      return FALSE;
    header_size = 16;
  } else if (size32 == 0) {
    size = byte_reader_remaining (r);
  }
  if (size < header_size)
    return FALSE;
  out->type = type;
  out->size = size;
  out->header_size = header_size;
  *r = c;
  return TRUE;
}

gboolean
byte_reader_box (ByteReader *r, BoxHeader *hdr, ByteReader *body)
{
  ByteReader c = *r;
  if (!box_header_read (&c, hdr))
    return FALSE;
  if (!byte_reader_sub (&c, hdr->size - hdr->header_size, body))
    return FALSE;
  *r = c;
  return TRUE;
}

gboolean
box_find_child (ByteReader parent, guint32 type, ByteReader *body)
{
  BoxHeader h;
  ByteReader b;
  while (byte_reader_remaining (&parent) > 0) {
    if (!byte_reader_box (&parent, &h, &b))
      return FALSE;
    if (h.type == type) {
      *body = b;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
full_box_header_read (ByteReader *r, guint8 *version, guint32 *flags)
{
  ByteReader c = *r;
  if (!byte_reader_u8 (&c, version) || !byte_reader_u24 (&c, flags))
    return FALSE;
  *r = c;
  return TRUE;
}

const char *
fourcc_str (guint32 fourcc, char buf[8])
{
  for (int i = 0; i < 4; i++) {
    char c = (char) (fourcc >> (24 - 8 * i));
    buf[i] = g_ascii_isprint (c) ? c : '?';
  }
  buf[4] = '\0';
  return buf;
}

void
byte_writer_init (ByteWriter *w)
{
  *w = (ByteWriter) { .buf = g_byte_array_new () };
}

GBytes *
byte_writer_free_to_bytes (ByteWriter *w)
{
  GBytes *b = g_byte_array_free_to_bytes (w->buf);
  w->buf = NULL;
  byte_writer_clear (w);
  return b;
}

void
byte_writer_clear (ByteWriter *w)
{
  if (w->buf)
    g_byte_array_unref (w->buf);
  w->buf = NULL;
  g_clear_pointer (&w->holes, g_array_unref);
  w->hole_len = 0;
}

void
byte_writer_hole (ByteWriter *w, guint64 len)
{
  if (len == 0)
    return;
  if (!w->holes)
    w->holes = g_array_new (FALSE, FALSE, sizeof (ByteHole));
  ByteHole h = { w->buf->len, byte_writer_total_len (w), len };
  g_array_append_val (w->holes, h);
  w->hole_len += len;
}

static void
put_be (guint8 *p, guint64 v, guint n)
{
  for (guint i = 0; i < n; i++)
    p[i] = (guint8) (v >> (8 * (n - 1 - i)));
}

static void
append_be (ByteWriter *w, guint64 v, guint n)
{
  guint8 tmp[8];
  put_be (tmp, v, n);
  g_byte_array_append (w->buf, tmp, n);
}

void byte_writer_u8 (ByteWriter *w, guint8 v) { append_be (w, v, 1); }
void byte_writer_u16 (ByteWriter *w, guint16 v) { append_be (w, v, 2); }
void byte_writer_u24 (ByteWriter *w, guint32 v) { append_be (w, v, 3); }
void byte_writer_u32 (ByteWriter *w, guint32 v) { append_be (w, v, 4); }
void byte_writer_u64 (ByteWriter *w, guint64 v) { append_be (w, v, 8); }

void
byte_writer_bytes (ByteWriter *w, const void *data, gsize len)
{
  if (len)
    g_byte_array_append (w->buf, data, len);
}

void
byte_writer_zeros (ByteWriter *w, gsize len)
{
  gsize old = w->buf->len;
  g_byte_array_set_size (w->buf, old + len);
  memset (w->buf->data + old, 0, len);
}

void
byte_writer_put_u32_at (ByteWriter *w, gsize pos, guint32 v)
{
  g_return_if_fail (pos + 4 <= w->buf->len);
  put_be (w->buf->data + pos, v, 4);
}

void
byte_writer_put_u64_at (ByteWriter *w, gsize pos, guint64 v)
{
  g_return_if_fail (pos + 8 <= w->buf->len);
  put_be (w->buf->data + pos, v, 8);
}

gsize
box_begin (ByteWriter *w, guint32 type)
{
  gsize start = w->buf->len;
  byte_writer_u32 (w, 0);
  byte_writer_u32 (w, type);
  return start;
}

gsize
box_begin_full (ByteWriter *w, guint32 type, guint8 version, guint32 flags)
{
  gsize start = box_begin (w, type);
  byte_writer_u8 (w, version);
  byte_writer_u24 (w, flags);
  return start;
}

gboolean
box_end (ByteWriter *w, gsize start)
{
  guint64 size = w->buf->len - start;
  /* Holes opened after the header belong to the box. */
  for (guint i = w->holes ? w->holes->len : 0; i > 0; i--) {
    const ByteHole *h = &g_array_index (w->holes, ByteHole, i - 1);
    if (h->at <= start)
      break;
    size += h->len;
  }
  if (size > G_MAXUINT32)
    return FALSE;
  byte_writer_put_u32_at (w, start, (guint32) size);
  return TRUE;
}

/* table_varint.h — the varints of the packed tables (table_chunks.c,
 * table_runs.c): 7 bits a byte, low first, at most 10 bytes a value.  They
 * read only bytes the same module wrote, never input. */
#pragma once

#include <glib.h>

static inline void
table_put_varint (GByteArray *b, guint64 v)
{
  guint8 buf[10];
  guint n = 0;
  do {
    buf[n] = (guint8) (v & 0x7f);
    v >>= 7;
    if (v)
      buf[n] |= 0x80;
    n++;
  } while (v);
  g_byte_array_append (b, buf, n);
}

static inline guint64
table_get_varint (const guint8 *p, gsize *pos)
{
  guint64 v = 0;
  for (guint shift = 0; shift < 64; shift += 7) {
    guint8 byte = p[(*pos)++];
    v |= (guint64) (byte & 0x7f) << shift;
    if (!(byte & 0x80))
      break;
  }
  return v;
}

/* The same, with the one- to three-byte values that nearly all are inline. */
static inline guint64
table_next_varint (const guint8 **pp)
{
  const guint8 *p = *pp;
  guint64 v = p[0];
  if (G_LIKELY (v < 0x80)) {
    *pp = p + 1;
    return v;
  }
  v = (v & 0x7f) | (guint64) (p[1] & 0x7f) << 7;
  if (G_LIKELY (p[1] < 0x80)) {
    *pp = p + 2;
    return v;
  }
  v |= (guint64) (p[2] & 0x7f) << 14;
  if (G_LIKELY (p[2] < 0x80)) {
    *pp = p + 3;
    return v;
  }
  gsize pos = 0;
  v = table_get_varint (p, &pos);
  *pp = p + pos;
  return v;
}

/* ts_locator.c — compact per-sample locators (ts_locator.h). */
#include "ts_locator.h"

#define ABSOLUTE_BYTES 5

void
ts_locators_init (TsLocators *l)
{
  l->deltas = g_byte_array_new ();
  l->checkpoints = g_array_new (FALSE, FALSE, sizeof (TsLocatorCheckpoint));
  l->count = 0;
  l->last = 0;
}

void
ts_locators_clear (TsLocators *l)
{
  g_clear_pointer (&l->deltas, g_byte_array_unref);
  g_clear_pointer (&l->checkpoints, g_array_unref);
}

gboolean
ts_locators_append (TsLocators *l, guint64 offset)
{
  if (offset >= (G_GUINT64_CONSTANT (1) << (8 * ABSOLUTE_BYTES)) || l->deltas->len > G_MAXUINT32 - 16 ||
      l->count == G_MAXUINT32)
    return FALSE;
  if (l->count % TS_LOCATOR_CHECKPOINT == 0) {
    /* A checkpoint holds the locator itself: nothing is encoded for it. */
    TsLocatorCheckpoint cp = { offset, l->deltas->len };
    g_array_append_val (l->checkpoints, cp);
  } else if (offset < l->last) {
    guint8 b[1 + ABSOLUTE_BYTES] = { 0 };
    for (int k = 0; k < ABSOLUTE_BYTES; k++)
      b[1 + k] = (guint8) (offset >> (8 * (ABSOLUTE_BYTES - 1 - k)));
    g_byte_array_append (l->deltas, b, sizeof b);
  } else {
    guint64 v = offset - l->last + 1;
    guint8 b[10];
    guint n = 0;
    do {
      b[n] = (guint8) (v & 0x7f);
      v >>= 7;
      if (v)
        b[n] |= 0x80;
      n++;
    } while (v);
    g_byte_array_append (l->deltas, b, n);
  }
  l->last = offset;
  l->count++;
  return TRUE;
}

/* Decodes the locator after *offset from deltas at *pos. */
static gboolean
decode_next (const TsLocators *l, guint32 *pos, guint64 *offset)
{
  const guint8 *d = l->deltas->data;
  guint32 len = l->deltas->len, p = *pos;
  if (p >= len)
    return FALSE;
  if (d[p] == 0) {
    if (len - p < 1 + ABSOLUTE_BYTES)
      return FALSE;
    guint64 v = 0;
    for (int k = 0; k < ABSOLUTE_BYTES; k++)
      v = v << 8 | d[p + 1 + k];
    *offset = v;
    *pos = p + 1 + ABSOLUTE_BYTES;
    return TRUE;
  }
  guint64 v = 0;
  for (guint shift = 0; shift < 64; shift += 7) {
    if (p >= len)
      return FALSE;
    guint8 b = d[p++];
    v |= (guint64) (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *offset += v - 1;
      *pos = p;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
ts_locators_get (const TsLocators *l, guint32 i, TsLocatorCursor *c, guint64 *offset)
{
  if (i >= l->count)
    return FALSE;
  TsLocatorCursor local = { 0 }, *cur = c ? c : &local;
  /* The cursor serves if it stands in i's checkpoint block, at or before i. */
  if (!cur->valid || cur->index > i || cur->index / TS_LOCATOR_CHECKPOINT != i / TS_LOCATOR_CHECKPOINT) {
    const TsLocatorCheckpoint *cp =
      &g_array_index (l->checkpoints, TsLocatorCheckpoint, i / TS_LOCATOR_CHECKPOINT);
    *cur = (TsLocatorCursor) { TRUE, i - i % TS_LOCATOR_CHECKPOINT, cp->pos, cp->offset };
  }
  while (cur->index < i) {
    if (!decode_next (l, &cur->pos, &cur->offset)) {
      cur->valid = FALSE;
      return FALSE;
    }
    cur->index++;
  }
  *offset = cur->offset;
  return TRUE;
}

gsize
ts_locators_memory (const TsLocators *l)
{
  return l->deltas->len + l->checkpoints->len * sizeof (TsLocatorCheckpoint);
}

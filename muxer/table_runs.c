/* table_runs.c — stts and ctts runs, packed.
 *
 * A run of durations or composition offsets is 8 bytes as a DurationRun, and
 * Matroska's millisecond block times make a run of about every other video
 * frame (durations 33, 33, 34 ms; B-frame offsets alike).  Packed, a run is
 * varint (count), varint (value), the value zigzagged where it is signed: 2
 * to 4 bytes.  Every RUN_MARK_EVERY runs a mark keeps where its run starts
 * and the samples and durations before it, so the run holding any sample is
 * a binary search and at most RUN_MARK_EVERY - 1 steps away.  The last two
 * runs, which sample_table_set_last_duration() may still change, are kept
 * whole; packed runs never change.  An entry takes at most 10 bytes and a
 * table at most G_MAXUINT32 samples, so byte positions fit in 32 bits.
 */
#include "table.h"
#include "table_varint.h"

#include <string.h>

RunList *
run_list_new (gboolean is_signed)
{
  RunList *l = g_new0 (RunList, 1);
  l->is_signed = is_signed;
  l->bytes = g_byte_array_new ();
  l->marks = g_array_new (FALSE, FALSE, sizeof (RunMark));
  return l;
}

void
run_list_free (RunList *l)
{
  if (!l)
    return;
  g_byte_array_unref (l->bytes);
  g_array_unref (l->marks);
  g_free (l);
}

gsize
run_list_memory (const RunList *l)
{
  return l->bytes->len + l->marks->len * sizeof (RunMark);
}

static guint64
zigzag (guint32 value)
{
  gint64 v = (gint32) value;
  return v < 0 ? ((guint64) -(v + 1) << 1) | 1 : (guint64) v << 1;
}

static guint32
unzigzag (guint64 z)
{
  return (guint32) (gint32) (z & 1 ? -(gint64) (z >> 1) - 1 : (gint64) (z >> 1));
}

void
run_list_push (RunList *l, guint32 count, guint32 value)
{
  if (l->len - l->packed == 2) {
    /* The oldest of the last two is final now: pack it. */
    const DurationRun *r = &l->tail[0];
    g_assert (l->bytes->len <= G_MAXUINT32 - 20);
    if (l->packed % RUN_MARK_EVERY == 0) {
      RunMark mark = { l->packed_sum, l->packed_samples, l->bytes->len };
      g_array_append_val (l->marks, mark);
    }
    table_put_varint (l->bytes, r->count);
    table_put_varint (l->bytes, l->is_signed ? zigzag (r->delta) : r->delta);
    l->packed_samples += r->count;
    l->packed_sum += (guint64) r->count * r->delta;
    l->packed++;
    l->tail[0] = l->tail[1];
  }
  l->tail[l->len - l->packed] = (DurationRun) { count, value };
  l->len++;
}

DurationRun *
run_list_last (RunList *l)
{
  return l->len ? &l->tail[l->len - l->packed - 1] : NULL;
}

DurationRun *
run_list_before_last (RunList *l)
{
  return l->len - l->packed == 2 ? &l->tail[0] : NULL;
}

void
run_list_drop_last (RunList *l)
{
  g_return_if_fail (l->len > l->packed);
  l->len--;
}

static void
read_run (RunCursor *c)
{
  const RunList *l = c->list;
  gsize pos = c->byte;
  c->run.count = (guint32) table_get_varint (l->bytes->data, &pos);
  guint64 v = table_get_varint (l->bytes->data, &pos);
  c->run.delta = l->is_signed ? unzigzag (v) : (guint32) v;
  c->byte = (guint) pos;
}

/* Puts c on run i, or past the packed ones onto the kept last two. */
static void
cursor_at_mark (RunCursor *c, const RunList *l, guint m)
{
  const RunMark *mark = &g_array_index (l->marks, RunMark, m);
  *c = (RunCursor) { .list = l, .index = m * RUN_MARK_EVERY, .byte = mark->byte,
                     .samples_before = mark->samples, .sum_before = mark->sum };
  read_run (c);
}

gboolean
run_cursor_next (RunCursor *c)
{
  const RunList *l = c->list;
  if (c->index + 1 >= l->len)
    return FALSE;
  c->samples_before += c->run.count;
  c->sum_before += (guint64) c->run.count * c->run.delta;
  c->index++;
  if (c->index >= l->packed)
    c->run = l->tail[c->index - l->packed];
  else
    read_run (c);
  return TRUE;
}

void
run_cursor_init (RunCursor *c, const RunList *l, guint32 i)
{
  g_return_if_fail (i < l->len);
  if (i >= l->packed) {
    *c = (RunCursor) { .list = l, .index = l->packed, .byte = l->bytes->len, .samples_before = l->packed_samples,
                       .sum_before = l->packed_sum, .run = l->tail[0] };
  } else {
    cursor_at_mark (c, l, i / RUN_MARK_EVERY);
  }
  while (c->index < i)
    run_cursor_next (c);
}

DurationRun
run_list_get (const RunList *l, guint32 i)
{
  RunCursor c;
  run_cursor_init (&c, l, i);
  return c.run;
}

gboolean
run_list_locate (const RunList *l, guint32 n, RunCursor *c)
{
  if (n == 0 || l->len == 0)
    return FALSE;
  if (n > l->packed_samples || l->packed == 0) {
    run_cursor_init (c, l, l->packed < l->len ? l->packed : l->len - 1);
  } else {
    /* The last mark with fewer than n samples before it. */
    guint lo = 0, hi = l->marks->len;
    while (lo < hi) {
      guint mid = lo + (hi - lo) / 2;
      if (g_array_index (l->marks, RunMark, mid).samples < n)
        lo = mid + 1;
      else
        hi = mid;
    }
    cursor_at_mark (c, l, lo - 1);   /* mark 0 has no samples before it */
  }
  while (c->samples_before + c->run.count < n && run_cursor_next (c))
    ;
  return TRUE;
}

gboolean
run_list_equal (const RunList *a, const RunList *b)
{
  if (a->len != b->len)
    return FALSE;
  if (a->len == 0)
    return TRUE;
  RunCursor x, y;
  run_cursor_init (&x, a, 0);
  run_cursor_init (&y, b, 0);
  do {
    if (x.run.count != y.run.count || x.run.delta != y.run.delta)
      return FALSE;
  } while (run_cursor_next (&x) && run_cursor_next (&y));
  return TRUE;
}

static inline void
put_be32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

void
run_list_write (const RunList *l, guint32 first, guint32 count, guint32 add, guint8 *out)
{
  if (count == 0)
    return;
  g_return_if_fail (first <= l->len && count <= l->len - first);
  guint32 i = first, end = first + count;
  if (i < l->packed) {
    /* Decoded in a tight loop: this is most of what producing a moov costs. */
    RunCursor c;
    run_cursor_init (&c, l, i);
    put_be32 (out, c.run.count);
    put_be32 (out + 4, c.run.delta + add);
    out += 8;
    i++;
    const guint8 *p = l->bytes->data + c.byte;
    guint32 stop = MIN (end, l->packed);
    if (l->is_signed) {
      for (; i < stop; i++, out += 8) {
        guint32 n = (guint32) table_next_varint (&p);
        put_be32 (out, n);
        put_be32 (out + 4, unzigzag (table_next_varint (&p)) + add);
      }
    } else {
      for (; i < stop; i++, out += 8) {
        guint32 n = (guint32) table_next_varint (&p);
        put_be32 (out, n);
        put_be32 (out + 4, (guint32) table_next_varint (&p) + add);
      }
    }
  }
  for (; i < end; i++, out += 8) {
    const DurationRun *r = &l->tail[i - l->packed];
    put_be32 (out, r->count);
    put_be32 (out + 4, r->delta + add);
  }
}

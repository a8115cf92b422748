/* table.c — append-only, compact sample tables. */
#include "table.h"

void
sample_table_init (SampleTable *t)
{
  *t = (SampleTable) { 0 };
  t->sizes = g_array_new (FALSE, FALSE, sizeof (guint32));
  t->durations = g_array_new (FALSE, FALSE, sizeof (DurationRun));
  t->offsets = g_array_new (FALSE, FALSE, sizeof (OffsetRun));
  t->syncs = g_array_new (FALSE, FALSE, sizeof (guint32));
  t->chunks = g_array_new (FALSE, FALSE, sizeof (Chunk));
  t->all_sync = TRUE;
}

void
sample_table_clear (SampleTable *t)
{
  g_clear_pointer (&t->sizes, g_array_unref);
  g_clear_pointer (&t->durations, g_array_unref);
  g_clear_pointer (&t->offsets, g_array_unref);
  g_clear_pointer (&t->syncs, g_array_unref);
  g_clear_pointer (&t->chunks, g_array_unref);
}

void
sample_table_append (SampleTable *t, const SampleInfo *s)
{
  guint32 index = t->count;

  g_return_if_fail (t->count < G_MAXUINT32);
  g_array_append_val (t->sizes, s->size);

  DurationRun *d = t->durations->len ? &g_array_index (t->durations, DurationRun, t->durations->len - 1) : NULL;
  if (d && d->delta == s->duration)
    d->count++;
  else
    g_array_append_val (t->durations, ((DurationRun) { 1, s->duration }));

  OffsetRun *o = t->offsets->len ? &g_array_index (t->offsets, OffsetRun, t->offsets->len - 1) : NULL;
  if (o && o->offset == s->composition_offset)
    o->count++;
  else
    g_array_append_val (t->offsets, ((OffsetRun) { 1, s->composition_offset }));

  if (!s->sync && t->all_sync) {
    /* First non-sync sample: from now on the sync samples are listed. */
    t->all_sync = FALSE;
    for (guint32 i = 0; i < index; i++)
      g_array_append_val (t->syncs, i);
  } else if (s->sync && !t->all_sync) {
    g_array_append_val (t->syncs, index);
  }

  Chunk *c = t->chunks->len ? &g_array_index (t->chunks, Chunk, t->chunks->len - 1) : NULL;
  if (c && t->payload_end == s->payload_offset && c->description_index == s->description_index)
    c->count++;
  else
    g_array_append_val (t->chunks, ((Chunk) { s->payload_offset, index, 1, s->description_index }));

  t->count++;
  t->duration += s->duration;
  t->payload_end = s->payload_offset + s->size;
}

guint64
sample_table_duration (const SampleTable *t, guint32 n)
{
  guint64 total = 0;
  for (guint i = 0; i < t->durations->len && n > 0; i++) {
    const DurationRun *d = &g_array_index (t->durations, DurationRun, i);
    guint32 c = MIN (d->count, n);
    total += (guint64) c * d->delta;
    n -= c;
  }
  return total;
}

guint32
sample_table_chunk_count (const SampleTable *t, guint32 n)
{
  /* Chunks whose first sample lies below n. */
  guint lo = 0, hi = t->chunks->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (g_array_index (t->chunks, Chunk, mid).first_sample < n)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

guint32
sample_table_sync_count (const SampleTable *t, guint32 n)
{
  if (t->all_sync || t->count == 0)
    return n;
  guint lo = 0, hi = t->syncs->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (g_array_index (t->syncs, guint32, mid) < n)
      lo = mid + 1;
    else
      hi = mid;
  }
  /* Samples below the first non-sync one were all sync. */
  return lo;
}

gboolean
sample_table_has_offsets (const SampleTable *t, guint32 n, gboolean *negative)
{
  gboolean any = FALSE;
  *negative = FALSE;
  for (guint i = 0; i < t->offsets->len && n > 0; i++) {
    const OffsetRun *o = &g_array_index (t->offsets, OffsetRun, i);
    if (o->offset != 0)
      any = TRUE;
    if (o->offset < 0)
      *negative = TRUE;
    n -= MIN (o->count, n);
  }
  return any;
}

guint32
sample_table_constant_size (const SampleTable *t, guint32 n)
{
  if (n == 0)
    return 0;
  const guint32 *sizes = (const guint32 *) t->sizes->data;
  for (guint32 i = 1; i < n; i++)
    if (sizes[i] != sizes[0])
      return 0;
  return sizes[0];
}

guint64
sample_table_bytes (const SampleTable *t, guint32 n)
{
  const guint32 *sizes = (const guint32 *) t->sizes->data;
  guint64 total = 0;
  for (guint32 i = 0; i < n; i++)
    total += sizes[i];
  return total;
}

gsize
sample_table_memory (const SampleTable *t)
{
  return t->sizes->len * sizeof (guint32) + t->durations->len * sizeof (DurationRun) +
         t->offsets->len * sizeof (OffsetRun) + t->syncs->len * sizeof (guint32) +
         t->chunks->len * sizeof (Chunk);
}

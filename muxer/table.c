/* table.c — append-only, compact sample tables. */
#include "table.h"

#include <string.h>

void
sample_table_init (SampleTable *t)
{
  *t = (SampleTable) { 0 };
  t->sizes = g_array_new (FALSE, FALSE, sizeof (guint32));
  t->durations = run_list_new (FALSE);
  t->offsets = run_list_new (TRUE);
  t->syncs = g_array_new (FALSE, FALSE, sizeof (guint32));
  t->chunks = chunk_list_new ();
  t->chunk_runs = g_array_new (FALSE, FALSE, sizeof (ChunkRun));
  t->offset_minima = g_array_new (FALSE, FALSE, sizeof (OffsetMinimum));
  t->all_sync = TRUE;
  t->settled_presentation_end = G_MININT64;
  t->first_other_size = G_MAXUINT32;
  t->first_offset = G_MAXUINT32;
  t->first_negative_offset = G_MAXUINT32;
}

void
sample_table_clear (SampleTable *t)
{
  g_clear_pointer (&t->sizes, g_array_unref);
  g_clear_pointer (&t->durations, run_list_free);
  g_clear_pointer (&t->offsets, run_list_free);
  g_clear_pointer (&t->syncs, g_array_unref);
  g_clear_pointer (&t->chunks, chunk_list_free);
  g_clear_pointer (&t->chunk_runs, g_array_unref);
  g_clear_pointer (&t->offset_minima, g_array_unref);
}

/* g_array_append_val without its per-element copy call: appending is most
 * of what indexing a sample costs. */
#define PUSH(array, type, ...)                                  \
  G_STMT_START {                                                \
    GArray *a_ = (array);                                       \
    g_array_set_size (a_, a_->len + 1);                         \
    g_array_index (a_, type, a_->len - 1) = (type) __VA_ARGS__; \
  } G_STMT_END

/* The last chunk is complete once another begins: it joins the stsc runs. */
static void
close_chunk (SampleTable *t, const Chunk *c)
{
  ChunkRun *r = t->chunk_runs->len ? &g_array_index (t->chunk_runs, ChunkRun, t->chunk_runs->len - 1) : NULL;
  if (r && r->samples == c->count && r->description_index == c->description_index)
    return;
  ChunkRun run = { t->chunks->len - 1, c->count, c->description_index };
  PUSH (t->chunk_runs, ChunkRun, run);
}

void
sample_table_append (SampleTable *t, const SampleInfo *s)
{
  guint32 index = t->count;

  g_return_if_fail (t->count < G_MAXUINT32);
  if (index > 0) {
    /* The last sample's duration is final now: it joins the settled end. */
    gint32 last_offset = (gint32) run_list_last (t->offsets)->delta;
    t->settled_presentation_end = MAX (t->settled_presentation_end, (gint64) t->duration + last_offset);
  }
  PUSH (t->sizes, guint32, s->size);
  if (index > 0 && t->first_other_size == G_MAXUINT32 && s->size != g_array_index (t->sizes, guint32, 0))
    t->first_other_size = index;

  DurationRun *d = run_list_last (t->durations);
  if (d && d->delta == s->duration)
    d->count++;
  else
    run_list_push (t->durations, 1, s->duration);

  DurationRun *o = run_list_last (t->offsets);
  if (o && o->delta == (guint32) s->composition_offset)
    o->count++;
  else
    run_list_push (t->offsets, 1, (guint32) s->composition_offset);
  if (s->composition_offset != 0 && t->first_offset == G_MAXUINT32)
    t->first_offset = index;
  if (s->composition_offset < 0 && t->first_negative_offset == G_MAXUINT32)
    t->first_negative_offset = index;
  if (s->composition_offset < 0 &&
      (!t->offset_minima->len ||
       s->composition_offset < g_array_index (t->offset_minima, OffsetMinimum, t->offset_minima->len - 1).offset))
    PUSH (t->offset_minima, OffsetMinimum, { index, s->composition_offset });

  if (!s->sync && t->all_sync) {
    /* First non-sync sample: from now on the sync samples are listed. */
    t->all_sync = FALSE;
    for (guint32 i = 0; i < index; i++)
      PUSH (t->syncs, guint32, i);
  } else if (s->sync && !t->all_sync) {
    PUSH (t->syncs, guint32, index);
  }

  Chunk *c = t->chunks->len ? &t->chunks->last : NULL;
  if (c && t->payload_end == s->payload_offset && c->description_index == s->description_index) {
    c->count++;
  } else {
    if (c)
      close_chunk (t, c);
    chunk_list_push (t->chunks, &(Chunk) { s->payload_offset, index, 1, s->description_index }, t->payload_end);
  }

  t->count++;
  t->duration += s->duration;
  t->payload_end = s->payload_offset + s->size;
}

guint32
sample_table_last_duration (const SampleTable *t)
{
  return t->durations->len ? run_list_last (t->durations)->delta : 0;
}

gint
sample_table_set_last_duration (SampleTable *t, guint32 duration)
{
  g_return_val_if_fail (t->count > 0, 0);
  DurationRun *d = run_list_last (t->durations);
  guint32 old = d->delta;
  if (old == duration)
    return 0;
  t->duration = t->duration - old + duration;
  if (d->count > 1) {
    d->count--;
    run_list_push (t->durations, 1, duration);
    return 1;
  }
  /* A run of one follows a split or a new run, so the run before it is
   * kept whole: runs are packed only once two more follow them. */
  DurationRun *before = run_list_before_last (t->durations);
  if (before && before->delta == duration) {
    before->count++;
    run_list_drop_last (t->durations);
    return -1;
  }
  d->delta = duration;
  return 0;
}

guint64
sample_table_duration (const SampleTable *t, guint32 n)
{
  RunCursor c;
  if (!run_list_locate (t->durations, MIN (n, t->count), &c))
    return 0;
  return c.sum_before + (guint64) (MIN (n, t->count) - c.samples_before) * c.run.delta;
}

void
sample_table_pin (const SampleTable *t, TablePin *pin)
{
  *pin = (TablePin) { .duration = t->duration };
  if (t->count) {
    /* The last sample ends at the table's duration plus its offset. */
    gint32 last_offset = (gint32) run_list_last ((RunList *) t->offsets)->delta;
    pin->presentation_end = MAX (t->settled_presentation_end, (gint64) t->duration + last_offset);
  }
  guint32 last_count;
  pin->stts_entries = sample_table_duration_runs (t, t->count, &last_count);
  if (pin->stts_entries >= 2)
    pin->stts_tail[0] = run_list_get (t->durations, pin->stts_entries - 2);
  if (pin->stts_entries >= 1) {
    pin->stts_tail[1] = run_list_get (t->durations, pin->stts_entries - 1);
    pin->stts_tail[1].count = last_count;
  }
}

/* The runs that the first n of total samples span, and the samples within
 * n of the last of them. */
static guint32
runs_spanned (const RunList *runs, guint32 total, guint32 n, guint32 *last_count)
{
  RunCursor c;
  if (!run_list_locate (runs, MIN (n, total), &c)) {
    *last_count = 0;
    return 0;
  }
  *last_count = MIN (n, total) - c.samples_before;
  return c.index + 1;
}

DurationRun
sample_table_duration_run (const SampleTable *t, guint32 i)
{
  return run_list_get (t->durations, i);
}

OffsetRun
sample_table_offset_run (const SampleTable *t, guint32 i)
{
  DurationRun r = run_list_get (t->offsets, i);
  return (OffsetRun) { r.count, (gint32) r.delta };
}

guint32
sample_table_duration_runs (const SampleTable *t, guint32 n, guint32 *last_count)
{
  return runs_spanned (t->durations, t->count, n, last_count);
}

guint32
sample_table_offset_runs (const SampleTable *t, guint32 n, guint32 *last_count)
{
  return runs_spanned (t->offsets, t->count, n, last_count);
}

/* How many entries of a, sorted by the guint32 at field_offset in each,
 * hold a value below n (a binary search). */
static guint
count_below (const GArray *a, gsize field_offset, guint32 n)
{
  guint size = g_array_get_element_size ((GArray *) a);
  guint lo = 0, hi = a->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    guint32 v;
    memcpy (&v, a->data + (gsize) mid * size + field_offset, sizeof v);
    if (v < n)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

guint32
sample_table_chunk_runs (const SampleTable *t, guint32 n, ChunkRun *last)
{
  guint32 n_chunks = sample_table_chunk_count (t, n);
  *last = (ChunkRun) { 0 };
  if (n_chunks == 0)
    return 0;
  /* Runs that begin before the snapshot's last chunk describe the chunks
   * before it as they are for good. */
  guint lo = count_below (t->chunk_runs, G_STRUCT_OFFSET (ChunkRun, first_chunk), n_chunks - 1);
  Chunk c = sample_table_chunk (t, n_chunks - 1);
  guint32 samples = MIN (c.count, n - c.first_sample);
  if (lo > 0) {
    const ChunkRun *r = &g_array_index (t->chunk_runs, ChunkRun, lo - 1);
    if (r->samples == samples && r->description_index == c.description_index) {
      *last = *r;
      return lo;
    }
  }
  *last = (ChunkRun) { n_chunks - 1, samples, c.description_index };
  return lo + 1;
}

guint32
sample_table_sync_count (const SampleTable *t, guint32 n)
{
  if (t->all_sync || t->count == 0)
    return n;
  /* Samples below the first non-sync one were all sync. */
  return count_below (t->syncs, 0, n);
}

gboolean
sample_table_has_offsets (const SampleTable *t, guint32 n, gboolean *negative)
{
  *negative = t->first_negative_offset < n;
  return t->first_offset < n;
}

gint32
sample_table_min_offset (const SampleTable *t, guint32 n)
{
  guint lo = count_below (t->offset_minima, G_STRUCT_OFFSET (OffsetMinimum, sample), n);
  return lo ? g_array_index (t->offset_minima, OffsetMinimum, lo - 1).offset : 0;
}

guint32
sample_table_constant_size (const SampleTable *t, guint32 n)
{
  if (n == 0 || t->first_other_size < n)
    return 0;
  return g_array_index (t->sizes, guint32, 0);
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
  return t->sizes->len * sizeof (guint32) + run_list_memory (t->durations) +
         run_list_memory (t->offsets) + t->syncs->len * sizeof (guint32) +
         chunk_list_memory (t->chunks) + t->chunk_runs->len * sizeof (ChunkRun) +
         t->offset_minima->len * sizeof (OffsetMinimum);
}

void
sample_cursor_init (SampleCursor *c)
{
  *c = (SampleCursor) { 0 };
}

gboolean
sample_cursor_next (const SampleTable *t, SampleCursor *c, SampleInfo *out, guint64 *decode_time)
{
  if (c->index >= t->count || t->durations->len == 0 || t->offsets->len == 0 || t->chunks->len == 0)
    return FALSE;
  if (!c->started) {
    run_cursor_init (&c->duration, t->durations, 0);
    run_cursor_init (&c->offset, t->offsets, 0);
    chunk_cursor_init (&c->chunk, t, 0);
    c->payload_offset = c->chunk.chunk.payload_offset;
    c->started = TRUE;
  }
  if (c->duration_used >= c->duration.run.count) {
    if (!run_cursor_next (&c->duration))
      return FALSE;
    c->duration_used = 0;
  }
  if (c->offset_used >= c->offset.run.count) {
    if (!run_cursor_next (&c->offset))
      return FALSE;
    c->offset_used = 0;
  }
  if (c->index >= c->chunk.chunk.first_sample + c->chunk.chunk.count) {
    if (!chunk_cursor_next (&c->chunk))
      return FALSE;
    c->payload_offset = c->chunk.chunk.payload_offset;
  }
  gboolean sync = t->all_sync;
  if (!sync && c->sync_entry < t->syncs->len && g_array_index (t->syncs, guint32, c->sync_entry) == c->index) {
    sync = TRUE;
    c->sync_entry++;
  }
  *out = (SampleInfo) {
    .size = g_array_index (t->sizes, guint32, c->index),
    .duration = c->duration.run.delta,
    .composition_offset = (gint32) c->offset.run.delta,
    .sync = sync,
    .description_index = c->chunk.chunk.description_index,
    .payload_offset = c->payload_offset,
  };
  *decode_time = c->decode_time;
  c->index++;
  c->decode_time += out->duration;
  c->payload_offset += out->size;
  c->duration_used++;
  c->offset_used++;
  return TRUE;
}

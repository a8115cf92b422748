/* test-table.c — sample tables: runs, sync lists, chunks, and every query cut at every count. */
#include "muxer/table.h"

static SampleInfo
info (guint32 size, guint32 duration, gint32 cto, gboolean sync, guint32 sdi, guint64 payload_offset)
{
  return (SampleInfo) { size, duration, cto, sync, sdi, payload_offset };
}

/* Appends samples laid out back to back in the payload, starting at *pos. */
static void
append_contiguous (SampleTable *t, guint64 *pos, guint32 size, guint32 duration, gint32 cto, gboolean sync)
{
  SampleInfo s = info (size, duration, cto, sync, 1, *pos);
  sample_table_append (t, &s);
  *pos += size;
}

static void
test_empty_table (void)
{
  SampleTable t;
  gboolean negative = TRUE;
  sample_table_init (&t);
  g_assert_cmpuint (t.count, ==, 0);
  g_assert_true (t.all_sync);
  g_assert_cmpuint (sample_table_duration (&t, 0), ==, 0);
  g_assert_cmpuint (sample_table_chunk_count (&t, 0), ==, 0);
  g_assert_cmpuint (sample_table_sync_count (&t, 0), ==, 0);
  g_assert_false (sample_table_has_offsets (&t, 0, &negative));
  g_assert_false (negative);
  g_assert_cmpuint (sample_table_constant_size (&t, 0), ==, 0);
  g_assert_cmpuint (sample_table_bytes (&t, 0), ==, 0);
  g_assert_cmpuint (sample_table_memory (&t), ==, 0);
  sample_table_clear (&t);
  sample_table_clear (&t);   /* twice is harmless */
}

static void
test_equal_durations_share_a_run (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  const guint32 durations[] = { 10, 10, 10, 20, 20, 10, 0, 0 };
  for (gsize i = 0; i < G_N_ELEMENTS (durations); i++)
    append_contiguous (&t, &pos, 5, durations[i], 0, TRUE);
  const DurationRun expect[] = { { 3, 10 }, { 2, 20 }, { 1, 10 }, { 2, 0 } };
  g_assert_cmpuint (t.durations->len, ==, G_N_ELEMENTS (expect));
  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++) {
    g_assert_cmpuint (sample_table_duration_run (&t, i).count, ==, expect[i].count);
    g_assert_cmpuint (sample_table_duration_run (&t, i).delta, ==, expect[i].delta);
  }
  g_assert_cmpuint (t.duration, ==, 80);
  sample_table_clear (&t);
}

/* Setting the last sample's duration keeps the runs maximal: the table is
 * the one whose sample came with that duration, whatever was guessed first. */
static void
test_last_duration_set_keeps_runs_maximal (void)
{
  const guint32 guessed[] = { 10, 10, 10, 7, 10, 99, 20, 5 };
  const guint32 final[] = { 10, 10, 10, 10, 10, 20, 20, 20 };
  SampleTable a, b;
  guint64 pa = 0, pb = 0;
  sample_table_init (&a);
  sample_table_init (&b);
  for (gsize i = 0; i < G_N_ELEMENTS (final); i++) {
    append_contiguous (&a, &pa, 5, guessed[i], 0, TRUE);
    sample_table_set_last_duration (&a, final[i]);
    append_contiguous (&b, &pb, 5, final[i], 0, TRUE);
    g_assert_cmpuint (a.durations->len, ==, b.durations->len);
    g_assert_true (run_list_equal (a.durations, b.durations));
    g_assert_cmpuint (a.duration, ==, b.duration);
  }
  sample_table_clear (&a);
  sample_table_clear (&b);
}

/* The same over thousands of samples, where runs are packed behind the last two. */
static void
test_last_duration_set_long (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  SampleTable a, b;
  guint64 pa = 0, pb = 0;
  sample_table_init (&a);
  sample_table_init (&b);
  for (guint i = 0; i < 4000; i++) {
    guint32 guessed = 10 + g_rand_int_range (rand, 0, 3), final = 10 + g_rand_int_range (rand, 0, 3);
    append_contiguous (&a, &pa, 5, guessed, 0, TRUE);
    sample_table_set_last_duration (&a, final);
    if (g_rand_boolean (rand))
      sample_table_set_last_duration (&a, final);   /* again: nothing changes */
    append_contiguous (&b, &pb, 5, final, 0, TRUE);
    g_assert_cmpuint (a.durations->len, ==, b.durations->len);
    g_assert_cmpuint (a.duration, ==, b.duration);
  }
  g_assert_true (run_list_equal (a.durations, b.durations));
  g_assert_cmpuint (a.durations->packed, >, 1000);
  for (guint32 n = 0; n <= a.count; n += 7)
    g_assert_cmpuint (sample_table_duration (&a, n), ==, sample_table_duration (&b, n));
  sample_table_clear (&a);
  sample_table_clear (&b);
}

/* A pin keeps what a snapshot read of the runs, however the last duration changes. */
static void
test_pin_survives_last_duration_change (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  for (guint i = 0; i < 4; i++)
    append_contiguous (&t, &pos, 5, 10, 0, TRUE);
  append_contiguous (&t, &pos, 5, 3, 0, TRUE);
  TablePin pin;
  sample_table_pin (&t, &pin);
  g_assert_cmpuint (pin.stts_entries, ==, 2);
  g_assert_cmpuint (pin.stts_tail[0].count, ==, 4);
  g_assert_cmpuint (pin.stts_tail[1].delta, ==, 3);
  g_assert_cmpuint (pin.duration, ==, 43);
  sample_table_set_last_duration (&t, 10);   /* merges into the run before */
  g_assert_cmpuint (t.durations->len, ==, 1);
  g_assert_cmpuint (sample_table_duration_run (&t, 0).count, ==, 5);
  g_assert_cmpuint (pin.stts_tail[0].count, ==, 4);
  sample_table_clear (&t);
}

static void
test_equal_offsets_share_a_run (void)
{
  SampleTable t;
  guint64 pos = 0;
  gboolean negative;
  sample_table_init (&t);
  const gint32 offsets[] = { 0, 0, 2000, 2000, -1000, -1000, -1000, 0 };
  for (gsize i = 0; i < G_N_ELEMENTS (offsets); i++)
    append_contiguous (&t, &pos, 5, 1000, offsets[i], TRUE);
  const OffsetRun expect[] = { { 2, 0 }, { 2, 2000 }, { 3, -1000 }, { 1, 0 } };
  g_assert_cmpuint (t.offsets->len, ==, G_N_ELEMENTS (expect));
  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++) {
    g_assert_cmpuint (sample_table_offset_run (&t, i).count, ==, expect[i].count);
    g_assert_cmpint (sample_table_offset_run (&t, i).offset, ==, expect[i].offset);
  }
  g_assert_false (sample_table_has_offsets (&t, 2, &negative));
  g_assert_true (sample_table_has_offsets (&t, 3, &negative));
  g_assert_false (negative);
  g_assert_true (sample_table_has_offsets (&t, 5, &negative));
  g_assert_true (negative);
  sample_table_clear (&t);
}

static void
test_sync_list_empty_while_all_sync (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  for (int i = 0; i < 50; i++)
    append_contiguous (&t, &pos, 3, 1, 0, TRUE);
  g_assert_true (t.all_sync);
  g_assert_cmpuint (t.syncs->len, ==, 0);
  for (guint32 n = 0; n <= 50; n++)
    g_assert_cmpuint (sample_table_sync_count (&t, n), ==, n);
  sample_table_clear (&t);
}

static void
test_sync_list_materialised_at_first_non_sync (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  for (int i = 0; i < 4; i++)
    append_contiguous (&t, &pos, 3, 1, 0, TRUE);
  g_assert_cmpuint (t.syncs->len, ==, 0);
  append_contiguous (&t, &pos, 3, 1, 0, FALSE);
  g_assert_false (t.all_sync);
  g_assert_cmpuint (t.syncs->len, ==, 4);
  for (guint32 i = 0; i < 4; i++)
    g_assert_cmpuint (g_array_index (t.syncs, guint32, i), ==, i);
  append_contiguous (&t, &pos, 3, 1, 0, FALSE);
  append_contiguous (&t, &pos, 3, 1, 0, TRUE);
  g_assert_cmpuint (t.syncs->len, ==, 5);
  g_assert_cmpuint (g_array_index (t.syncs, guint32, 4), ==, 6);
  /* Every cut, including cuts before the first non-sync sample. */
  const guint32 expect[] = { 0, 1, 2, 3, 4, 4, 4, 5 };
  for (guint32 n = 0; n <= 7; n++)
    g_assert_cmpuint (sample_table_sync_count (&t, n), ==, expect[n]);
  sample_table_clear (&t);
}

static void
test_first_sample_non_sync (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  append_contiguous (&t, &pos, 3, 1, 0, FALSE);
  append_contiguous (&t, &pos, 3, 1, 0, TRUE);
  g_assert_cmpuint (t.syncs->len, ==, 1);
  g_assert_cmpuint (sample_table_sync_count (&t, 1), ==, 0);
  g_assert_cmpuint (sample_table_sync_count (&t, 2), ==, 1);
  sample_table_clear (&t);
}

static void
test_contiguous_samples_share_a_chunk (void)
{
  SampleTable t;
  guint64 pos = 100;
  sample_table_init (&t);
  for (int i = 0; i < 10; i++)
    append_contiguous (&t, &pos, 7 + i, 1, 0, TRUE);
  g_assert_cmpuint (t.chunks->len, ==, 1);
  Chunk *c = (Chunk[]) { sample_table_chunk (&t, 0) };
  g_assert_cmpuint (c->payload_offset, ==, 100);
  g_assert_cmpuint (c->first_sample, ==, 0);
  g_assert_cmpuint (c->count, ==, 10);
  g_assert_cmpuint (c->description_index, ==, 1);
  g_assert_cmpuint (t.payload_end, ==, pos);
  sample_table_clear (&t);
}

static void
test_gap_in_payload_starts_a_chunk (void)
{
  SampleTable t;
  sample_table_init (&t);
  SampleInfo s[] = { info (10, 1, 0, TRUE, 1, 0), info (10, 1, 0, TRUE, 1, 10),
                     info (10, 1, 0, TRUE, 1, 25),   /* another track's 5 bytes came between */
                     info (10, 1, 0, TRUE, 1, 35) };
  for (gsize i = 0; i < G_N_ELEMENTS (s); i++)
    sample_table_append (&t, &s[i]);
  g_assert_cmpuint (t.chunks->len, ==, 2);
  Chunk *c = (Chunk[]) { sample_table_chunk (&t, 1) };
  g_assert_cmpuint (c->payload_offset, ==, 25);
  g_assert_cmpuint (c->first_sample, ==, 2);
  g_assert_cmpuint (c->count, ==, 2);
  g_assert_cmpuint (sample_table_chunk (&t, 0).count, ==, 2);
  sample_table_clear (&t);
}

static void
test_description_change_starts_a_chunk (void)
{
  SampleTable t;
  sample_table_init (&t);
  SampleInfo s[] = { info (10, 1, 0, TRUE, 1, 0), info (10, 1, 0, TRUE, 2, 10), info (10, 1, 0, TRUE, 2, 20),
                     info (10, 1, 0, TRUE, 1, 30) };
  for (gsize i = 0; i < G_N_ELEMENTS (s); i++)
    sample_table_append (&t, &s[i]);
  g_assert_cmpuint (t.chunks->len, ==, 3);
  const guint32 first[] = { 0, 1, 3 }, count[] = { 1, 2, 1 }, sdi[] = { 1, 2, 1 };
  for (guint i = 0; i < 3; i++) {
    Chunk *c = (Chunk[]) { sample_table_chunk (&t, i) };
    g_assert_cmpuint (c->first_sample, ==, first[i]);
    g_assert_cmpuint (c->count, ==, count[i]);
    g_assert_cmpuint (c->description_index, ==, sdi[i]);
    g_assert_cmpuint (c->payload_offset, ==, first[i] * 10);
  }
  sample_table_clear (&t);
}

static void
test_zero_size_samples_keep_the_chunk (void)
{
  SampleTable t;
  sample_table_init (&t);
  SampleInfo s[] = { info (10, 1, 0, TRUE, 1, 0), info (0, 1, 0, TRUE, 1, 10), info (4, 1, 0, TRUE, 1, 10) };
  for (gsize i = 0; i < G_N_ELEMENTS (s); i++)
    sample_table_append (&t, &s[i]);
  g_assert_cmpuint (t.chunks->len, ==, 1);
  g_assert_cmpuint (sample_table_bytes (&t, 3), ==, 14);
  sample_table_clear (&t);
}

static void
test_constant_size (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  append_contiguous (&t, &pos, 9, 1, 0, TRUE);
  append_contiguous (&t, &pos, 9, 1, 0, TRUE);
  append_contiguous (&t, &pos, 8, 1, 0, TRUE);
  g_assert_cmpuint (sample_table_constant_size (&t, 0), ==, 0);
  g_assert_cmpuint (sample_table_constant_size (&t, 1), ==, 9);
  g_assert_cmpuint (sample_table_constant_size (&t, 2), ==, 9);
  g_assert_cmpuint (sample_table_constant_size (&t, 3), ==, 0);
  sample_table_clear (&t);
}

static void
test_large_values_do_not_wrap (void)
{
  SampleTable t;
  sample_table_init (&t);
  guint64 pos = G_GUINT64_CONSTANT (5) << 32;
  for (int i = 0; i < 4; i++)
    append_contiguous (&t, &pos, G_MAXUINT32, G_MAXUINT32, G_MININT32, TRUE);
  g_assert_cmpuint (sample_table_duration (&t, 4), ==, 4 * (guint64) G_MAXUINT32);
  g_assert_cmpuint (t.duration, ==, 4 * (guint64) G_MAXUINT32);
  g_assert_cmpuint (sample_table_bytes (&t, 4), ==, 4 * (guint64) G_MAXUINT32);
  g_assert_cmpuint (sample_table_chunk (&t, 0).payload_offset, ==, G_GUINT64_CONSTANT (5) << 32);
  g_assert_cmpuint (t.chunks->len, ==, 1);
  sample_table_clear (&t);
}

static void
test_memory_stays_compact (void)
{
  SampleTable t;
  guint64 pos = 0;
  sample_table_init (&t);
  /* A typical video track: constant frame duration, a GOP of 30, B-frame offsets in a cycle. */
  const gint32 cycle[] = { 2, 0, 1 };
  for (int i = 0; i < 3000; i++)
    append_contiguous (&t, &pos, 1000 + i % 7, 3000, cycle[i % 3] * 3000, i % 30 == 0);
  gsize mem = sample_table_memory (&t);
  g_assert_cmpuint (mem, <=, 16 * t.count);
  sample_table_clear (&t);
}

/* ---- every query against a model, cut at every n ------------------------- */

/* The stts, ctts and stsc entries of the first n samples, as a writer that
 * walked the samples one by one would make them, against the table's. */
static void
check_runs_at_cut (const SampleTable *t, const GArray *samples, guint32 n)
{
  const SampleInfo *s = (const SampleInfo *) samples->data;
  guint32 stts = 0, stts_last = 0, ctts = 0, ctts_last = 0;
  for (guint32 i = 0; i < n; i++) {
    if (i == 0 || s[i].duration != s[i - 1].duration)
      stts++, stts_last = 0;
    stts_last++;
    if (i == 0 || s[i].composition_offset != s[i - 1].composition_offset)
      ctts++, ctts_last = 0;
    ctts_last++;
  }
  guint32 last;
  g_assert_cmpuint (sample_table_duration_runs (t, n, &last), ==, stts);
  g_assert_cmpuint (last, ==, stts_last);
  g_assert_cmpuint (sample_table_offset_runs (t, n, &last), ==, ctts);
  g_assert_cmpuint (last, ==, ctts_last);

  /* stsc: chunks as samples contiguous in the payload with one description,
   * then runs of chunks alike in samples and description. */
  g_autoptr (GArray) runs = g_array_new (FALSE, FALSE, sizeof (ChunkRun));
  guint32 chunk = 0, in_chunk = 0;
  for (guint32 i = 0; i < n; i++) {
    gboolean starts = i == 0 || s[i].payload_offset != s[i - 1].payload_offset + s[i - 1].size ||
                      s[i].description_index != s[i - 1].description_index;
    if (starts && i > 0) {
      ChunkRun *r = runs->len ? &g_array_index (runs, ChunkRun, runs->len - 1) : NULL;
      if (!r || r->samples != in_chunk || r->description_index != s[i - 1].description_index)
        g_array_append_val (runs, ((ChunkRun) { chunk, in_chunk, s[i - 1].description_index }));
      chunk++;
      in_chunk = 0;
    }
    in_chunk++;
  }
  if (n > 0) {
    ChunkRun *r = runs->len ? &g_array_index (runs, ChunkRun, runs->len - 1) : NULL;
    if (!r || r->samples != in_chunk || r->description_index != s[n - 1].description_index)
      g_array_append_val (runs, ((ChunkRun) { chunk, in_chunk, s[n - 1].description_index }));
  }
  ChunkRun got;
  g_assert_cmpuint (sample_table_chunk_runs (t, n, &got), ==, runs->len);
  for (guint r = 0; r + 1 < runs->len; r++)
    g_assert_cmpmem (&g_array_index (t->chunk_runs, ChunkRun, r), sizeof (ChunkRun),
                     &g_array_index (runs, ChunkRun, r), sizeof (ChunkRun));
  if (runs->len)
    g_assert_cmpmem (&got, sizeof got, &g_array_index (runs, ChunkRun, runs->len - 1), sizeof (ChunkRun));
}

static void
check_all_cuts (const SampleTable *t, const GArray *samples)
{
  const SampleInfo *s = (const SampleInfo *) samples->data;
  g_assert_cmpuint (t->count, ==, samples->len);
  for (guint32 n = 0; n <= samples->len; n++) {
    guint64 duration = 0, bytes = 0;
    guint32 syncs = 0, chunks = 0, constant = n ? s[0].size : 0;
    gboolean any = FALSE, neg = FALSE;
    for (guint32 i = 0; i < n; i++) {
      duration += s[i].duration;
      bytes += s[i].size;
      syncs += s[i].sync;
      any |= s[i].composition_offset != 0;
      neg |= s[i].composition_offset < 0;
      if (s[i].size != constant)
        constant = 0;
      if (i == 0 || s[i].payload_offset != s[i - 1].payload_offset + s[i - 1].size ||
          s[i].description_index != s[i - 1].description_index)
        chunks++;
    }
    gboolean negative;
    check_runs_at_cut (t, samples, n);
    g_assert_cmpuint (sample_table_duration (t, n), ==, duration);
    g_assert_cmpuint (sample_table_bytes (t, n), ==, bytes);
    g_assert_cmpuint (sample_table_sync_count (t, n), ==, syncs);
    g_assert_cmpuint (sample_table_chunk_count (t, n), ==, chunks);
    g_assert_cmpuint (sample_table_constant_size (t, n), ==, constant);
    g_assert_cmpint (sample_table_has_offsets (t, n, &negative), ==, any);
    g_assert_cmpint (negative, ==, neg);
  }
}

/* Expands the run-length tables back to one value per sample. */
static void
check_runs_expand (const SampleTable *t, const GArray *samples)
{
  const SampleInfo *s = (const SampleInfo *) samples->data;
  guint32 i = 0;
  for (guint r = 0; r < t->durations->len; r++) {
    const DurationRun *d = (DurationRun[]) { sample_table_duration_run (t, r) };
    g_assert_cmpuint (d->count, >, 0);
    if (r > 0)
      g_assert_cmpuint (d->delta, !=, sample_table_duration_run (t, r - 1).delta);
    for (guint32 k = 0; k < d->count; k++, i++)
      g_assert_cmpuint (d->delta, ==, s[i].duration);
  }
  g_assert_cmpuint (i, ==, samples->len);
  i = 0;
  for (guint r = 0; r < t->offsets->len; r++) {
    const OffsetRun *o = (OffsetRun[]) { sample_table_offset_run (t, r) };
    g_assert_cmpuint (o->count, >, 0);
    for (guint32 k = 0; k < o->count; k++, i++)
      g_assert_cmpint (o->offset, ==, s[i].composition_offset);
  }
  g_assert_cmpuint (i, ==, samples->len);
  i = 0;
  for (guint c = 0; c < t->chunks->len; c++) {
    const Chunk *ch = (Chunk[]) { sample_table_chunk (t, c) };
    g_assert_cmpuint (ch->first_sample, ==, i);
    g_assert_cmpuint (ch->payload_offset, ==, s[i].payload_offset);
    guint64 pos = ch->payload_offset;
    for (guint32 k = 0; k < ch->count; k++, i++) {
      g_assert_cmpuint (s[i].payload_offset, ==, pos);
      g_assert_cmpuint (s[i].description_index, ==, ch->description_index);
      pos += s[i].size;
    }
  }
  g_assert_cmpuint (i, ==, samples->len);
}

static void
test_crafted_sequence_every_cut (void)
{
  /* Runs of 3+ so that cuts land inside runs, and the last chunk is long. */
  SampleInfo s[] = {
    info (10, 3, 0, TRUE, 1, 0),   info (10, 3, 6, FALSE, 1, 10), info (10, 3, 6, FALSE, 1, 20),
    info (12, 3, -3, FALSE, 1, 30), info (12, 5, -3, TRUE, 1, 42), info (12, 5, 0, FALSE, 2, 54),
    info (12, 5, 0, FALSE, 2, 70), info (9, 5, 0, TRUE, 2, 82),   info (9, 5, 0, FALSE, 2, 91),
    info (9, 5, 0, FALSE, 2, 100), info (9, 5, 0, FALSE, 2, 109),
  };
  SampleTable t;
  g_autoptr (GArray) model = g_array_new (FALSE, FALSE, sizeof (SampleInfo));
  sample_table_init (&t);
  for (gsize i = 0; i < G_N_ELEMENTS (s); i++) {
    sample_table_append (&t, &s[i]);
    g_array_append_val (model, s[i]);
    check_all_cuts (&t, model);   /* after every append, at every n */
  }
  check_runs_expand (&t, model);
  g_assert_cmpuint (t.chunks->len, ==, 3);
  sample_table_clear (&t);
}

static void
test_random_sequences_every_cut (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20240601);
  for (int round = 0; round < 40; round++) {
    SampleTable t;
    g_autoptr (GArray) model = g_array_new (FALSE, FALSE, sizeof (SampleInfo));
    sample_table_init (&t);
    guint64 pos = g_rand_int_range (rand, 0, 100);
    guint n = g_rand_int_range (rand, 1, 120);
    for (guint i = 0; i < n; i++) {
      /* Small alphabets so that runs, repeats and equal sizes happen. */
      SampleInfo s = info (g_rand_int_range (rand, 0, 3) ? 8 : g_rand_int_range (rand, 0, 4),
                           g_rand_int_range (rand, 0, 4) ? 1000 : g_rand_int_range (rand, 0, 3) * 500,
                           g_rand_int_range (rand, -1, 3) * 1000, g_rand_int_range (rand, 0, 4) != 0,
                           g_rand_int_range (rand, 0, 8) ? 1 : 2, pos);
      if (round % 4 == 0)
        s.size = 8;
      sample_table_append (&t, &s);
      g_array_append_val (model, s);
      pos += s.size + (g_rand_int_range (rand, 0, 6) == 0 ? g_rand_int_range (rand, 1, 50) : 0);
    }
    check_all_cuts (&t, model);
    check_runs_expand (&t, model);
    sample_table_clear (&t);
  }
}

/* ---- packed chunks: marks, the cursor and the payload offset lookup ------ */

static void
test_packed_chunks_against_model (void)
{
  /* Chunks of one and of many samples, description changes, gaps of every
   * width (up to 2^40) and a start near 2^48, over many marks. */
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261202);
  SampleTable t;
  g_autoptr (GArray) model = g_array_new (FALSE, FALSE, sizeof (SampleInfo));
  g_autoptr (GArray) chunks = g_array_new (FALSE, FALSE, sizeof (Chunk));
  sample_table_init (&t);
  guint64 pos = G_GUINT64_CONSTANT (1) << 48;
  guint32 sdi = 1;
  for (guint32 i = 0; i < 3000; i++) {
    if (g_rand_int_range (rand, 0, 200) == 0)
      sdi = g_rand_int_range (rand, 1, 4);
    /* Durations and offsets from small alphabets: many runs, over many marks. */
    SampleInfo s = info (g_rand_int_range (rand, 0, 5000), 1000 + 90 * g_rand_int_range (rand, 0, 2),
                         g_rand_int_range (rand, -1, 3) * 3000, g_rand_int_range (rand, 0, 5) == 0, sdi, pos);
    Chunk *last = chunks->len ? &g_array_index (chunks, Chunk, chunks->len - 1) : NULL;
    guint64 end = model->len ? g_array_index (model, SampleInfo, model->len - 1).payload_offset +
                                   g_array_index (model, SampleInfo, model->len - 1).size : 0;
    if (last && end == pos && last->description_index == sdi)
      last->count++;
    else
      g_array_append_val (chunks, ((Chunk) { pos, i, 1, sdi }));
    sample_table_append (&t, &s);
    g_array_append_val (model, s);
    pos += s.size;
    switch (g_rand_int_range (rand, 0, 8)) {
    case 0: case 1: break;                                          /* contiguous: the chunk goes on */
    case 2: pos += g_rand_int_range (rand, 1, 64); break;           /* a one-byte gap */
    case 3: pos += g_rand_int_range (rand, 64, 70000); break;
    case 4: pos += (guint64) g_rand_int (rand) << 8; break;         /* up to 2^40 */
    default: pos += g_rand_int_range (rand, 1, 20); break;
    }
  }
  check_all_cuts (&t, model);
  check_runs_expand (&t, model);
  g_assert_cmpuint (t.durations->marks->len, >, 10);
  g_assert_cmpuint (t.offsets->marks->len, >, 10);
  g_assert_cmpuint (t.chunks->len, ==, chunks->len);
  g_assert_cmpuint (t.chunks->marks->len, ==, (chunks->len - 1 + CHUNK_MARK_EVERY - 1) / CHUNK_MARK_EVERY);
  const Chunk *c = (const Chunk *) chunks->data;
  /* From every chunk, a few steps of the cursor. */
  for (guint32 i = 0; i < chunks->len; i++) {
    ChunkCursor cur;
    chunk_cursor_init (&cur, &t, i);
    for (guint32 k = i; k < MIN (i + 3, chunks->len); k++) {
      g_assert_cmpuint (cur.chunk.payload_offset, ==, c[k].payload_offset);
      g_assert_cmpuint (cur.chunk.first_sample, ==, c[k].first_sample);
      g_assert_cmpuint (cur.chunk.count, ==, c[k].count);
      g_assert_cmpuint (cur.chunk.description_index, ==, c[k].description_index);
      g_assert_cmpint (chunk_cursor_next (&cur), ==, k + 1 < chunks->len);
    }
  }
  /* The chunk that starts last at or before an offset, around every start. */
  Chunk got;
  g_assert_false (sample_table_chunk_at (&t, c[0].payload_offset - 1, &got));
  for (guint32 i = 0; i < chunks->len; i++) {
    g_assert_true (sample_table_chunk_at (&t, c[i].payload_offset, &got));
    g_assert_cmpuint (got.first_sample, ==, c[i].first_sample);
    if (i > 0) {
      g_assert_true (sample_table_chunk_at (&t, c[i].payload_offset - 1, &got));
      g_assert_cmpuint (got.first_sample, ==, c[i - 1].first_sample);
    }
  }
  /* Chunk counts of every cut. */
  guint32 expect = 0;
  for (guint32 n = 0; n <= model->len; n++) {
    while (expect < chunks->len && c[expect].first_sample < n)
      expect++;
    g_assert_cmpuint (sample_table_chunk_count (&t, n), ==, expect);
  }
  sample_table_clear (&t);
}

/* ---- bytes a sample of day-long recordings ------------------------------- */

/* Interleaved Matroska as FFmpeg writes it (every block a chunk of its own):
 * 30 fps video whose block times are rounded to the millisecond (durations
 * 2970 or 3060 in 90 kHz, B-frame offsets likewise), 48 kHz AAC, about
 * 2 Mbit/s.  fMP4: 1-second fragments, one chunk per track each. */
static double
day_long_bytes_a_sample (gboolean matroska)
{
  SampleTable video, audio;
  sample_table_init (&video);
  sample_table_init (&audio);
  const guint32 frames = 24 * 3600 * 30, audio_frames = (guint32) (24ull * 3600 * 48000 / 1024);
  guint64 pos = 0;
  guint32 a = 0;
  for (guint32 v = 0; v < frames; v++) {
    /* Decode order P B B: presentation index v + 2, v - 1, v - 1. */
    gint64 shown = v % 3 == 0 ? v + 2 : (gint64) v - 1;
    gint64 pts_ms = (shown * 1000 + 15) / 30, dts_ms = ((gint64) v * 1000 + 15) / 30;
    guint32 duration = (guint32) (((gint64) (v + 1) * 1000 + 15) / 30 - dts_ms) * 90;
    guint32 size = v % 30 == 0 ? 60000 : v % 3 == 0 ? 9000 : 4000;
    if (!matroska)
      duration = 3000;
    gint32 offset = matroska ? (gint32) (pts_ms + 67 - dts_ms) * 90 : (gint32) (shown + 2 - v) * 3000;
    if (matroska || v % 30 == 0)
      pos += matroska ? 9 : 600;   /* a block header, a moof */
    sample_table_append (&video, &(SampleInfo) { size, duration, offset, v % 30 == 0, 1, pos });
    pos += size;
    /* Audio up to the next video frame (fMP4: a second's worth after the video). */
    guint32 upto = matroska ? (guint32) ((guint64) (v + 1) * 48000 / 30 / 1024)
                            : (v % 30 == 29 ? (guint32) ((guint64) (v + 1) * 48000 / 30 / 1024) : a);
    for (; a < upto && a < audio_frames; a++) {
      if (matroska)
        pos += 9;
      sample_table_append (&audio, &(SampleInfo) { 280 + a % 40, 1024, 0, TRUE, 1, pos });
      pos += 280 + a % 40;
    }
  }
  double bytes = (double) (sample_table_memory (&video) + sample_table_memory (&audio));
  double samples = (double) video.count + audio.count;
  g_test_message ("%s, 24 h: %.0f samples, %.2f bytes a sample", matroska ? "Matroska" : "fMP4", samples,
                  bytes / samples);
  sample_table_clear (&video);
  sample_table_clear (&audio);
  return bytes / samples;
}

static void
test_day_long_matroska_memory (void)
{
  g_assert_cmpfloat (day_long_bytes_a_sample (TRUE), <=, 12.0);
}

static void
test_day_long_fmp4_memory (void)
{
  g_assert_cmpfloat (day_long_bytes_a_sample (FALSE), <=, 8.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/table/empty", test_empty_table);
  g_test_add_func ("/table/durations/runs", test_equal_durations_share_a_run);
  g_test_add_func ("/table/offsets/runs", test_equal_offsets_share_a_run);
  g_test_add_func ("/table/durations/last-set-keeps-runs-maximal", test_last_duration_set_keeps_runs_maximal);
  g_test_add_func ("/table/durations/last-set-long", test_last_duration_set_long);
  g_test_add_func ("/table/durations/pin-survives-last-change", test_pin_survives_last_duration_change);
  g_test_add_func ("/table/sync/empty-while-all-sync", test_sync_list_empty_while_all_sync);
  g_test_add_func ("/table/sync/materialised-at-first-non-sync", test_sync_list_materialised_at_first_non_sync);
  g_test_add_func ("/table/sync/first-sample-non-sync", test_first_sample_non_sync);
  g_test_add_func ("/table/chunks/contiguous", test_contiguous_samples_share_a_chunk);
  g_test_add_func ("/table/chunks/gap", test_gap_in_payload_starts_a_chunk);
  g_test_add_func ("/table/chunks/description-change", test_description_change_starts_a_chunk);
  g_test_add_func ("/table/chunks/zero-size-samples", test_zero_size_samples_keep_the_chunk);
  g_test_add_func ("/table/constant-size", test_constant_size);
  g_test_add_func ("/table/large-values", test_large_values_do_not_wrap);
  g_test_add_func ("/table/memory-compact", test_memory_stays_compact);
  g_test_add_func ("/table/cuts/crafted", test_crafted_sequence_every_cut);
  g_test_add_func ("/table/cuts/random", test_random_sequences_every_cut);
  g_test_add_func ("/table/chunks/packed", test_packed_chunks_against_model);
  g_test_add_func ("/table/memory/day-long-matroska", test_day_long_matroska_memory);
  g_test_add_func ("/table/memory/day-long-fmp4", test_day_long_fmp4_memory);
  return g_test_run ();
}

/* fuzz-common.h — helpers shared by the libFuzzer targets (header-only).
 *
 * Each target is linked on its own with the muxer sources compiled with the
 * same sanitizer flags (see tests/fuzz/run.sh).  Logging: warnings and
 * messages (recording_fail/note) are dropped, criticals (g_return_if_fail)
 * and errors abort, so a broken precondition is a crash the fuzzer reports.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxer/bytes.h"
#include "muxer/fmp4.h"
#include "muxer/layout.h"
#include "muxer/mp4.h"
#include "muxer/recording.h"
#include "muxer/ts.h"
#ifdef HAVE_MKV
#include "muxer/mkv.h"
#endif

#define FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf (stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__);                                            \
      fputc ('\n', stderr);                                                     \
      abort ();                                                                 \
    }                                                                           \
  } while (0)

static void
fuzz_log (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  (void) data;
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
    fprintf (stderr, "%s: %s\n", domain ? domain : "", message);
    abort ();
  }
  if (getenv ("FUZZ_VERBOSE"))
    fprintf (stderr, "%s: %s\n", domain ? domain : "", message);
}

static inline void
fuzz_init_logging (void)
{
  g_log_set_default_handler (fuzz_log, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR);
}

/* A small deterministic generator seeded from the input, so a crash replays. */
typedef struct {
  guint64 s;
} FuzzRng;

static inline void
fuzz_rng_init (FuzzRng *r, const guint8 *data, gsize len)
{
  guint64 h = 0xcbf29ce484222325ull ^ len;
  /* Hash a sample of the input: head and tail bytes. */
  for (gsize i = 0; i < len && i < 64; i++)
    h = (h ^ data[i]) * 0x100000001b3ull;
  for (gsize i = len > 64 ? len - 64 : len; i < len; i++)
    h = (h ^ data[i]) * 0x100000001b3ull;
  r->s = h ? h : 1;
}

static inline guint64
fuzz_rng_next (FuzzRng *r)
{
  guint64 x = r->s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->s = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* A value in [lo, hi]. */
static inline guint64
fuzz_rng_range (FuzzRng *r, guint64 lo, guint64 hi)
{
  return lo + fuzz_rng_next (r) % (hi - lo + 1);
}

/* The indexers under test, in detection order. */
static const IndexerClass *const fuzz_indexers[] = {
  &fmp4_indexer,
#ifdef HAVE_MKV
  &mkv_indexer,
#endif
  &mp4_indexer,
  &ts_indexer,
};

static inline gboolean
bytes_equal (GBytes *a, GBytes *b)
{
  if (!a || !b)
    return a == b;
  return g_bytes_equal (a, b);
}

static inline gboolean
array_equal (const GArray *a, const GArray *b, gsize elt)
{
  return a->len == b->len && (a->len == 0 || memcmp (a->data, b->data, (gsize) a->len * elt) == 0);
}

/* Compares everything the writer reads from two recordings. */
static inline void
fuzz_assert_same_recording (Recording *a, Recording *b, const char *what)
{
  FUZZ_CHECK (a->tracks->len == b->tracks->len, "%s: %u vs %u tracks", what, a->tracks->len, b->tracks->len);
  FUZZ_CHECK (a->total_samples == b->total_samples, "%s: %" G_GUINT64_FORMAT " vs %" G_GUINT64_FORMAT " samples",
              what, a->total_samples, b->total_samples);
  FUZZ_CHECK (a->payload_len == b->payload_len, "%s: payload %" G_GUINT64_FORMAT " vs %" G_GUINT64_FORMAT, what,
              a->payload_len, b->payload_len);
  FUZZ_CHECK (array_equal (a->extents, b->extents, sizeof (Extent)), "%s: extents differ (%u vs %u)", what,
              a->extents->len, b->extents->len);
  for (guint i = 0; i < a->tracks->len; i++) {
    const Track *x = g_ptr_array_index (a->tracks, i), *y = g_ptr_array_index (b->tracks, i);
    FUZZ_CHECK (x->id == y->id && x->handler == y->handler && x->timescale == y->timescale &&
                    x->codec == y->codec && x->edit_base == y->edit_base,
                "%s: track %u header differs", what, i);
    FUZZ_CHECK (bytes_equal (x->sample_descriptions, y->sample_descriptions) &&
                    bytes_equal (x->media_header, y->media_header),
                "%s: track %u descriptions differ", what, i);
    const SampleTable *s = &x->table, *t = &y->table;
    FUZZ_CHECK (s->count == t->count, "%s: track %u: %u vs %u samples", what, i, s->count, t->count);
    if (s->count)
      FUZZ_CHECK (x->first_decode_time == y->first_decode_time, "%s: track %u first decode time differs", what, i);
    FUZZ_CHECK (s->duration == t->duration && s->payload_end == t->payload_end && s->all_sync == t->all_sync,
                "%s: track %u totals differ", what, i);
    FUZZ_CHECK (array_equal (s->sizes, t->sizes, sizeof (guint32)), "%s: track %u sizes differ", what, i);
    FUZZ_CHECK (run_list_equal (s->durations, t->durations), "%s: track %u durations differ",
                what, i);
    FUZZ_CHECK (run_list_equal (s->offsets, t->offsets), "%s: track %u offsets differ", what, i);
    FUZZ_CHECK (array_equal (s->syncs, t->syncs, sizeof (guint32)), "%s: track %u sync samples differ", what, i);
    FUZZ_CHECK (s->chunks->len == t->chunks->len, "%s: track %u: %u vs %u chunks", what, i, s->chunks->len,
                t->chunks->len);
    for (guint k = 0; k < s->chunks->len; k++) {
      /* Field by field: Chunk has padding. */
      const Chunk *c = (Chunk[]) { sample_table_chunk (s, k) }, *d = (Chunk[]) { sample_table_chunk (t, k) };
      FUZZ_CHECK (c->payload_offset == d->payload_offset && c->first_sample == d->first_sample &&
                      c->count == d->count && c->description_index == d->description_index,
                  "%s: track %u chunk %u differs", what, i, k);
    }
  }
}

/* Invariants of one recording against its source of len bytes. */
static inline void
fuzz_assert_consistent (Recording *rec, guint64 len)
{
  guint64 payload = 0, samples = 0;
  guint64 prev_end = 0;
  /* A produced payload (MPEG-TS) has no extents: its bytes come from read_payload. */
  if (rec->indexer->read_payload) {
    FUZZ_CHECK (rec->extents->len == 0, "a produced payload with extents");
    payload = rec->payload_len;
  }
  for (guint i = 0; i < rec->extents->len; i++) {
    const Extent *e = &g_array_index (rec->extents, Extent, i);
    FUZZ_CHECK (e->payload_offset == payload, "extent %u at payload %" G_GUINT64_FORMAT ", want %" G_GUINT64_FORMAT,
                i, e->payload_offset, payload);
    FUZZ_CHECK (e->length > 0, "extent %u is empty", i);
    FUZZ_CHECK (e->source_offset >= prev_end, "extent %u goes back in the source", i);
    FUZZ_CHECK (e->source_offset <= len && e->length <= len - e->source_offset,
                "extent %u [%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT ") lies outside the %" G_GUINT64_FORMAT
                "-byte source",
                i, e->source_offset, e->length, len);
    prev_end = e->source_offset + e->length;
    payload += e->length;
  }
  FUZZ_CHECK (payload == rec->payload_len, "extents cover %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
              payload, rec->payload_len);
  for (guint i = 0; i < rec->tracks->len; i++) {
    const SampleTable *t = &((Track *) g_ptr_array_index (rec->tracks, i))->table;
    samples += t->count;
    FUZZ_CHECK (t->sizes->len == t->count, "track %u: %u sizes for %u samples", i, t->sizes->len, t->count);
    FUZZ_CHECK (t->payload_end <= rec->payload_len, "track %u ends past the payload", i);
  }
  FUZZ_CHECK (samples == rec->total_samples, "tracks hold %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " samples",
              samples, rec->total_samples);
  FUZZ_CHECK (rec->total_samples <= RECORDING_MAX_SAMPLES, "past the sample limit");
  FUZZ_CHECK (rec->tracks->len <= RECORDING_MAX_TRACKS, "past the track limit");
}

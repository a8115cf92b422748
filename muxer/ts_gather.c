/* ts_gather.c — the produced payload of an MPEG-TS recording (ts.h): a read
 * of payload bytes finds the samples they belong to through the tracks'
 * chunks, and gathers each sample from its packets at its locator,
 * rewritten (start codes to lengths) or copied. */
#include "ts_private.h"

#include <string.h>

/* Bytes of source in a window (TsGatherWindow). */
#define GATHER_WINDOW (256u << 10)
#define GATHER_BACK (32u << 10)

void
ts_gather_init (TsState *st)
{
  for (guint i = 0; i < TS_GATHER_WINDOWS; i++)
    g_mutex_init (&st->windows[i].lock);
}

void
ts_gather_clear (TsState *st)
{
  for (guint i = 0; i < TS_GATHER_WINDOWS; i++) {
    if (st->windows[i].set)
      ts_reader_clear (&st->windows[i].reader);
    g_mutex_clear (&st->windows[i].lock);
  }
}

/* A free window for a read of src at payload offset: the one the read
 * before it left there if free (a sequential read continues in its bytes),
 * else another free one; NULL if all are taken.  Returned locked. */
static TsGatherWindow *
window_take (TsState *st, const Source *src, guint64 offset)
{
  TsGatherWindow *w = NULL, *spare = NULL;
  for (guint i = 0; i < TS_GATHER_WINDOWS && !w; i++) {
    TsGatherWindow *c = &st->windows[i];
    if (!g_mutex_trylock (&c->lock))
      continue;
    if (c->next == offset)
      w = c;
    else if (!spare)
      spare = c;
    else
      g_mutex_unlock (&c->lock);
  }
  if (w && spare)
    g_mutex_unlock (&spare->lock);
  else if (!w)
    w = spare;
  if (!w)
    return NULL;
  if (!w->set || w->fd != src->fd || w->data != src->data) {
    if (w->set)
      ts_reader_clear (&w->reader);
    ts_reader_init (&w->reader, src, GATHER_WINDOW);
    /* Windows serve concurrent reads of neighbouring ranges: little of a
     * refill goes to bytes before the miss, where another window often is
     * (a walk's steps back are short: samples complete in source order). */
    w->reader.back = GATHER_BACK;
    w->set = TRUE;
    w->fd = src->fd;
    w->data = src->data;
  }
  w->reader.src = src;
  return w;
}

/* The packet holding source byte offset: on the grid of the last packet
 * found by resynchronising before it (ts_private.h). */
static guint64
packet_of (TsState *st, guint64 offset)
{
  guint64 base = st->format.first;
  guint lo = 0, hi = st->resyncs->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (g_array_index (st->resyncs, guint64, mid) <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > 0)
    base = g_array_index (st->resyncs, guint64, lo - 1);
  return offset < base ? base : base + (offset - base) / st->format.stride * st->format.stride;
}

/* Produces sample i of s (size bytes) into dest; cursor carries the
 * locator lookup from one of s's samples to the next. */
static gboolean
produce_sample (TsState *st, TsReader *reader, TsStream *s, guint32 i, TsLocatorCursor *cursor, guint8 *dest,
                gsize size)
{
  guint64 offset;
  if (!ts_locators_get (&s->locators, i, cursor, &offset))
    return FALSE;   /* never expected: every sample has its locator */
  guint64 packet = packet_of (st, offset);
  if (offset - packet >= TS_PACKET)
    return FALSE;   /* never expected: the locator names an ES byte */
  TsEsWalk w;
  ts_es_walk_init (&w, reader, st->format.stride, s->pid, packet, (guint) (offset - packet));
  /* H.264 and HEVC are rewritten; MPEG-2 video and audio are copied. */
  return s->kind == TS_KIND_VIDEO && s->video != TS_VIDEO_MPEG2 ? ts_annexb_convert (&w, dest, size)
                                                                : ts_es_walk_read (&w, dest, size);
}

/* Where a read stands in the payload: the sample it is in, and each
 * stream's next chunk.  The chunks of all tracks tile the payload, so the
 * chunk after the current one is the stream's next chunk that starts where
 * it ends: a sequential read steps from chunk to chunk without a search. */
typedef struct {
  TsStream *s;                /* whose chunk is being read */
  guint32 sample;             /* of s: the next to read */
  guint32 chunk_end;          /* of s: the sample after its chunk */
  guint64 start;              /* payload offset of sample */
  ChunkCursor next[RECORDING_MAX_TRACKS];
  gboolean has_next[RECORDING_MAX_TRACKS];
  TsLocatorCursor locator[RECORDING_MAX_TRACKS];
} PayloadWalk;

/* Makes the chunk at w->next[s->index] the current one. */
static void
walk_enter (PayloadWalk *w, TsStream *s)
{
  const Chunk *c = &w->next[s->index].chunk;
  w->s = s;
  w->sample = c->first_sample;
  w->chunk_end = c->first_sample + c->count;
  w->start = c->payload_offset;
  w->has_next[s->index] = chunk_cursor_next (&w->next[s->index]);
}

/* Puts w on the sample holding payload offset; FALSE if none does. */
static gboolean
walk_begin (TsState *st, guint64 offset, PayloadWalk *w)
{
  TsStream *best = NULL;
  for (guint i = 0; i < st->streams->len; i++) {
    TsStream *s = g_ptr_array_index (st->streams, i);
    w->has_next[i] = FALSE;
    w->locator[i].valid = FALSE;
    if (!s->track || s->track->table.chunks->len == 0)
      continue;
    ChunkCursor *c = &w->next[i];
    if (chunk_cursor_at (c, &s->track->table, offset)) {
      if (!best || c->chunk.payload_offset > w->next[best->index].chunk.payload_offset)
        best = s;
    } else {
      chunk_cursor_init (c, &s->track->table, 0);   /* its first chunk starts past offset */
    }
    w->has_next[i] = TRUE;
  }
  if (!best)
    return FALSE;
  /* The other streams' chunks at or before offset end before best's. */
  for (guint i = 0; i < st->streams->len; i++)
    if (w->has_next[i] && i != best->index && w->next[i].chunk.payload_offset <= offset)
      w->has_next[i] = chunk_cursor_next (&w->next[i]);
  walk_enter (w, best);
  const guint32 *sizes = (const guint32 *) best->track->table.sizes->data;
  for (; w->sample < w->chunk_end; w->sample++) {
    if (offset < w->start + sizes[w->sample])
      return TRUE;
    w->start += sizes[w->sample];
  }
  return FALSE;
}

/* Moves w to the first sample of the chunk that starts where the current
 * one ended; FALSE if none does (never expected below the payload's end). */
static gboolean
walk_next_chunk (TsState *st, PayloadWalk *w)
{
  for (guint i = 0; i < st->streams->len; i++) {
    if (w->has_next[i] && w->next[i].chunk.payload_offset == w->start) {
      walk_enter (w, g_ptr_array_index (st->streams, i));
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
ts_gather_read (gpointer data, Recording *rec, const Source *src, guint64 offset, guint8 *dest, gsize len)
{
  TsState *st = data;
  (void) rec;
  g_autofree guint8 *scratch = NULL;
  gsize scratch_len = 0;
  PayloadWalk w;
  if (!walk_begin (st, offset, &w))
    return FALSE;
  TsReader local, *reader = &local;
  TsGatherWindow *window = window_take (st, src, offset);
  if (window) {
    reader = &window->reader;
  } else {
    /* About the source span of len produced bytes (packet headers, other
     * PIDs between), and room to step back. */
    ts_reader_init (&local, src, MIN (GATHER_WINDOW * 2, len + len / 2 + (64u << 10)));
  }
  gboolean ok = TRUE;
  while (len > 0) {
    if (w.sample >= w.chunk_end && !walk_next_chunk (st, &w)) {
      ok = FALSE;
      break;
    }
    TsStream *s = w.s;
    guint64 size = ((const guint32 *) s->track->table.sizes->data)[w.sample];
    gsize skip = (gsize) (offset - w.start), n = (gsize) MIN ((guint64) len, size - skip);
    guint8 *to = dest;
    if (skip != 0 || n != size) {
      /* Part of a sample: produced whole, then cut. */
      if (scratch_len < size) {
        g_free (scratch);
        scratch = g_malloc (size);
        scratch_len = size;
      }
      to = scratch;
    }
    if (!produce_sample (st, reader, s, w.sample, &w.locator[s->index], to, size)) {
      ok = FALSE;
      break;
    }
    if (to != dest)
      memcpy (dest, scratch + skip, n);
    dest += n;
    len -= n;
    offset += n;
    w.start += size;
    w.sample++;
  }
  if (window) {
    window->next = ok ? offset : G_MAXUINT64;
    g_mutex_unlock (&window->lock);
  } else {
    ts_reader_clear (&local);
  }
  return ok;
}

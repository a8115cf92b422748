/* table_chunks.c — a track's chunks, packed.
 *
 * A Chunk takes 24 bytes, and in a Matroska file that interleaves audio and
 * video frame by frame nearly every sample is a chunk of its own.  Packed,
 * a closed chunk is its distance from the end of the chunk before it (the
 * other tracks' frames and block headers between them: a byte or two) and,
 * only where it holds other than one sample or changes the description, its
 * sample count and description:
 *
 *   varint (gap << 1)                      one sample, same description, gap < 2^63
 *   varint (count << 2 | changed << 1 | 1), varint (gap), [varint (description)]
 *
 * Where a chunk ends follows from its samples' sizes.  Every CHUNK_MARK_EVERY
 * chunks a mark keeps a chunk whole, so any chunk is a binary search and at
 * most CHUNK_MARK_EVERY - 1 steps away.  The last chunk, which still grows,
 * is kept whole until the next begins; packed entries never change.  An
 * entry takes at most 20 bytes and a table at most G_MAXUINT32 samples
 * (recordings stop far below), so byte positions fit in 32 bits.
 */
#include "table.h"
#include "table_varint.h"

#include <string.h>

ChunkList *
chunk_list_new (void)
{
  ChunkList *l = g_new0 (ChunkList, 1);
  l->bytes = g_byte_array_new ();
  l->marks = g_array_new (FALSE, FALSE, sizeof (ChunkMark));
  return l;
}

void
chunk_list_free (ChunkList *l)
{
  if (!l)
    return;
  g_byte_array_unref (l->bytes);
  g_array_unref (l->marks);
  g_free (l);
}

void
chunk_list_push (ChunkList *l, const Chunk *c, guint64 payload_end)
{
  if (l->len > 0) {
    /* The last chunk is complete: pack it. */
    const Chunk *last = &l->last;
    guint32 index = l->len - 1;
    g_assert (l->bytes->len <= G_MAXUINT32 - 20);
    if (index % CHUNK_MARK_EVERY == 0) {
      ChunkMark mark = { last->payload_offset, last->first_sample, last->description_index, l->bytes->len };
      g_array_append_val (l->marks, mark);
    }
    guint64 gap = last->payload_offset - l->last_gap_from;   /* modulo 2^64: reading adds it back */
    gboolean changed = index == 0 || last->description_index != l->packed_description;
    if (last->count == 1 && !changed && gap < G_GUINT64_CONSTANT (1) << 63) {
      table_put_varint (l->bytes, gap << 1);
    } else {
      table_put_varint (l->bytes, (guint64) last->count << 2 | (guint64) changed << 1 | 1);
      table_put_varint (l->bytes, gap);
      if (changed)
        table_put_varint (l->bytes, last->description_index);
    }
    l->packed_description = last->description_index;
    l->last_gap_from = payload_end;
    l->closed = l->len;
  }
  l->last = *c;
  l->len++;
}

gsize
chunk_list_memory (const ChunkList *l)
{
  return l->bytes->len + l->marks->len * sizeof (ChunkMark);
}

/* Reads the packed entry at c->byte into c->chunk, given where the chunk
 * before it ended (ignored for the offset if at_mark gives it). */
static void
read_entry (ChunkCursor *c, guint64 previous_end)
{
  const ChunkList *l = c->table->chunks;
  gsize pos = c->byte;
  guint64 v = table_get_varint (l->bytes->data, &pos);
  guint64 gap;
  if (!(v & 1)) {
    gap = v >> 1;
    c->chunk.count = 1;
  } else {
    c->chunk.count = (guint32) (v >> 2);
    gap = table_get_varint (l->bytes->data, &pos);
    if (v & 2)
      c->chunk.description_index = (guint32) table_get_varint (l->bytes->data, &pos);
  }
  c->chunk.payload_offset = previous_end + gap;
  c->byte = (guint) pos;
}

static guint64
chunk_end (const SampleTable *t, const Chunk *chunk)
{
  const guint32 *sizes = (const guint32 *) t->sizes->data;
  guint64 end = chunk->payload_offset;
  for (guint32 i = 0; i < chunk->count; i++)
    end += sizes[chunk->first_sample + i];
  return end;
}

gboolean
chunk_cursor_next (ChunkCursor *c)
{
  const ChunkList *l = c->table->chunks;
  if (c->index + 1 >= l->len)
    return FALSE;
  if (c->index + 1 == l->closed) {
    c->chunk = l->last;
  } else {
    guint64 end = chunk_end (c->table, &c->chunk);
    c->chunk.first_sample += c->chunk.count;
    read_entry (c, end);
  }
  c->index++;
  return TRUE;
}

/* Puts c on the chunk of mark m. */
static void
cursor_at_mark (ChunkCursor *c, const SampleTable *t, guint m)
{
  const ChunkMark *mark = &g_array_index (t->chunks->marks, ChunkMark, m);
  *c = (ChunkCursor) { .table = t, .index = m * CHUNK_MARK_EVERY, .byte = mark->byte };
  c->chunk.first_sample = mark->first_sample;
  c->chunk.description_index = mark->description_index;
  read_entry (c, 0);
  c->chunk.payload_offset = mark->payload_offset;
}

void
chunk_cursor_init (ChunkCursor *c, const SampleTable *t, guint32 i)
{
  const ChunkList *l = t->chunks;
  g_return_if_fail (i < l->len);
  if (i == l->closed) {
    *c = (ChunkCursor) { .table = t, .index = i, .chunk = l->last, .byte = l->bytes->len };
    return;
  }
  cursor_at_mark (c, t, i / CHUNK_MARK_EVERY);
  while (c->index < i)
    chunk_cursor_next (c);
}

Chunk
sample_table_chunk (const SampleTable *t, guint32 i)
{
  ChunkCursor c;
  chunk_cursor_init (&c, t, i);
  return c.chunk;
}

/* How many marks hold a chunk whose field is at most value (a binary search). */
static guint
marks_at_most (const GArray *marks, gboolean by_offset, guint64 value)
{
  guint lo = 0, hi = marks->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    const ChunkMark *m = &g_array_index (marks, ChunkMark, mid);
    if ((by_offset ? m->payload_offset : m->first_sample) <= value)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

guint32
sample_table_chunk_count (const SampleTable *t, guint32 n)
{
  /* Chunks whose first sample lies below n. */
  const ChunkList *l = t->chunks;
  if (l->len == 0 || n == 0)
    return 0;
  if (l->last.first_sample < n)
    return l->len;
  guint m = marks_at_most (l->marks, FALSE, n - 1);
  ChunkCursor c;
  cursor_at_mark (&c, t, m - 1);   /* chunk 0, sample 0 < n, has mark 0 */
  guint32 count = c.index + 1;
  while (chunk_cursor_next (&c) && c.chunk.first_sample < n)
    count++;
  return count;
}

gboolean
chunk_cursor_at (ChunkCursor *c, const SampleTable *t, guint64 payload_offset)
{
  const ChunkList *l = t->chunks;
  if (l->len == 0)
    return FALSE;
  if (l->last.payload_offset <= payload_offset) {
    chunk_cursor_init (c, t, l->len - 1);
    return TRUE;
  }
  guint m = marks_at_most (l->marks, TRUE, payload_offset);
  if (m == 0)
    return FALSE;
  ChunkCursor next;
  cursor_at_mark (c, t, m - 1);
  next = *c;
  while (chunk_cursor_next (&next) && next.chunk.payload_offset <= payload_offset)
    *c = next;
  return TRUE;
}

gboolean
sample_table_chunk_at (const SampleTable *t, guint64 payload_offset, Chunk *out)
{
  ChunkCursor c;
  if (!chunk_cursor_at (&c, t, payload_offset))
    return FALSE;
  *out = c.chunk;
  return TRUE;
}

void
sample_table_write_chunk_offsets (const SampleTable *t, guint32 first, guint32 count, guint64 base, gboolean co64,
                                  guint8 *out)
{
  const ChunkList *l = t->chunks;
  if (count == 0)
    return;
  g_return_if_fail (first < l->len && count <= l->len - first);
  ChunkCursor c;
  chunk_cursor_init (&c, t, first);
  /* Decoded in a tight loop from the cursor's state: most of a Matroska
   * moov is this. */
  const guint32 *sizes = (const guint32 *) t->sizes->data;
  const guint8 *p = l->bytes->len ? l->bytes->data + c.byte : NULL;   /* NULL: only the last chunk */
  guint64 offset = c.chunk.payload_offset;
  guint32 sample = c.chunk.first_sample, in_chunk = c.chunk.count;
  for (guint32 i = first;; ) {
    guint64 v = offset + base;
    if (co64) {
      v = GUINT64_TO_BE (v);
      memcpy (out, &v, 8);
      out += 8;
    } else {
      guint32 v32 = GUINT32_TO_BE ((guint32) v);
      memcpy (out, &v32, 4);
      out += 4;
    }
    if (++i == first + count)
      break;
    /* The next chunk: where this one ends, then its entry, or the last chunk. */
    if (i == l->closed) {
      offset = l->last.payload_offset;
      continue;
    }
    for (guint32 k = 0; k < in_chunk; k++)
      offset += sizes[sample + k];
    sample += in_chunk;
    guint64 gap, e = table_next_varint (&p);
    if (G_LIKELY (!(e & 1))) {
      gap = e >> 1;
      in_chunk = 1;
    } else {
      in_chunk = (guint32) (e >> 2);
      gap = table_next_varint (&p);
      if (e & 2)
        (void) table_next_varint (&p);   /* the description: not an offset */
    }
    offset += gap;
  }
}

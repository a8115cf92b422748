/* moov_tables.c — the sample table boxes of a moov (ISO/IEC 14496-12 8.6.1.2
 * stts, 8.6.1.3 ctts, 8.6.2 stss, 8.7.3.2 stsz, 8.7.4 stsc, 8.7.5 stco/co64).
 *
 * Each box is written with its header and entry count; its entries are a
 * hole, produced from the SampleTable when read.  The table never moves an
 * entry once written, so the entries of a snapshot are the table's first
 * ones, except the last of stts, ctts and stsc, which the table may have
 * extended since: the snapshot keeps its own copy of that one.
 */
#include <string.h>

#include "moov.h"

static guint
entry_width (MoovTableKind kind)
{
  switch (kind) {
  case MOOV_STSS:
  case MOOV_STSZ:
  case MOOV_STCO:
    return 4;
  case MOOV_STSC:
    return 12;
  case MOOV_STTS:
  case MOOV_CTTS:
  case MOOV_CO64:
    break;
  }
  return 8;
}

guint64
moov_table_len (const MoovTable *table)
{
  return (guint64) table->entries * entry_width (table->kind);
}

/* Writes a table box: header, entry count, and its entries as a hole. */
static void
write_table (ByteWriter *w, guint32 type, guint8 version, const MoovTable *table, Moov *out)
{
  gsize box = box_begin_full (w, type, version, 0);
  byte_writer_u32 (w, table->entries);
  if (table->entries) {
    byte_writer_hole (w, moov_table_len (table));
    g_array_append_val (out->tables, *table);
  }
  box_end (w, box);
}

static void
write_stts (ByteWriter *w, const SampleTable *t, const TablePin *pin, Moov *out)
{
  MoovTable table = { .kind = MOOV_STTS, .table = t, .entries = pin->stts_entries };
  table.last[0] = pin->stts_tail[1].count;
  table.last[1] = pin->stts_tail[1].delta;
  table.before_last[0] = pin->stts_tail[0].count;
  table.before_last[1] = pin->stts_tail[0].delta;
  write_table (w, FOURCC ('s', 't', 't', 's'), 0, &table, out);
}

static void
write_ctts (ByteWriter *w, const SampleTable *t, guint32 n, Moov *out)
{
  gboolean negative;
  if (!sample_table_has_offsets (t, n, &negative))
    return;
  /* Negative offsets are shifted up to zero, as FFmpeg's remux writes them:
   * version 0, which every reader takes alike; moov.c starts the track's
   * media edit that much later (8.6.1.3, 8.6.6). */
  MoovTable table = { .kind = MOOV_CTTS, .table = t };
  table.shift = negative ? (guint32) -(gint64) sample_table_min_offset (t, n) : 0;
  table.entries = sample_table_offset_runs (t, n, &table.last[0]);
  table.last[1] = (guint32) sample_table_offset_run (t, table.entries - 1).offset + table.shift;
  write_table (w, FOURCC ('c', 't', 't', 's'), 0, &table, out);
}

static void
write_stss (ByteWriter *w, const SampleTable *t, guint32 n, Moov *out)
{
  guint32 syncs = sample_table_sync_count (t, n);
  if (syncs == n)
    return;   /* every sample is a sync sample */
  MoovTable table = { .kind = MOOV_STSS, .table = t, .entries = syncs };
  write_table (w, FOURCC ('s', 't', 's', 's'), 0, &table, out);
}

static void
write_stsz (ByteWriter *w, const SampleTable *t, guint32 n, Moov *out)
{
  guint32 constant = sample_table_constant_size (t, n);
  gsize box = box_begin_full (w, FOURCC ('s', 't', 's', 'z'), 0, 0);
  byte_writer_u32 (w, constant);
  byte_writer_u32 (w, n);
  if (!constant && n) {
    MoovTable table = { .kind = MOOV_STSZ, .table = t, .entries = n };
    byte_writer_hole (w, moov_table_len (&table));
    g_array_append_val (out->tables, table);
  }
  box_end (w, box);
}

static void
write_stsc (ByteWriter *w, const SampleTable *t, guint32 n, Moov *out)
{
  ChunkRun last;
  MoovTable table = { .kind = MOOV_STSC, .table = t };
  table.entries = sample_table_chunk_runs (t, n, &last);
  table.last[0] = last.first_chunk + 1;
  table.last[1] = last.samples;
  table.last[2] = last.description_index;
  write_table (w, FOURCC ('s', 't', 's', 'c'), 0, &table, out);
}

static void
write_chunk_offsets (ByteWriter *w, const SampleTable *t, guint32 n, Moov *out)
{
  MoovTable table = { .kind = out->co64 ? MOOV_CO64 : MOOV_STCO, .table = t };
  table.entries = sample_table_chunk_count (t, n);
  if (table.entries) {
    guint64 last = sample_table_chunk (t, table.entries - 1).payload_offset;
    out->last_chunk_offset = MAX (out->last_chunk_offset, last);
  }
  write_table (w, out->co64 ? FOURCC ('c', 'o', '6', '4') : FOURCC ('s', 't', 'c', 'o'), 0, &table, out);
}

void
moov_write_tables (ByteWriter *w, const SampleTable *t, guint32 n, const TablePin *pin, Moov *out)
{
  write_stts (w, t, pin, out);
  write_ctts (w, t, n, out);
  write_stss (w, t, n, out);
  write_stsz (w, t, n, out);
  write_stsc (w, t, n, out);
  write_chunk_offsets (w, t, n, out);
}

static inline void
put32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

static inline void
put64 (guint8 *p, guint64 v)
{
  v = GUINT64_TO_BE (v);
  memcpy (p, &v, 8);
}

/* Writes entries [first, first + count) of table, whole, to out. */
static void
encode_entries (const MoovTable *table, guint32 first, guint32 count, guint8 *out)
{
  const SampleTable *t = table->table;
  guint32 end = first + count;
  gboolean own_last = count > 0 && end == table->entries &&
                      (table->kind == MOOV_STTS || table->kind == MOOV_CTTS || table->kind == MOOV_STSC);
  if (own_last)
    end--;
  switch (table->kind) {
  case MOOV_STTS:
    run_list_write (t->durations, first, end - first, 0, out);
    /* The entry before the last is the snapshot's own (TablePin): the
     * table's may have changed since.  Runs before it never change. */
    if (first + 2 <= table->entries && table->entries - 2 < end) {
      guint8 *p = out + 8 * (gsize) (table->entries - 2 - first);
      put32 (p, table->before_last[0]);
      put32 (p + 4, table->before_last[1]);
    }
    out += 8 * (gsize) (end - first);
    break;
  case MOOV_CTTS:
    run_list_write (t->offsets, first, end - first, table->shift, out);
    out += 8 * (gsize) (end - first);
    break;
  case MOOV_STSS: {
    const guint32 *syncs = (const guint32 *) t->syncs->data;
    for (guint32 i = first; i < end; i++, out += 4)
      put32 (out, syncs[i] + 1);
    break;
  }
  case MOOV_STSZ: {
    const guint32 *sizes = (const guint32 *) t->sizes->data;
    for (guint32 i = first; i < end; i++, out += 4)
      put32 (out, sizes[i]);
    break;
  }
  case MOOV_STSC: {
    const ChunkRun *runs = (const ChunkRun *) t->chunk_runs->data;
    for (guint32 i = first; i < end; i++, out += 12) {
      put32 (out, runs[i].first_chunk + 1);
      put32 (out + 4, runs[i].samples);
      put32 (out + 8, runs[i].description_index);
    }
    break;
  }
  case MOOV_STCO:
  case MOOV_CO64:
    /* Chunk offsets never change once a chunk begins: the table's are the snapshot's. */
    sample_table_write_chunk_offsets (t, first, end - first, table->base, table->kind == MOOV_CO64, out);
    out += (gsize) (end - first) * entry_width (table->kind);
    break;
  }
  if (own_last)
    for (guint k = 0; k < entry_width (table->kind) / 4; k++)
      put32 (out + 4 * k, table->last[k]);
}

void
moov_table_read (const MoovTable *table, guint64 offset, guint8 *dest, gsize len)
{
  guint width = entry_width (table->kind);
  g_return_if_fail (offset <= moov_table_len (table) && len <= moov_table_len (table) - offset);
  guint32 i = (guint32) (offset / width);
  guint skip = (guint) (offset % width);
  guint8 entry[12];
  if (skip && len) {
    gsize n = MIN (width - skip, len);
    encode_entries (table, i++, 1, entry);
    memcpy (dest, entry + skip, n);
    dest += n;
    len -= n;
  }
  guint32 whole = (guint32) (len / width);
  encode_entries (table, i, whole, dest);
  dest += (gsize) whole * width;
  len -= (gsize) whole * width;
  if (len) {
    encode_entries (table, i + whole, 1, entry);
    memcpy (dest, entry, len);
  }
}

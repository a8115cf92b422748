/* stbl.c — samples listed by a moov's sample table. */
#include "stbl.h"

/* Reads a table box's version and entry count from its body, checking that
 * count entries of entry_size bytes fit in what remains. */
static gboolean
table_header (ByteReader *r, guint entry_size, guint32 *count, guint8 *version)
{
  guint32 flags;
  return full_box_header_read (r, version, &flags) && byte_reader_u32 (r, count) &&
         *count <= byte_reader_remaining (r) / entry_size;
}

/* Finds a table box that must be there and reads its header. */
static gboolean
open_table (ByteReader stbl, guint32 type, guint entry_size, ByteReader *r, guint32 *count, guint8 *version)
{
  return box_find_child (stbl, type, r) && table_header (r, entry_size, count, version);
}

static gboolean
read_sizes (ByteReader stbl, guint32 max, GArray *out, const char **error)
{
  ByteReader r;
  guint8 version;
  guint32 flags, constant, count;
  if (box_find_child (stbl, FOURCC ('s', 't', 's', 'z'), &r)) {
    if (!byte_reader_u8 (&r, &version) || !byte_reader_u24 (&r, &flags) || !byte_reader_u32 (&r, &constant) ||
        !byte_reader_u32 (&r, &count) || count > max || (!constant && count > byte_reader_remaining (&r) / 4)) {
      *error = "malformed or oversized stsz";
      return FALSE;
    }
    g_array_set_size (out, count);
    for (guint32 i = 0; i < count; i++) {
      guint32 size = constant;
      if (!constant)
        byte_reader_u32 (&r, &size);
      g_array_index (out, StblSample, i).info.size = size;
    }
    return TRUE;
  }
  if (box_find_child (stbl, FOURCC ('s', 't', 'z', '2'), &r)) {
    guint32 reserved;
    guint8 field;
    if (!byte_reader_u8 (&r, &version) || !byte_reader_u24 (&r, &flags) || !byte_reader_u24 (&r, &reserved) ||
        !byte_reader_u8 (&r, &field) || !byte_reader_u32 (&r, &count) || count > max ||
        (field != 4 && field != 8 && field != 16) || (guint64) count * field > (guint64) byte_reader_remaining (&r) * 8) {
      *error = "malformed or oversized stz2";
      return FALSE;
    }
    g_array_set_size (out, count);
    for (guint32 i = 0; i < count; i++) {
      guint64 v = 0;
      if (field == 4) {
        const guint8 *p = r.data + r.pos + i / 2;
        v = i % 2 ? (*p & 0xf) : (*p >> 4);
      } else {
        ByteReader c = r;
        byte_reader_skip (&c, (guint64) i * (field / 8));
        byte_reader_uint_n (&c, field / 8, &v);
      }
      g_array_index (out, StblSample, i).info.size = (guint32) v;
    }
    return TRUE;
  }
  *error = "no stsz or stz2";
  return FALSE;
}

gboolean
stbl_read_samples (ByteReader stbl, guint32 max, GArray *out, const char **error)
{
  ByteReader r;
  guint8 version;
  guint32 count;
  g_autoptr (GArray) samples = g_array_new (FALSE, TRUE, sizeof (StblSample));

  if (!read_sizes (stbl, max, samples, error))
    return FALSE;
  guint32 n = samples->len;
  StblSample *s = (StblSample *) samples->data;
  for (guint32 i = 0; i < n; i++) {
    s[i].info.sync = TRUE;
    s[i].info.description_index = 1;
  }

  /* stts: decode durations (8.6.1.2). */
  if (!open_table (stbl, FOURCC ('s', 't', 't', 's'), 8, &r, &count, &version)) {
    *error = "malformed stts";
    return FALSE;
  }
  for (guint32 e = 0, i = 0; e < count && i < n; e++) {
    guint32 run, delta;
    byte_reader_u32 (&r, &run);
    byte_reader_u32 (&r, &delta);
    for (guint32 k = 0; k < run && i < n; k++)
      s[i++].info.duration = delta;
  }

  /* ctts: composition offsets, signed in version 1 and read so in 0 too. */
  if (box_find_child (stbl, FOURCC ('c', 't', 't', 's'), &r)) {
    if (!table_header (&r, 8, &count, &version)) {
      *error = "malformed ctts";
      return FALSE;
    }
    for (guint32 e = 0, i = 0; e < count && i < n; e++) {
      guint32 run, offset;
      byte_reader_u32 (&r, &run);
      byte_reader_u32 (&r, &offset);
      for (guint32 k = 0; k < run && i < n; k++)
        s[i++].info.composition_offset = (gint32) offset;
    }
  }

  /* stss: when present, only the samples it lists are sync samples. */
  if (box_find_child (stbl, FOURCC ('s', 't', 's', 's'), &r)) {
    if (!table_header (&r, 4, &count, &version)) {
      *error = "malformed stss";
      return FALSE;
    }
    for (guint32 i = 0; i < n; i++)
      s[i].info.sync = FALSE;
    for (guint32 e = 0; e < count; e++) {
      guint32 number;
      byte_reader_u32 (&r, &number);
      if (number >= 1 && number <= n)
        s[number - 1].info.sync = TRUE;
    }
  }

  /* stsc + stco/co64: where each chunk's samples lie (8.7.4, 8.7.5). */
  ByteReader stsc, offsets;
  guint32 n_runs, n_chunks;
  guint8 co_version;
  gboolean co64 = box_find_child (stbl, FOURCC ('c', 'o', '6', '4'), &offsets);
  if (!open_table (stbl, FOURCC ('s', 't', 's', 'c'), 12, &stsc, &n_runs, &version) ||
      (!co64 && !box_find_child (stbl, FOURCC ('s', 't', 'c', 'o'), &offsets)) ||
      !table_header (&offsets, co64 ? 8 : 4, &n_chunks, &co_version)) {
    *error = "malformed stsc, stco or co64";
    return FALSE;
  }
  guint32 i = 0, chunk = 1;
  for (guint32 e = 0; e < n_runs && i < n; e++) {
    guint32 first_chunk, per_chunk, sdi, next_first = n_chunks + 1;
    byte_reader_u32 (&stsc, &first_chunk);
    byte_reader_u32 (&stsc, &per_chunk);
    byte_reader_u32 (&stsc, &sdi);
    if (e + 1 < n_runs) {
      ByteReader peek = stsc;
      byte_reader_u32 (&peek, &next_first);
    }
    if (first_chunk != chunk || next_first <= first_chunk || next_first > n_chunks + 1 || per_chunk == 0) {
      *error = "malformed stsc";
      return FALSE;
    }
    for (; chunk < next_first && i < n; chunk++) {
      guint64 off;
      byte_reader_uint_n (&offsets, co64 ? 8 : 4, &off);
      for (guint32 k = 0; k < per_chunk && i < n; k++, i++) {
        s[i].source_offset = off;
        s[i].info.description_index = sdi;
        if (off > G_MAXUINT64 - s[i].info.size) {
          *error = "sample offset overflows";
          return FALSE;
        }
        off += s[i].info.size;
      }
    }
  }
  if (i < n) {
    *error = "chunks hold fewer samples than stsz lists";
    return FALSE;
  }
  g_array_append_vals (out, samples->data, n);
  return TRUE;
}

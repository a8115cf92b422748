/* bytes.h — bounded byte reader and growable box writer.
 *
 * ByteReader is a cursor over memory it does not own.  Every read is checked
 * against what remains and fails (returns FALSE, cursor unchanged, a number
 * read as 0) instead of reading past the end, so parsers can chain reads and
 * test once.
 * ByteWriter appends big-endian fields to a GByteArray; box_begin/box_end
 * write a box header and back-patch its size when the box is closed.  A hole
 * is a run of bytes the writer counts but does not store (the moov's sample
 * tables, produced when they are read): boxes around it count its length.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const guint8 *data;
  gsize len;
  gsize pos;
} ByteReader;

void byte_reader_init (ByteReader *r, const guint8 *data, gsize len);
static inline gsize byte_reader_remaining (const ByteReader *r) { return r->len - r->pos; }

gboolean byte_reader_skip (ByteReader *r, guint64 n);

/* Reads an unsigned big-endian integer of 1..8 bytes; on failure *out is 0.
 * Inline: the fixed widths below are most of what indexing a fragment costs. */
static inline gboolean
byte_reader_uint_n (ByteReader *r, guint n, guint64 *out)
{
  *out = 0;
  if (n == 0 || n > 8 || n > byte_reader_remaining (r))
    return FALSE;
  guint64 v = 0;
  for (guint i = 0; i < n; i++)
    v = v << 8 | r->data[r->pos + i];
  r->pos += n;
  *out = v;
  return TRUE;
}

#define BYTE_READER_FIXED(name, type, width)                  \
  static inline gboolean name (ByteReader *r, type *out)      \
  {                                                           \
    guint64 v;                                                \
    gboolean ok = byte_reader_uint_n (r, width, &v);          \
    *out = (type) v;                                          \
    return ok;                                                \
  }
BYTE_READER_FIXED (byte_reader_u8, guint8, 1)
BYTE_READER_FIXED (byte_reader_u16, guint16, 2)
BYTE_READER_FIXED (byte_reader_u24, guint32, 3)
BYTE_READER_FIXED (byte_reader_u32, guint32, 4)
BYTE_READER_FIXED (byte_reader_u64, guint64, 8)
#undef BYTE_READER_FIXED
/* Points *out at the next n bytes and advances past them. */
gboolean byte_reader_bytes (ByteReader *r, guint64 n, const guint8 **out);
/* Splits off the next n bytes as a reader of their own and advances past them. */
gboolean byte_reader_sub (ByteReader *r, guint64 n, ByteReader *out);

/* One ISO BMFF box header (ISO/IEC 14496-12 4.2). */
typedef struct {
  guint32 type;
  guint64 size;        /* whole box including header; 0 in the source means "to the end" */
  guint header_size;   /* 8 or 16 */
} BoxHeader;

#define FOURCC(a, b, c, d) \
  ((guint32) (guint8) (a) << 24 | (guint32) (guint8) (b) << 16 | (guint32) (guint8) (c) << 8 | (guint8) (d))

/* Parses a box header at the cursor.  A size of 0 ("extends to end") is
 * resolved to the bytes that remain.  Fails when the header is incomplete or
 * the size is smaller than the header. */
gboolean box_header_read (ByteReader *r, BoxHeader *out);
/* Reads a box header and splits off its body.  Fails if the body is not whole. */
gboolean byte_reader_box (ByteReader *r, BoxHeader *hdr, ByteReader *body);
/* Finds the first child box of the given type among the boxes in parent;
 * FALSE if there is none or a box before it is malformed. */
gboolean box_find_child (ByteReader parent, guint32 type, ByteReader *body);
/* Reads a full box's version and 24-bit flags (4.2). */
gboolean full_box_header_read (ByteReader *r, guint8 *version, guint32 *flags);
/* Formats a fourcc for messages; printable characters only. */
const char *fourcc_str (guint32 fourcc, char buf[8]);

typedef struct {
  gsize at;            /* the hole comes before buf[at] */
  guint64 offset;      /* where it starts in the whole output, holes counted */
  guint64 len;
} ByteHole;

typedef struct {
  GByteArray *buf;
  GArray *holes;       /* ByteHole, in order; NULL until the first */
  guint64 hole_len;    /* bytes in all holes */
} ByteWriter;

void byte_writer_init (ByteWriter *w);
/* Returns the written bytes and leaves the writer empty. */
GBytes *byte_writer_free_to_bytes (ByteWriter *w);
void byte_writer_clear (ByteWriter *w);
static inline gsize byte_writer_len (const ByteWriter *w) { return w->buf->len; }
/* The length of the output, holes included. */
static inline guint64 byte_writer_total_len (const ByteWriter *w) { return w->buf->len + w->hole_len; }
/* Counts len bytes at the current position that the caller produces later. */
void byte_writer_hole (ByteWriter *w, guint64 len);

void byte_writer_u8 (ByteWriter *w, guint8 v);
void byte_writer_u16 (ByteWriter *w, guint16 v);
void byte_writer_u24 (ByteWriter *w, guint32 v);
void byte_writer_u32 (ByteWriter *w, guint32 v);
void byte_writer_u64 (ByteWriter *w, guint64 v);
void byte_writer_bytes (ByteWriter *w, const void *data, gsize len);
void byte_writer_zeros (ByteWriter *w, gsize len);
void byte_writer_put_u32_at (ByteWriter *w, gsize pos, guint32 v);
void byte_writer_put_u64_at (ByteWriter *w, gsize pos, guint64 v);

/* Opens a box and returns its start for box_end(). */
gsize box_begin (ByteWriter *w, guint32 type);
/* Opens a full box (version and 24-bit flags). */
gsize box_begin_full (ByteWriter *w, guint32 type, guint8 version, guint32 flags);
/* Closes the box opened at start by patching its 32-bit size, holes inside
 * it included.  FALSE (size left 0) if the box reached 4 GiB. */
gboolean box_end (ByteWriter *w, gsize start);

G_END_DECLS

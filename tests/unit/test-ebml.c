/* test-ebml.c — EBML varints, IDs, sizes and Matroska block lacing, whole and cut short. */
#include <string.h>

#include "muxer/ebml.h"

static ByteReader
reader (const guint8 *data, gsize len)
{
  ByteReader r;
  byte_reader_init (&r, data, len);
  return r;
}

/* Every length 1..8 decodes, and one byte fewer asks for more without moving. */
static void
test_varint_lengths_and_truncation (void)
{
  static const struct { guint8 bytes[8]; guint len; guint64 value; } cases[] = {
    { { 0x81 }, 1, 1 },
    { { 0x40, 0x02 }, 2, 2 },
    { { 0x20, 0x00, 0x03 }, 3, 3 },
    { { 0x10, 0x00, 0x00, 0x04 }, 4, 4 },
    { { 0x0a, 0x00, 0x00, 0x00, 0x05 }, 5, (G_GUINT64_CONSTANT (2) << 32) | 5 },
    { { 0x04, 0, 0, 0, 0, 0x06 }, 6, 6 },
    { { 0x02, 0, 0, 0, 0, 0, 0x07 }, 7, 7 },
    { { 0x01, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde }, 8, G_GUINT64_CONSTANT (0x123456789abcde) },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    ByteReader r = reader (cases[i].bytes, cases[i].len);
    guint64 v;
    guint len;
    g_assert_cmpint (ebml_read_varint (&r, &v, &len), ==, EBML_OK);
    g_assert_cmpuint (v, ==, cases[i].value);
    g_assert_cmpuint (len, ==, cases[i].len);
    g_assert_cmpuint (r.pos, ==, cases[i].len);
    for (guint cut = 0; cut < cases[i].len; cut++) {
      ByteReader s = reader (cases[i].bytes, cut);
      g_assert_cmpint (ebml_read_varint (&s, &v, &len), ==, EBML_NEED_MORE);
      g_assert_cmpuint (s.pos, ==, 0);
    }
  }
}

static void
test_varint_zero_first_byte_is_invalid (void)
{
  static const guint8 bytes[] = { 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0 };
  ByteReader r = reader (bytes, sizeof bytes);
  guint64 v;
  g_assert_cmpint (ebml_read_varint (&r, &v, NULL), ==, EBML_INVALID);
  g_assert_cmpuint (r.pos, ==, 0);
}

static void
test_id_keeps_marker (void)
{
  static const guint8 segment[] = { 0x18, 0x53, 0x80, 0x67 };
  static const guint8 simple_block[] = { 0xa3 };
  guint32 id;
  ByteReader r = reader (segment, sizeof segment);
  g_assert_cmpint (ebml_read_id (&r, &id), ==, EBML_OK);
  g_assert_cmphex (id, ==, 0x18538067);
  r = reader (simple_block, 1);
  g_assert_cmpint (ebml_read_id (&r, &id), ==, EBML_OK);
  g_assert_cmphex (id, ==, 0xa3);
  for (guint cut = 0; cut < sizeof segment; cut++) {
    r = reader (segment, cut);
    g_assert_cmpint (ebml_read_id (&r, &id), ==, EBML_NEED_MORE);
  }
}

static void
test_id_rejects_reserved_and_long (void)
{
  static const guint8 all_ones[] = { 0xff };
  static const guint8 all_zero[] = { 0x40, 0x00 };
  static const guint8 five_bytes[] = { 0x08, 0x01, 0x02, 0x03, 0x04 };
  guint32 id;
  ByteReader r = reader (all_ones, 1);
  g_assert_cmpint (ebml_read_id (&r, &id), ==, EBML_INVALID);
  r = reader (all_zero, 2);
  g_assert_cmpint (ebml_read_id (&r, &id), ==, EBML_INVALID);
  r = reader (five_bytes, 5);
  g_assert_cmpint (ebml_read_id (&r, &id), ==, EBML_INVALID);
}

/* All-ones sizes of every length are "unknown"; one less is a plain size. */
static void
test_size_unknown_every_length (void)
{
  for (guint len = 1; len <= 8; len++) {
    guint8 bytes[8];
    bytes[0] = (guint8) (0xff >> (len - 1));
    memset (bytes + 1, 0xff, len - 1);
    guint64 size;
    ByteReader r = reader (bytes, len);
    g_assert_cmpint (ebml_read_size (&r, &size), ==, EBML_OK);
    g_assert_cmpuint (size, ==, EBML_UNKNOWN_SIZE);
    bytes[len - 1] &= 0xfe;
    r = reader (bytes, len);
    g_assert_cmpint (ebml_read_size (&r, &size), ==, EBML_OK);
    g_assert_cmpuint (size, ==, (G_GUINT64_CONSTANT (1) << (7 * len)) - 2);
  }
}

static void
test_header_of_live_cluster (void)
{
  static const guint8 bytes[] = { 0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  EbmlHeader h;
  ByteReader r = reader (bytes, sizeof bytes);
  g_assert_cmpint (ebml_read_header (&r, &h), ==, EBML_OK);
  g_assert_cmphex (h.id, ==, 0x1f43b675);
  g_assert_cmpuint (h.size, ==, EBML_UNKNOWN_SIZE);
  g_assert_cmpuint (h.header_len, ==, 12);
  for (guint cut = 0; cut < sizeof bytes; cut++) {
    r = reader (bytes, cut);
    g_assert_cmpint (ebml_read_header (&r, &h), ==, EBML_NEED_MORE);
    g_assert_cmpuint (r.pos, ==, 0);
  }
}

static void
test_child_overrunning_parent_is_malformed (void)
{
  /* TrackNumber (0xd7) of size 1, then one claiming 5 bytes with 2 left. */
  static const guint8 bytes[] = { 0xd7, 0x81, 0x01, 0xd7, 0x85, 0x01, 0x02 };
  ByteReader parent = reader (bytes, sizeof bytes), body;
  EbmlHeader h;
  gboolean malformed;
  guint64 v;
  g_assert_true (ebml_next_child (&parent, &h, &body, &malformed));
  g_assert_true (ebml_uint (body, &v));
  g_assert_cmpuint (v, ==, 1);
  g_assert_false (ebml_next_child (&parent, &h, &body, &malformed));
  g_assert_true (malformed);
  parent = reader (bytes, 3);
  g_assert_true (ebml_next_child (&parent, &h, &body, &malformed));
  g_assert_false (ebml_next_child (&parent, &h, &body, &malformed));
  g_assert_false (malformed);
}

static void
test_values (void)
{
  static const guint8 u[] = { 0x0f, 0x42, 0x40 };
  static const guint8 s[] = { 0xff, 0xfe };
  static const guint8 f4[] = { 0x47, 0x3b, 0x80, 0x00 };            /* 48000.0f */
  static const guint8 f8[] = { 0x40, 0xe5, 0x88, 0x80, 0, 0, 0, 0 }; /* 44100.0 */
  static const guint8 str[] = { 'w', 'e', 'b', 'm', 0, 'x' };
  guint64 uv;
  gint64 sv;
  double d;
  g_assert_true (ebml_uint (reader (u, 3), &uv));
  g_assert_cmpuint (uv, ==, 1000000);
  g_assert_true (ebml_uint (reader (u, 0), &uv));
  g_assert_cmpuint (uv, ==, 0);
  g_assert_true (ebml_sint (reader (s, 2), &sv));
  g_assert_cmpint (sv, ==, -2);
  g_assert_true (ebml_float (reader (f4, 4), &d));
  g_assert_cmpfloat (d, ==, 48000.0);
  g_assert_true (ebml_float (reader (f8, 8), &d));
  g_assert_cmpfloat (d, ==, 44100.0);
  g_assert_false (ebml_float (reader (f8, 3), &d));
  g_autofree char *text = ebml_string (reader (str, sizeof str));
  g_assert_cmpstr (text, ==, "webm");
}

/* ---- blocks ---- */

static void
test_block_unlaced (void)
{
  static const guint8 block[] = { 0x82, 0xff, 0xfe, 0x80, 1, 2, 3, 4, 5 };
  MatroskaBlock b;
  g_assert_cmpint (matroska_block_parse (reader (block, sizeof block), sizeof block, &b), ==, EBML_OK);
  g_assert_cmpuint (b.track, ==, 2);
  g_assert_cmpint (b.timestamp, ==, -2);
  g_assert_cmphex (b.flags, ==, 0x80);
  g_assert_cmpuint (b.n_frames, ==, 1);
  g_assert_cmpuint (b.header_len, ==, 4);
  g_assert_cmpuint (b.frame_sizes[0], ==, 5);
  /* Only the header needs to be there. */
  g_assert_cmpint (matroska_block_parse (reader (block, 4), sizeof block, &b), ==, EBML_OK);
  g_assert_cmpint (matroska_block_parse (reader (block, 3), sizeof block, &b), ==, EBML_NEED_MORE);
  /* A block too short for its own header is malformed. */
  g_assert_cmpint (matroska_block_parse (reader (block, 3), 3, &b), ==, EBML_INVALID);
}

static void
test_block_xiph_lacing (void)
{
  /* Three frames of 300, 10 and 5 bytes: 300 = 255 + 45. */
  guint8 block[8 + 315] = { 0x81, 0x00, 0x10, 0x02, 0x02, 0xff, 45, 10 };
  MatroskaBlock b;
  g_assert_cmpint (matroska_block_parse (reader (block, sizeof block), sizeof block, &b), ==, EBML_OK);
  g_assert_cmpuint (b.n_frames, ==, 3);
  g_assert_cmpuint (b.header_len, ==, 8);
  g_assert_cmpuint (b.frame_sizes[0], ==, 300);
  g_assert_cmpuint (b.frame_sizes[1], ==, 10);
  g_assert_cmpuint (b.frame_sizes[2], ==, 5);
  g_assert_cmpint (b.timestamp, ==, 16);
  for (guint cut = 0; cut < 8; cut++)
    g_assert_cmpint (matroska_block_parse (reader (block, cut), sizeof block, &b), ==, EBML_NEED_MORE);
  /* Laced sizes beyond the block are malformed. */
  g_assert_cmpint (matroska_block_parse (reader (block, sizeof block), 200, &b), ==, EBML_INVALID);
}

static void
test_block_ebml_lacing (void)
{
  /* 300 as a 2-byte varint; then 10 - 300 = -290 as a signed 2-byte
   * difference (-290 + 8191 = 7901 = 0x1edd); the last frame takes the rest. */
  guint8 block[9 + 315] = { 0x81, 0x00, 0x00, 0x06, 0x02, 0x41, 0x2c, 0x5e, 0xdd };
  MatroskaBlock b;
  g_assert_cmpint (matroska_block_parse (reader (block, sizeof block), sizeof block, &b), ==, EBML_OK);
  g_assert_cmpuint (b.n_frames, ==, 3);
  g_assert_cmpuint (b.header_len, ==, 9);
  g_assert_cmpuint (b.frame_sizes[0], ==, 300);
  g_assert_cmpuint (b.frame_sizes[1], ==, 10);
  g_assert_cmpuint (b.frame_sizes[2], ==, 5);
  for (guint cut = 0; cut < 9; cut++)
    g_assert_cmpint (matroska_block_parse (reader (block, cut), sizeof block, &b), ==, EBML_NEED_MORE);
  /* A difference making a size negative is malformed: 10 - 300 - 300. */
  guint8 bad[] = { 0x81, 0x00, 0x00, 0x06, 0x02, 0x41, 0x2c, 0x5e, 0xdd, 0x5e, 0xdd, 0, 0 };
  bad[4] = 0x03;
  g_assert_cmpint (matroska_block_parse (reader (bad, sizeof bad), sizeof bad, &b), ==, EBML_INVALID);
}

static void
test_block_fixed_lacing (void)
{
  guint8 block[5 + 4 * 7] = { 0x81, 0x00, 0x00, 0x84, 0x03 };
  MatroskaBlock b;
  g_assert_cmpint (matroska_block_parse (reader (block, sizeof block), sizeof block, &b), ==, EBML_OK);
  g_assert_cmpuint (b.n_frames, ==, 4);
  g_assert_cmpuint (b.header_len, ==, 5);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpuint (b.frame_sizes[i], ==, 7);
  /* Frames that do not divide the payload evenly are malformed. */
  g_assert_cmpint (matroska_block_parse (reader (block, sizeof block - 1), sizeof block - 1, &b), ==, EBML_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ebml/varint/lengths-and-truncation", test_varint_lengths_and_truncation);
  g_test_add_func ("/ebml/varint/zero-first-byte", test_varint_zero_first_byte_is_invalid);
  g_test_add_func ("/ebml/id/keeps-marker", test_id_keeps_marker);
  g_test_add_func ("/ebml/id/reserved-and-long", test_id_rejects_reserved_and_long);
  g_test_add_func ("/ebml/size/unknown-every-length", test_size_unknown_every_length);
  g_test_add_func ("/ebml/header/live-cluster", test_header_of_live_cluster);
  g_test_add_func ("/ebml/child/overruns-parent", test_child_overrunning_parent_is_malformed);
  g_test_add_func ("/ebml/values", test_values);
  g_test_add_func ("/ebml/block/unlaced", test_block_unlaced);
  g_test_add_func ("/ebml/block/xiph-lacing", test_block_xiph_lacing);
  g_test_add_func ("/ebml/block/ebml-lacing", test_block_ebml_lacing);
  g_test_add_func ("/ebml/block/fixed-lacing", test_block_fixed_lacing);
  return g_test_run ();
}

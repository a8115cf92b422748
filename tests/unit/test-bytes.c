/* test-bytes.c — the bounded reader never reads past its end; the writer back-patches box sizes. */
#include <string.h>

#include "muxer/bytes.h"

static const guint8 seq[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09 };

/* Every fixed-width read succeeds with exactly its width left and fails,
 * leaving the cursor where it was and the value 0, with any fewer. */
static void
test_reader_fixed_width_bounds (void)
{
  for (guint width = 1; width <= 8; width++) {
    for (gsize avail = 0; avail <= width; avail++) {
      ByteReader r;
      byte_reader_init (&r, seq, sizeof seq);
      g_assert_true (byte_reader_skip (&r, sizeof seq - avail));
      gsize before = r.pos;
      guint64 v = 0xdeadbeef;
      gboolean ok;
      switch (width) {
      case 1: { guint8 x = 0xaa; ok = byte_reader_u8 (&r, &x); if (ok) v = x; else g_assert_cmpuint (x, ==, 0); break; }
      case 2: { guint16 x = 0xaaaa; ok = byte_reader_u16 (&r, &x); if (ok) v = x; else g_assert_cmpuint (x, ==, 0); break; }
      case 3: { guint32 x = 0xaaaa; ok = byte_reader_u24 (&r, &x); if (ok) v = x; else g_assert_cmpuint (x, ==, 0); break; }
      case 4: { guint32 x = 0xaaaa; ok = byte_reader_u32 (&r, &x); if (ok) v = x; else g_assert_cmpuint (x, ==, 0); break; }
      case 8: ok = byte_reader_u64 (&r, &v); break;
      default: ok = byte_reader_uint_n (&r, width, &v); break;
      }
      if (avail < width) {
        g_assert_false (ok);
        g_assert_cmpuint (r.pos, ==, before);
        g_assert_cmpuint (v, ==, width > 4 ? 0 : 0xdeadbeef);
      } else {
        g_assert_true (ok);
        g_assert_cmpuint (r.pos, ==, sizeof seq);
        guint64 expect = 0;
        for (gsize i = sizeof seq - avail; i < sizeof seq; i++)
          expect = expect << 8 | seq[i];
        g_assert_cmpuint (v, ==, expect);
      }
    }
  }
}

static void
test_reader_uint_n_any_width_big_endian (void)
{
  for (guint n = 1; n <= 8; n++) {
    ByteReader r;
    byte_reader_init (&r, seq, sizeof seq);
    guint64 v;
    g_assert_true (byte_reader_uint_n (&r, n, &v));
    guint64 expect = 0;
    for (guint i = 0; i < n; i++)
      expect = expect << 8 | seq[i];
    g_assert_cmpuint (v, ==, expect);
    g_assert_cmpuint (r.pos, ==, n);
  }
}

static void
test_reader_uint_n_rejects_widths_0_and_9 (void)
{
  ByteReader r;
  byte_reader_init (&r, seq, sizeof seq);
  guint64 v = 7;
  g_assert_false (byte_reader_uint_n (&r, 0, &v));
  g_assert_false (byte_reader_uint_n (&r, 9, &v));
  g_assert_cmpuint (v, ==, 0);
  g_assert_cmpuint (r.pos, ==, 0);
}

static void
test_reader_skip_bounds (void)
{
  ByteReader r;
  byte_reader_init (&r, seq, sizeof seq);
  g_assert_false (byte_reader_skip (&r, sizeof seq + 1));
  g_assert_false (byte_reader_skip (&r, G_MAXUINT64));
  g_assert_cmpuint (r.pos, ==, 0);
  g_assert_true (byte_reader_skip (&r, 4));
  g_assert_false (byte_reader_skip (&r, sizeof seq - 3));
  g_assert_cmpuint (r.pos, ==, 4);
  g_assert_true (byte_reader_skip (&r, sizeof seq - 4));
  g_assert_cmpuint (byte_reader_remaining (&r), ==, 0);
  g_assert_true (byte_reader_skip (&r, 0));
  g_assert_false (byte_reader_skip (&r, 1));
}

static void
test_reader_bytes_bounds (void)
{
  ByteReader r;
  const guint8 *p = NULL;
  byte_reader_init (&r, seq, sizeof seq);
  g_assert_true (byte_reader_skip (&r, 2));
  g_assert_false (byte_reader_bytes (&r, sizeof seq - 1, &p));
  g_assert_false (byte_reader_bytes (&r, G_MAXUINT64, &p));
  g_assert_null (p);
  g_assert_cmpuint (r.pos, ==, 2);
  g_assert_true (byte_reader_bytes (&r, 3, &p));
  g_assert_true (p == seq + 2);
  g_assert_cmpuint (r.pos, ==, 5);
}

static void
test_reader_sub_is_independent (void)
{
  ByteReader r, sub;
  byte_reader_init (&r, seq, sizeof seq);
  g_assert_true (byte_reader_skip (&r, 1));
  g_assert_true (byte_reader_sub (&r, 3, &sub));
  g_assert_cmpuint (r.pos, ==, 4);
  g_assert_cmpuint (byte_reader_remaining (&sub), ==, 3);
  guint32 v;
  g_assert_false (byte_reader_u32 (&sub, &v));   /* bounded by its own length, not the parent's */
  g_assert_true (byte_reader_u24 (&sub, &v));
  g_assert_cmphex (v, ==, 0x020304);
  g_assert_false (byte_reader_sub (&r, 6, &sub));
  g_assert_cmpuint (r.pos, ==, 4);
}

static void
test_reader_null_data_is_empty (void)
{
  ByteReader r;
  guint8 v;
  byte_reader_init (&r, NULL, 100);
  g_assert_cmpuint (byte_reader_remaining (&r), ==, 0);
  g_assert_false (byte_reader_u8 (&r, &v));
}

/* ---- box headers --------------------------------------------------------- */

static void
test_box_header_compact (void)
{
  const guint8 box[] = { 0, 0, 0, 12, 'f', 'r', 'e', 'e', 1, 2, 3, 4 };
  ByteReader r;
  BoxHeader h;
  byte_reader_init (&r, box, sizeof box);
  g_assert_true (box_header_read (&r, &h));
  g_assert_cmphex (h.type, ==, FOURCC ('f', 'r', 'e', 'e'));
  g_assert_cmpuint (h.size, ==, 12);
  g_assert_cmpuint (h.header_size, ==, 8);
  g_assert_cmpuint (r.pos, ==, 8);
}

static void
test_box_header_largesize (void)
{
  const guint8 box[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 1, 0, 0, 0, 0x20, 9, 9 };
  ByteReader r;
  BoxHeader h;
  byte_reader_init (&r, box, sizeof box);
  g_assert_true (box_header_read (&r, &h));
  g_assert_cmphex (h.type, ==, FOURCC ('m', 'd', 'a', 't'));
  g_assert_cmpuint (h.size, ==, G_GUINT64_CONSTANT (0x100000020));
  g_assert_cmpuint (h.header_size, ==, 16);
  g_assert_cmpuint (r.pos, ==, 16);
}

static void
test_box_header_largesize_near_2_64 (void)
{
  const guint8 box[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  ByteReader r;
  BoxHeader h;
  ByteReader body;
  byte_reader_init (&r, box, sizeof box);
  g_assert_true (box_header_read (&r, &h));
  g_assert_cmpuint (h.size, ==, G_MAXUINT64);
  /* ... but its body is never handed out. */
  byte_reader_init (&r, box, sizeof box);
  g_assert_false (byte_reader_box (&r, &h, &body));
  g_assert_cmpuint (r.pos, ==, 0);
}

static void
test_box_header_incomplete_largesize_fails (void)
{
  const guint8 box[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 0x20 };
  for (gsize len = 0; len < sizeof box; len++) {
    ByteReader r;
    BoxHeader h;
    byte_reader_init (&r, box, len);
    g_assert_false (box_header_read (&r, &h));
    g_assert_cmpuint (r.pos, ==, 0);
  }
}

static void
test_box_header_size_zero_extends_to_end (void)
{
  guint8 buf[40] = { 0xee, 0xee, 0, 0, 0, 0, 'm', 'd', 'a', 't' };
  ByteReader r;
  BoxHeader h;
  byte_reader_init (&r, buf, sizeof buf);
  g_assert_true (byte_reader_skip (&r, 2));
  g_assert_true (box_header_read (&r, &h));
  g_assert_cmpuint (h.size, ==, sizeof buf - 2);   /* header included */
  g_assert_cmpuint (h.header_size, ==, 8);
  ByteReader body;
  byte_reader_init (&r, buf, sizeof buf);
  g_assert_true (byte_reader_skip (&r, 2));
  g_assert_true (byte_reader_box (&r, &h, &body));
  g_assert_cmpuint (byte_reader_remaining (&body), ==, sizeof buf - 10);
  g_assert_cmpuint (byte_reader_remaining (&r), ==, 0);
}

static void
test_box_header_size_below_header_fails (void)
{
  for (guint32 size = 2; size < 8; size++) {
    guint8 box[16] = { 0, 0, 0, (guint8) size, 'a', 'b', 'c', 'd' };
    ByteReader r;
    BoxHeader h;
    byte_reader_init (&r, box, sizeof box);
    g_assert_false (box_header_read (&r, &h));
    g_assert_cmpuint (r.pos, ==, 0);
  }
  for (guint64 size = 0; size < 16; size++) {
    guint8 box[24] = { 0, 0, 0, 1, 'a', 'b', 'c', 'd', 0, 0, 0, 0, 0, 0, 0, (guint8) size };
    ByteReader r;
    BoxHeader h;
    byte_reader_init (&r, box, sizeof box);
    g_assert_false (box_header_read (&r, &h));
    g_assert_cmpuint (r.pos, ==, 0);
  }
}

static void
test_box_header_incomplete_fails (void)
{
  const guint8 box[] = { 0, 0, 0, 8, 'f', 'r', 'e', 'e' };
  for (gsize len = 0; len < sizeof box; len++) {
    ByteReader r;
    BoxHeader h;
    byte_reader_init (&r, box, len);
    g_assert_false (box_header_read (&r, &h));
    g_assert_cmpuint (r.pos, ==, 0);
  }
}

static void
test_box_body_incomplete_fails (void)
{
  const guint8 box[] = { 0, 0, 0, 12, 'f', 'r', 'e', 'e', 1, 2, 3, 4 };
  for (gsize len = 8; len < sizeof box; len++) {
    ByteReader r, body;
    BoxHeader h;
    byte_reader_init (&r, box, len);
    g_assert_false (byte_reader_box (&r, &h, &body));
    g_assert_cmpuint (r.pos, ==, 0);
  }
}

static void
test_box_children_iterate (void)
{
  const guint8 buf[] = { 0, 0, 0, 8, 'a', 'a', 'a', 'a',
                         0, 0, 0, 10, 'b', 'b', 'b', 'b', 7, 7,
                         0, 0, 0, 1, 'c', 'c', 'c', 'c', 0, 0, 0, 0, 0, 0, 0, 17, 9 };
  const guint32 types[] = { FOURCC ('a', 'a', 'a', 'a'), FOURCC ('b', 'b', 'b', 'b'), FOURCC ('c', 'c', 'c', 'c') };
  const gsize bodies[] = { 0, 2, 1 };
  ByteReader r, body;
  BoxHeader h;
  byte_reader_init (&r, buf, sizeof buf);
  for (int i = 0; i < 3; i++) {
    g_assert_true (byte_reader_box (&r, &h, &body));
    g_assert_cmphex (h.type, ==, types[i]);
    g_assert_cmpuint (byte_reader_remaining (&body), ==, bodies[i]);
  }
  g_assert_cmpuint (byte_reader_remaining (&r), ==, 0);
}

static void
test_fourcc_str_masks_unprintable (void)
{
  char buf[8];
  g_assert_cmpstr (fourcc_str (FOURCC ('m', 'o', 'o', 'v'), buf), ==, "moov");
  g_assert_cmpstr (fourcc_str (FOURCC ('a', 0, '\n', 0xff), buf), ==, "a???");
}

/* ---- writer -------------------------------------------------------------- */

static void
test_writer_fields_big_endian (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_u8 (&w, 0x01);
  byte_writer_u16 (&w, 0x0203);
  byte_writer_u24 (&w, 0x040506);
  byte_writer_u32 (&w, 0x0708090a);
  byte_writer_u64 (&w, G_GUINT64_CONSTANT (0x0b0c0d0e0f101112));
  byte_writer_bytes (&w, "xy", 2);
  byte_writer_bytes (&w, NULL, 0);
  byte_writer_zeros (&w, 3);
  const guint8 expect[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 'x', 'y', 0, 0, 0 };
  g_assert_cmpuint (byte_writer_len (&w), ==, sizeof expect);
  g_autoptr (GBytes) b = byte_writer_free_to_bytes (&w);
  g_assert_null (w.buf);
  gsize len;
  const guint8 *data = g_bytes_get_data (b, &len);
  g_assert_cmpmem (data, len, expect, sizeof expect);
}

static void
test_writer_put_at_patches_in_place (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_zeros (&w, 16);
  byte_writer_put_u32_at (&w, 2, 0xa1b2c3d4);
  byte_writer_put_u64_at (&w, 8, G_GUINT64_CONSTANT (0x0102030405060708));
  const guint8 expect[] = { 0, 0, 0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
  g_assert_cmpmem (w.buf->data, w.buf->len, expect, sizeof expect);
  byte_writer_clear (&w);
  g_assert_null (w.buf);
  byte_writer_clear (&w);   /* twice is harmless */
}

static void
test_writer_put_at_past_end_is_refused (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_zeros (&w, 6);
  g_test_expect_message ("livemp4", G_LOG_LEVEL_CRITICAL, "*assertion*");
  byte_writer_put_u32_at (&w, 3, 0xffffffff);
  g_test_assert_expected_messages ();
  g_test_expect_message ("livemp4", G_LOG_LEVEL_CRITICAL, "*assertion*");
  byte_writer_put_u64_at (&w, 0, G_MAXUINT64);
  g_test_assert_expected_messages ();
  const guint8 zeros[6] = { 0 };
  g_assert_cmpmem (w.buf->data, w.buf->len, zeros, sizeof zeros);
  byte_writer_clear (&w);
}

static void
test_writer_box_back_patches_size (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_u8 (&w, 0x55);   /* the box need not start at 0 */
  gsize box = box_begin (&w, FOURCC ('f', 'r', 'e', 'e'));
  g_assert_cmpuint (box, ==, 1);
  byte_writer_zeros (&w, 5);
  box_end (&w, box);
  const guint8 expect[] = { 0x55, 0, 0, 0, 13, 'f', 'r', 'e', 'e', 0, 0, 0, 0, 0 };
  g_assert_cmpmem (w.buf->data, w.buf->len, expect, sizeof expect);
  byte_writer_clear (&w);
}

static void
test_writer_full_box_header (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  box_end (&w, box_begin_full (&w, FOURCC ('m', 'v', 'h', 'd'), 1, 0x123456));
  const guint8 expect[] = { 0, 0, 0, 12, 'm', 'v', 'h', 'd', 1, 0x12, 0x34, 0x56 };
  g_assert_cmpmem (w.buf->data, w.buf->len, expect, sizeof expect);
  byte_writer_clear (&w);
}

static void
test_writer_nested_boxes_read_back (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  gsize outer = box_begin (&w, FOURCC ('m', 'o', 'o', 'v'));
  gsize a = box_begin (&w, FOURCC ('t', 'r', 'a', 'k'));
  gsize inner = box_begin_full (&w, FOURCC ('t', 'k', 'h', 'd'), 0, 3);
  byte_writer_u32 (&w, 42);
  box_end (&w, inner);
  box_end (&w, a);
  gsize b = box_begin (&w, FOURCC ('u', 'd', 't', 'a'));
  byte_writer_zeros (&w, 3);
  box_end (&w, b);
  box_end (&w, outer);
  g_assert_cmpuint (w.buf->len, ==, 8 + (8 + 16) + 11);

  ByteReader r, moov, trak, tkhd, udta;
  BoxHeader h;
  byte_reader_init (&r, w.buf->data, w.buf->len);
  g_assert_true (byte_reader_box (&r, &h, &moov));
  g_assert_cmphex (h.type, ==, FOURCC ('m', 'o', 'o', 'v'));
  g_assert_cmpuint (h.size, ==, w.buf->len);
  g_assert_true (byte_reader_box (&moov, &h, &trak));
  g_assert_cmpuint (h.size, ==, 24);
  g_assert_true (byte_reader_box (&trak, &h, &tkhd));
  g_assert_cmphex (h.type, ==, FOURCC ('t', 'k', 'h', 'd'));
  g_assert_cmpuint (h.size, ==, 16);
  guint32 vflags, v;
  g_assert_true (byte_reader_u32 (&tkhd, &vflags) && byte_reader_u32 (&tkhd, &v));
  g_assert_cmphex (vflags, ==, 3);
  g_assert_cmpuint (v, ==, 42);
  g_assert_true (byte_reader_box (&moov, &h, &udta));
  g_assert_cmphex (h.type, ==, FOURCC ('u', 'd', 't', 'a'));
  g_assert_cmpuint (byte_reader_remaining (&udta), ==, 3);
  g_assert_cmpuint (byte_reader_remaining (&moov), ==, 0);
  g_assert_cmpuint (byte_reader_remaining (&r), ==, 0);
  byte_writer_clear (&w);
}

/* A hole is counted by every box around it, and the bytes after it are
 * stored where they would be without it. */
static void
test_writer_holes_count_in_boxes (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  gsize outer = box_begin (&w, FOURCC ('o', 'u', 't', 'r'));
  gsize a = box_begin (&w, FOURCC ('a', 'a', 'a', 'a'));
  byte_writer_u32 (&w, 7);
  byte_writer_hole (&w, 100);
  byte_writer_u8 (&w, 9);
  g_assert_true (box_end (&w, a));
  gsize b = box_begin (&w, FOURCC ('b', 'b', 'b', 'b'));
  byte_writer_hole (&w, 0);   /* nothing: no hole */
  g_assert_true (box_end (&w, b));
  g_assert_true (box_end (&w, outer));
  byte_writer_hole (&w, 5);   /* after every box: counted by none */

  g_assert_cmpuint (byte_writer_len (&w), ==, 8 + 8 + 4 + 1 + 8);
  g_assert_cmpuint (byte_writer_total_len (&w), ==, 8 + 8 + 4 + 100 + 1 + 8 + 5);
  g_assert_cmpuint (w.holes->len, ==, 2);
  ByteHole *h = &g_array_index (w.holes, ByteHole, 0);
  g_assert_cmpuint (h->at, ==, 20);
  g_assert_cmpuint (h->offset, ==, 20);
  g_assert_cmpuint (h->len, ==, 100);
  h = &g_array_index (w.holes, ByteHole, 1);
  g_assert_cmpuint (h->at, ==, 29);
  g_assert_cmpuint (h->offset, ==, 129);

  ByteReader r;
  guint32 size;
  byte_reader_init (&r, w.buf->data, w.buf->len);
  g_assert_true (byte_reader_u32 (&r, &size));
  g_assert_cmpuint (size, ==, 8 + 8 + 4 + 100 + 1 + 8);
  g_assert_true (byte_reader_skip (&r, 4) && byte_reader_u32 (&r, &size));
  g_assert_cmpuint (size, ==, 8 + 4 + 100 + 1);
  g_assert_true (byte_reader_skip (&r, 4 + 4 + 1) && byte_reader_u32 (&r, &size));
  g_assert_cmpuint (size, ==, 8);
  byte_writer_clear (&w);
  g_assert_null (w.holes);
}

/* A box that the holes in it take to 4 GiB cannot be written: box_end says
 * so and leaves the size field as box_begin wrote it (0). */
static void
test_writer_box_of_4_gib_is_refused (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  gsize fits = box_begin (&w, FOURCC ('f', 'i', 't', 's'));
  byte_writer_hole (&w, G_MAXUINT32 - 8);
  g_assert_true (box_end (&w, fits));
  g_assert_cmpmem (w.buf->data, 4, "\xff\xff\xff\xff", 4);

  gsize moov = box_begin (&w, FOURCC ('m', 'o', 'o', 'v'));
  byte_writer_hole (&w, G_MAXUINT32 - 7);
  g_assert_false (box_end (&w, moov));
  g_assert_cmpmem (w.buf->data + moov, 4, "\0\0\0\0", 4);
  byte_writer_clear (&w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bytes/reader/fixed-width-bounds", test_reader_fixed_width_bounds);
  g_test_add_func ("/bytes/reader/uint-n-big-endian", test_reader_uint_n_any_width_big_endian);
  g_test_add_func ("/bytes/reader/uint-n-rejects-0-and-9", test_reader_uint_n_rejects_widths_0_and_9);
  g_test_add_func ("/bytes/reader/skip-bounds", test_reader_skip_bounds);
  g_test_add_func ("/bytes/reader/bytes-bounds", test_reader_bytes_bounds);
  g_test_add_func ("/bytes/reader/sub-is-independent", test_reader_sub_is_independent);
  g_test_add_func ("/bytes/reader/null-data-is-empty", test_reader_null_data_is_empty);
  g_test_add_func ("/bytes/box/compact", test_box_header_compact);
  g_test_add_func ("/bytes/box/largesize", test_box_header_largesize);
  g_test_add_func ("/bytes/box/largesize-near-2^64", test_box_header_largesize_near_2_64);
  g_test_add_func ("/bytes/box/incomplete-largesize", test_box_header_incomplete_largesize_fails);
  g_test_add_func ("/bytes/box/size-zero-to-end", test_box_header_size_zero_extends_to_end);
  g_test_add_func ("/bytes/box/size-below-header", test_box_header_size_below_header_fails);
  g_test_add_func ("/bytes/box/incomplete-header", test_box_header_incomplete_fails);
  g_test_add_func ("/bytes/box/incomplete-body", test_box_body_incomplete_fails);
  g_test_add_func ("/bytes/box/children-iterate", test_box_children_iterate);
  g_test_add_func ("/bytes/fourcc-str", test_fourcc_str_masks_unprintable);
  g_test_add_func ("/bytes/writer/big-endian", test_writer_fields_big_endian);
  g_test_add_func ("/bytes/writer/put-at", test_writer_put_at_patches_in_place);
  g_test_add_func ("/bytes/writer/put-at-past-end", test_writer_put_at_past_end_is_refused);
  g_test_add_func ("/bytes/writer/box-back-patch", test_writer_box_back_patches_size);
  g_test_add_func ("/bytes/writer/full-box", test_writer_full_box_header);
  g_test_add_func ("/bytes/writer/nested-boxes", test_writer_nested_boxes_read_back);
  g_test_add_func ("/bytes/writer/holes", test_writer_holes_count_in_boxes);
  g_test_add_func ("/bytes/writer/box-of-4-gib", test_writer_box_of_4_gib_is_refused);
  return g_test_run ();
}

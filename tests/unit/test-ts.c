/* test-ts.c — the MPEG-TS indexer: packets, Annex B rewriting, timing,
 * damage, and the gathering read, on streams built here packet by packet. */
#include <string.h>

#include "muxer/layout.h"
#include "muxer/ts.h"
#include "muxer/ts_locator.h"
#include "muxer/ts_nal.h"
#include "muxer/ts_packet.h"

/* ---- a small TS writer ------------------------------------------------------ */

typedef struct {
  GByteArray *out;
  guint stride;          /* 188, 192 (a timecode before) or 204 (parity bytes after) */
  guint8 cc[8192];
  guint16 scrambled_pid; /* packets of this PID are marked scrambled (0: none) */
} Mux;

static void
mux_init (Mux *m, guint stride)
{
  memset (m, 0, sizeof *m);
  m->out = g_byte_array_new ();
  m->stride = stride;
}

/* One packet: payload (at most 184 bytes), stuffed with an adaptation field. */
static void
mux_packet (Mux *m, guint16 pid, gboolean pusi, const guint8 *payload, gsize len, gboolean bump_cc)
{
  guint8 p[204] = { 0 };
  guint8 *q = p;
  if (m->stride == 192)
    q += 4;
  g_assert_cmpuint (len, <=, 184);
  q[0] = 0x47;
  q[1] = (guint8) ((pusi ? 0x40 : 0) | pid >> 8);
  q[2] = (guint8) pid;
  guint stuffing = 184 - (guint) len;
  q[3] = (guint8) ((m->scrambled_pid && pid == m->scrambled_pid ? 0x80 : 0) | (stuffing ? 0x30 : 0x10) |
                   (m->cc[pid] & 0x0f));
  if (bump_cc)
    m->cc[pid]++;
  guint pos = 4;
  if (stuffing) {
    q[4] = (guint8) (stuffing - 1);
    if (stuffing > 1)
      q[5] = 0;
    memset (q + 6, 0xff, stuffing > 2 ? stuffing - 2 : 0);
    pos += stuffing;
  }
  memcpy (q + pos, payload, len);
  if (m->stride == 204)
    memset (q + 188, 0xa5, 16);
  g_byte_array_append (m->out, p, m->stride);
}

static void
mux_section (Mux *m, guint16 pid, const guint8 *body, gsize len)
{
  guint8 buf[188];
  buf[0] = 0;   /* pointer_field */
  memcpy (buf + 1, body, len);
  guint32 crc = ts_crc32 (body, len);
  buf[1 + len] = (guint8) (crc >> 24);
  buf[2 + len] = (guint8) (crc >> 16);
  buf[3 + len] = (guint8) (crc >> 8);
  buf[4 + len] = (guint8) crc;
  mux_packet (m, pid, TRUE, buf, len + 5, TRUE);
}

/* PAT (program 1 on PID 0x1000) and a PMT with the given streams. */
static void
mux_tables (Mux *m, const guint8 *types, const guint16 *pids, guint n)
{
  static const guint8 pat[] = { 0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00 };
  mux_section (m, 0, pat, sizeof pat);
  guint8 pmt[64] = { 0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0 };
  guint len = 12;
  for (guint i = 0; i < n; i++) {
    pmt[len++] = types[i];
    pmt[len++] = (guint8) (0xe0 | pids[i] >> 8);
    pmt[len++] = (guint8) pids[i];
    pmt[len++] = 0xf0;
    pmt[len++] = 0;
  }
  pmt[2] = (guint8) (len - 3 + 4);
  mux_section (m, 0x1000, pmt, len);
}

static void
put_timestamp (guint8 *p, guint8 prefix, guint64 t)
{
  p[0] = (guint8) (prefix << 4 | ((t >> 30) & 7) << 1 | 1);
  p[1] = (guint8) (t >> 22);
  p[2] = (guint8) ((t >> 15) << 1 | 1);
  p[3] = (guint8) (t >> 7);
  p[4] = (guint8) (t << 1 | 1);
}

/* A PES (bounded unless unbounded) carrying data, cut into packets. */
static void
mux_pes (Mux *m, guint16 pid, guint8 stream_id, gint64 pts, gint64 dts, const guint8 *data, gsize len,
         gboolean unbounded)
{
  GByteArray *pes = g_byte_array_new ();
  guint8 h[19] = { 0, 0, 1, stream_id, 0, 0, 0x80, 0, 0 };
  guint hl = 0;
  if (pts >= 0) {
    h[7] = dts >= 0 ? 0xc0 : 0x80;
    put_timestamp (h + 9, dts >= 0 ? 3 : 2, (guint64) pts);
    hl = 5;
    if (dts >= 0) {
      put_timestamp (h + 14, 1, (guint64) dts);
      hl = 10;
    }
  }
  h[8] = (guint8) hl;
  gsize plen = unbounded ? 0 : 3 + hl + len;
  h[4] = (guint8) (plen >> 8);
  h[5] = (guint8) plen;
  g_byte_array_append (pes, h, 9 + hl);
  g_byte_array_append (pes, data, (guint) len);
  for (gsize off = 0; off < pes->len; off += 184)
    mux_packet (m, pid, off == 0, pes->data + off, MIN (184, pes->len - off), TRUE);
  g_byte_array_unref (pes);
}

/* An ADTS AAC-LC frame, 48 kHz stereo, raw data filled with seed. */
static gsize
adts_frame (guint8 *out, gsize raw_len, guint8 seed)
{
  gsize len = raw_len + 7;
  out[0] = 0xff;
  out[1] = 0xf1;
  out[2] = (guint8) (1 << 6 | 3 << 2 | 0);   /* LC, 48 kHz */
  out[3] = (guint8) (2 << 6 | (len >> 11));
  out[4] = (guint8) (len >> 3);
  out[5] = (guint8) ((len & 7) << 5 | 0x1f);
  out[6] = 0xfc;
  for (gsize i = 0; i < raw_len; i++)
    out[7 + i] = (guint8) (seed + i);
  return len;
}

/* Indexes data and returns the recording (the whole source fed at once, or
 * in steps of step bytes). */
static Recording *
index_bytes (const guint8 *data, gsize len, gsize step)
{
  Source whole = source_from_memory (data, len);
  gboolean need_more;
  const IndexerClass *ix = recording_detect (&whole, &need_more);
  g_assert_nonnull (ix);
  g_assert_cmpstr (ix->name, ==, "mpegts");
  Recording *rec = recording_new (ix, "test");
  for (gsize pos = step ? MIN (step, len) : len;; pos = MIN (pos + step, len)) {
    Source s = source_from_memory (data, pos);
    recording_update (rec, &s);
    if (pos == len)
      break;
  }
  return rec;
}

/* The produced payload of rec's current snapshot. */
static GBytes *
payload_of (Recording *rec, const guint8 *data, gsize len)
{
  Source src = source_from_memory (data, len);
  g_autoptr (Layout) l = layout_new (rec, recording_snapshot (rec));
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();
  for (guint64 pos = l->header_len; pos < l->size;) {
    g_array_set_size (pieces, 0);
    gsize got = layout_read (l, &src, pos, 1000, pieces, buf);
    g_assert_cmpuint (got, ==, MIN (1000, l->size - pos));
    for (guint i = 0; i < pieces->len; i++) {
      LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      g_byte_array_append (out, p->data, (guint) p->len);
    }
    pos += got;
  }
  return g_byte_array_free_to_bytes (out);
}

/* ---- tests ------------------------------------------------------------------- */

static void
test_format_detect (void)
{
  for (guint stride = 188; stride <= 204; stride += 4) {
    if (stride == 196 || stride == 200)
      continue;
    g_autofree guint8 *d = g_malloc0 (stride * 6 + 10);
    guint first = stride == 192 ? 4 : 0;
    for (guint i = 0; i < 6; i++)
      d[first + i * stride] = 0x47;
    TsFormat f;
    g_assert_cmpint (ts_format_detect (d, stride * 6, &f), ==, TS_FORMAT_YES);
    g_assert_cmpuint (f.stride, ==, stride);
    g_assert_cmpuint (f.first, ==, first);
    g_assert_cmpint (ts_format_detect (d, stride * 2, &f), ==, TS_FORMAT_NEED_MORE);
  }
  /* Sync bytes, but not at any stride. */
  guint8 junk[2000];
  guint32 x = 1;
  for (gsize i = 0; i < sizeof junk; i++) {
    x = x * 1103515245 + 12345;
    junk[i] = i % 100 == 0 ? 0x47 : (guint8) (x >> 16) | 0x80;
  }
  TsFormat f;
  g_assert_cmpint (ts_format_detect (junk, sizeof junk, &f), ==, TS_FORMAT_NO);
}

/* FFmpeg's ff_avc_parse_nal_units: every NAL unit kept, a 4-byte start
 * code's leading zero no part of the NAL unit before it, zero bytes between
 * start codes a NAL unit of length 0, bytes before the first start code
 * dropped. */
static void
test_annexb_sizes (void)
{
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "00000001 0910", "00000002 0910" },
    { "000001 65aa 000001 41bb", "00000002 65aa 00000002 41bb" },
    { "ffee 00000001 65aa 0000000001 41", "00000003 65aa00 00000001 41" },
    { "000001 000001 41", "00000000 00000001 41" },
    { "000001 6500000300 000001", "00000004 65000003" },
    { "000001 650000030000 0000000001 41", "00000007 65000003000000 00000001 41" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    GByteArray *in = g_byte_array_new (), *want = g_byte_array_new ();
    for (const char *p = cases[i].in; *p;) {
      if (*p == ' ') { p++; continue; }
      guint8 b = (guint8) g_ascii_xdigit_value (p[0]) << 4 | (guint8) g_ascii_xdigit_value (p[1]);
      g_byte_array_append (in, &b, 1);
      p += 2;
    }
    for (const char *p = cases[i].out; *p;) {
      if (*p == ' ') { p++; continue; }
      guint8 b = (guint8) g_ascii_xdigit_value (p[0]) << 4 | (guint8) g_ascii_xdigit_value (p[1]);
      g_byte_array_append (want, &b, 1);
      p += 2;
    }
    g_assert_cmpuint (ts_annexb_nals (in->data, in->len, NULL), ==, want->len);
    /* The streaming conversion through packets gives the same bytes. */
    Mux m;
    mux_init (&m, 188);
    for (gsize off = 0; off < in->len; off += 3)
      mux_packet (&m, 0x100, FALSE, in->data + off, MIN (3, in->len - off), TRUE);
    Source src = source_from_memory (m.out->data, m.out->len);
    TsReader r;
    ts_reader_init (&r, &src, 4096);
    TsEsWalk w;
    ts_es_walk_init (&w, &r, 188, 0x100, 0, 188 - MIN (3, in->len));
    g_autofree guint8 *out = g_malloc0 (want->len + 1);
    g_assert_true (ts_annexb_convert (&w, out, want->len));
    g_assert_cmpmem (out, want->len, want->data, want->len);
    ts_reader_clear (&r);
    g_byte_array_unref (m.out);
    g_byte_array_unref (in);
    g_byte_array_unref (want);
  }
}

/* Two AAC frames per PES, one crossing into the next PES: samples are the
 * raw data blocks, timed by their codec length from each PES's PTS. */
static void
build_aac (Mux *m, guint n_pes, guint64 pts0, GByteArray *raw_all)
{
  static const guint8 types[] = { 0x0f };
  static const guint16 pids[] = { 0x101 };
  mux_tables (m, types, pids, 1);
  guint8 frame[600];
  GByteArray *es = g_byte_array_new ();
  gsize starts[64];
  for (guint i = 0; i < n_pes * 2; i++) {
    gsize raw = 100 + i * 7 % 200;
    gsize len = adts_frame (frame, raw, (guint8) i);
    starts[i] = es->len;
    g_byte_array_append (es, frame, (guint) len);
    if (raw_all)
      g_byte_array_append (raw_all, frame + 7, (guint) raw);
  }
  /* Cut the ES into PES of equal size: frames cross PES boundaries. */
  gsize per = es->len / n_pes;
  for (guint i = 0; i < n_pes; i++) {
    gsize off = i * per, len = i + 1 == n_pes ? es->len - off : per;
    /* A PES's PTS is that of the first frame that begins in it. */
    guint k = 0;
    while (starts[k] < off)
      k++;
    mux_pes (m, 0x101, 0xc0, (gint64) ((pts0 + (guint64) k * 1920) & ((1ull << 33) - 1)), -1, es->data + off, len,
             FALSE);
  }
  g_byte_array_unref (es);
}

static void
test_aac_frames_and_payload (void)
{
  Mux m;
  mux_init (&m, 188);
  GByteArray *raw = g_byte_array_new ();
  build_aac (&m, 8, 126000, raw);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  g_assert_null (rec->error);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->timescale, ==, 48000);
  g_assert_cmpuint (t->table.count, ==, 16);
  g_assert_cmpuint (sample_table_duration (&t->table, 16), ==, 16 * 1024);
  g_autoptr (GBytes) p = payload_of (rec, m.out->data, m.out->len);
  g_assert_cmpmem (g_bytes_get_data (p, NULL), g_bytes_get_size (p), raw->data, raw->len);
  /* Fed in steps of 100 bytes (packets cut mid-way): the same recording and bytes. */
  Recording *grown = index_bytes (m.out->data, m.out->len, 100);
  g_autoptr (GBytes) q = payload_of (grown, m.out->data, m.out->len);
  g_assert_true (g_bytes_equal (p, q));
  g_assert_cmpuint (((Track *) g_ptr_array_index (grown->tracks, 0))->table.count, ==, 16);
  recording_unref (grown);
  recording_unref (rec);
  g_byte_array_unref (raw);
  g_byte_array_unref (m.out);
}

/* M2TS: 192-byte packets with a 4-byte timecode before each. */
static void
test_m2ts (void)
{
  Mux m;
  mux_init (&m, 192);
  GByteArray *raw = g_byte_array_new ();
  build_aac (&m, 4, 0, raw);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  g_assert_cmpuint (((Track *) g_ptr_array_index (rec->tracks, 0))->table.count, ==, 8);
  g_autoptr (GBytes) p = payload_of (rec, m.out->data, m.out->len);
  g_assert_cmpmem (g_bytes_get_data (p, NULL), g_bytes_get_size (p), raw->data, raw->len);
  recording_unref (rec);
  g_byte_array_unref (raw);
  g_byte_array_unref (m.out);
}

/* Timestamps that wrap past 2^33 continue: no gap, no step back. */
static void
test_wrap (void)
{
  Mux m;
  mux_init (&m, 188);
  build_aac (&m, 8, (1ull << 33) - 3 * 1920, NULL);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 16);
  g_assert_cmpuint (t->table.durations->len, ==, 1);   /* one stts run: 1024 each */
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* A duplicate packet (same continuity counter) is dropped; a missing one
 * drops the frames it belongs to and nothing else. */
static void
test_duplicate_and_missing_packets (void)
{
  Mux m;
  mux_init (&m, 188);
  build_aac (&m, 8, 0, NULL);
  /* Repeat the packet before last (a duplicate), drop a packet in the middle. */
  guint n = m.out->len / 188;
  GByteArray *dup = g_byte_array_new ();
  g_byte_array_append (dup, m.out->data, (n - 1) * 188);
  g_byte_array_append (dup, m.out->data + (n - 2) * 188, 188);
  g_byte_array_append (dup, m.out->data + (n - 1) * 188, 188);
  Recording *a = index_bytes (dup->data, dup->len, 0);
  g_assert_cmpuint (((Track *) g_ptr_array_index (a->tracks, 0))->table.count, ==, 16);
  g_assert_cmpstr (a->notes->str, ==, "");
  GByteArray *miss = g_byte_array_new ();
  g_byte_array_append (miss, m.out->data, 6 * 188);
  g_byte_array_append (miss, m.out->data + 7 * 188, (n - 7) * 188);
  Recording *b = index_bytes (miss->data, miss->len, 0);
  guint32 count = ((Track *) g_ptr_array_index (b->tracks, 0))->table.count;
  g_assert_cmpuint (count, <, 16);
  g_assert_cmpuint (count, >=, 12);
  g_assert_nonnull (strstr (b->notes->str, "missing"));
  g_autoptr (GBytes) p = payload_of (b, miss->data, miss->len);
  g_assert_cmpuint (g_bytes_get_size (p), ==, b->payload_len);
  recording_unref (a);
  recording_unref (b);
  g_byte_array_unref (dup);
  g_byte_array_unref (miss);
  g_byte_array_unref (m.out);
}

/* Garbage between packets is skipped and noted; samples after it are read. */
static void
test_resync (void)
{
  Mux m;
  mux_init (&m, 188);
  build_aac (&m, 8, 0, NULL);
  GByteArray *g = g_byte_array_new ();
  gsize cut = 10 * 188;
  g_byte_array_append (g, m.out->data, (guint) cut);
  for (guint i = 0; i < 77; i++) {
    guint8 b = (guint8) (i * 37 + 11);
    g_byte_array_append (g, &b, 1);
  }
  g_byte_array_append (g, m.out->data + cut, m.out->len - (guint) cut);
  Recording *rec = index_bytes (g->data, g->len, 0);
  g_assert_nonnull (strstr (rec->notes->str, "skipped"));
  g_assert_cmpuint (((Track *) g_ptr_array_index (rec->tracks, 0))->table.count, >=, 12);
  g_autoptr (GBytes) p = payload_of (rec, g->data, g->len);
  g_assert_cmpuint (g_bytes_get_size (p), ==, rec->payload_len);
  recording_unref (rec);
  g_byte_array_unref (g);
  g_byte_array_unref (m.out);
}

/* SPS of a 320x240 constrained baseline stream, PPS. */
static const guint8 test_sps[] = { 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00,
                                   0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x20 };
static const guint8 test_pps[] = { 0x68, 0xcb, 0x83, 0xcb, 0x20 };

/* n H.264 access units (an IDR with its parameter sets, then P slices), one
 * unbounded PES each, from frame first on; sizes gets each one's size as
 * FFmpeg's remux stores it. */
static void
build_h264 (Mux *m, guint first, guint n, GArray *sizes)
{
  for (guint i = first; i < first + n; i++) {
    GByteArray *au = g_byte_array_new ();
    static const guint8 aud[] = { 0, 0, 0, 1, 0x09, 0xf0 };
    g_byte_array_append (au, aud, sizeof aud);
    if (i == 0) {
      static const guint8 sc4[] = { 0, 0, 0, 1 }, sc3[] = { 0, 0, 1 };
      g_byte_array_append (au, sc4, 4);
      g_byte_array_append (au, test_sps, sizeof test_sps);
      g_byte_array_append (au, sc3, 3);
      g_byte_array_append (au, test_pps, sizeof test_pps);
    }
    guint8 slice[300];
    slice[0] = 0;
    slice[1] = 0;
    slice[2] = 1;
    slice[3] = i == 0 ? 0x65 : 0x41;
    slice[4] = 0x88;   /* first_mb_in_slice 0 */
    for (guint k = 5; k < sizeof slice - 7 * (i % 3); k++)
      slice[k] = (guint8) (k * 13 + i) | 1;
    g_byte_array_append (au, slice, sizeof slice - 7 * (i % 3));
    guint32 size = (guint32) ts_annexb_nals (au->data, au->len, NULL);
    if (sizes)
      g_array_append_val (sizes, size);
    mux_pes (m, 0x100, 0xe0, 133200 + i * 3600, 126000 + i * 3600, au->data, au->len, TRUE);
    g_byte_array_unref (au);
  }
}

/* H.264 in unbounded PES: an access unit is complete when the next begins,
 * start codes become 4-byte lengths, and the key frame carries avcC. */
static void
test_h264_access_units (void)
{
  static const guint8 types[] = { 0x1b };
  static const guint16 pids[] = { 0x100 };
  Mux m;
  mux_init (&m, 188);
  mux_tables (&m, types, pids, 1);
  g_autoptr (GArray) sizes = g_array_new (FALSE, FALSE, sizeof (guint32));
  build_h264 (&m, 0, 5, sizes);
  guint64 want = 0;
  for (guint i = 0; i < 4; i++)   /* the last waits for a successor that never comes */
    want += g_array_index (sizes, guint32, i);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->codec, ==, FOURCC ('a', 'v', 'c', '1'));
  g_assert_cmpuint (t->width >> 16, ==, 320);
  g_assert_cmpuint (t->height >> 16, ==, 240);
  g_assert_cmpuint (t->table.count, ==, 4);
  g_assert_cmpuint (rec->payload_len, ==, want);
  g_assert_cmpuint (sample_table_sync_count (&t->table, 4), ==, 1);
  g_autoptr (GBytes) p = payload_of (rec, m.out->data, m.out->len);
  const guint8 *d = g_bytes_get_data (p, NULL);
  /* The first sample: AUD (2 bytes) as a 4-byte length, then the SPS. */
  static const guint8 head[] = { 0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, sizeof test_sps, 0x67 };
  g_assert_cmpmem (d, sizeof head, head, sizeof head);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* A finished recording shows its last access unit, exactly as the next
 * payload start would have completed it; growing after that, it must be
 * indexed again (and then is the same as one never finished). */
static void
test_finish (void)
{
  static const guint8 types[] = { 0x1b };
  static const guint16 pids[] = { 0x100 };
  Mux m;
  mux_init (&m, 188);
  mux_tables (&m, types, pids, 1);
  g_autoptr (GArray) sizes = g_array_new (FALSE, FALSE, sizeof (guint32));
  build_h264 (&m, 0, 4, sizes);
  gsize last_pes = m.out->len;
  build_h264 (&m, 4, 1, sizes);
  gsize cut = m.out->len;
  build_h264 (&m, 5, 3, sizes);
  Source part = source_from_memory (m.out->data, cut), whole = source_from_memory (m.out->data, m.out->len);

  Recording *rec = index_bytes (m.out->data, cut, 1000);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 4);
  g_assert_false (recording_finished (rec));
  recording_finish (rec, &part);
  g_assert_true (recording_finished (rec));
  g_assert_cmpuint (t->table.count, ==, 5);
  recording_finish (rec, &part);   /* once */
  g_assert_cmpuint (t->table.count, ==, 5);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (sample_table_bytes (&t->table, i + 1) - sample_table_bytes (&t->table, i), ==,
                      g_array_index (sizes, guint32, i));
  g_autoptr (GBytes) fin = payload_of (rec, m.out->data, cut);
  g_assert_cmpuint (g_bytes_get_size (fin), ==, rec->payload_len);

  /* The whole recording, never finished: its first five samples are those,
   * with the same bytes and times. */
  Recording *longer = index_bytes (m.out->data, m.out->len, 0);
  Track *u = g_ptr_array_index (longer->tracks, 0);
  g_assert_cmpuint (u->table.count, ==, 7);
  g_autoptr (GBytes) lp = payload_of (longer, m.out->data, m.out->len);
  g_assert_cmpmem (g_bytes_get_data (lp, NULL), g_bytes_get_size (fin), g_bytes_get_data (fin, NULL),
                   g_bytes_get_size (fin));
  for (guint i = 0; i <= 4; i++)
    g_assert_cmpuint (sample_table_duration (&t->table, i), ==, sample_table_duration (&u->table, i));

  /* Grown past the finish: not fed further, to be indexed again. */
  g_assert_false (recording_needs_reindex (rec, cut));
  g_assert_true (recording_needs_reindex (rec, m.out->len));
  g_assert_false (recording_update (rec, &whole));
  g_assert_cmpuint (t->table.count, ==, 5);
  g_assert_false (recording_needs_reindex (longer, m.out->len));
  recording_finish (longer, &whole);
  g_assert_cmpuint (u->table.count, ==, 8);

  /* A source that ends with part of a packet was cut short: its last
   * access unit may be too, and stays held back. */
  Recording *cut_short = index_bytes (m.out->data, cut + 100, 0);
  Source partial = source_from_memory (m.out->data, cut + 100);
  recording_finish (cut_short, &partial);
  g_assert_true (recording_finished (cut_short));
  g_assert_cmpuint (((Track *) g_ptr_array_index (cut_short->tracks, 0))->table.count, ==, 4);
  g_assert_false (recording_needs_reindex (cut_short, m.out->len));
  recording_unref (cut_short);

  /* Whole packets, but the last PES's first one only, which is full (no
   * stuffing): the writer stopped mid-PES, and the frame stays held back. */
  Recording *mid = index_bytes (m.out->data, last_pes + 188, 0);
  Source mid_src = source_from_memory (m.out->data, last_pes + 188);
  recording_finish (mid, &mid_src);
  g_assert_cmpuint (((Track *) g_ptr_array_index (mid->tracks, 0))->table.count, ==, 4);
  recording_unref (mid);

  /* A finish that completes nothing (audio only) leaves growth alone. */
  Mux a;
  mux_init (&a, 188);
  build_aac (&a, 4, 0, NULL);
  gsize acut = a.out->len;
  build_aac (&a, 4, 8 * 1920, NULL);
  Recording *audio = index_bytes (a.out->data, acut, 0);
  Source apart = source_from_memory (a.out->data, acut), awhole = source_from_memory (a.out->data, a.out->len);
  recording_finish (audio, &apart);
  g_assert_false (recording_needs_reindex (audio, a.out->len));
  g_assert_true (recording_update (audio, &awhole));
  g_assert_false (recording_finished (audio));
  recording_unref (audio);
  g_byte_array_unref (a.out);

  recording_unref (longer);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* Two recordings joined (an HLS recorder's segments): the continuity
 * counters break where a PES begins and the timestamps step back; every
 * frame is kept and the second part continues where the first ended. */
static void
test_segments_joined (void)
{
  Mux a, b;
  mux_init (&a, 188);
  mux_init (&b, 188);
  build_aac (&a, 8, 126000, NULL);
  b.cc[0x101] = 9;   /* not the counter that would follow the first part's */
  build_aac (&b, 8, 126000, NULL);
  g_byte_array_append (a.out, b.out->data, b.out->len);
  Recording *rec = index_bytes (a.out->data, a.out->len, 0);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 32);
  g_assert_cmpuint (t->table.durations->len, ==, 1);   /* 1024 each: no step back, no gap */
  g_assert_nonnull (strstr (rec->notes->str, "segment join"));
  recording_unref (rec);
  g_byte_array_unref (a.out);
  g_byte_array_unref (b.out);
}

/* Timestamps that jump forward (90 s, the same clock: an outage, or an HLS
 * recorder that missed segments) are carried as a gap, as the issue has it;
 * only a step back continues where the track was. */
static void
test_jump_forward_is_a_gap (void)
{
  Mux m;
  mux_init (&m, 188);
  build_aac (&m, 8, 126000, NULL);
  build_aac (&m, 8, 126000 + 16 * 1920 + 90 * 90000, NULL);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 32);
  g_assert_cmpuint (sample_table_duration (&t->table, 17), ==, 17 * 1024 + 90 * 48000);
  g_assert_cmpuint (sample_table_duration (&t->table, 31), ==, 31 * 1024 + 90 * 48000);
  g_assert_nonnull (strstr (rec->notes->str, "carried as a gap"));
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* 204-byte packets (16 Reed-Solomon bytes after each): the same samples
 * and bytes as 188-byte ones. */
static void
test_204_byte_packets (void)
{
  Mux a, b;
  mux_init (&a, 188);
  mux_init (&b, 204);
  GByteArray *raw = g_byte_array_new ();
  build_aac (&a, 8, 0, raw);
  build_aac (&b, 8, 0, NULL);
  Recording *ra = index_bytes (a.out->data, a.out->len, 0), *rb = index_bytes (b.out->data, b.out->len, 333);
  g_assert_cmpuint (((Track *) g_ptr_array_index (rb->tracks, 0))->table.count, ==, 16);
  g_autoptr (GBytes) pa = payload_of (ra, a.out->data, a.out->len);
  g_autoptr (GBytes) pb = payload_of (rb, b.out->data, b.out->len);
  g_assert_true (g_bytes_equal (pa, pb));
  g_assert_cmpmem (g_bytes_get_data (pb, NULL), g_bytes_get_size (pb), raw->data, raw->len);
  recording_unref (ra);
  recording_unref (rb);
  g_byte_array_unref (raw);
  g_byte_array_unref (a.out);
  g_byte_array_unref (b.out);
}

/* A trailing partial packet is not indexed while the file grows, and its
 * frame appears once the rest of the packet is there. */
static void
test_trailing_partial_packet (void)
{
  Mux m;
  mux_init (&m, 188);
  build_aac (&m, 8, 0, NULL);
  Recording *whole = index_bytes (m.out->data, m.out->len, 0);
  guint32 all = ((Track *) g_ptr_array_index (whole->tracks, 0))->table.count;
  Recording *rec = index_bytes (m.out->data, m.out->len - 100, 0);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, <, all);
  g_assert_cmpstr (rec->notes->str, ==, "");
  g_assert_null (rec->error);
  Source src = source_from_memory (m.out->data, m.out->len);
  g_assert_true (recording_update (rec, &src));
  g_assert_cmpuint (t->table.count, ==, all);
  recording_unref (whole);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* A PMT that changes mid-file (a new version adding a stream) keeps the
 * first PMT's tracks: the new stream is ignored, with a note. */
static void
test_pmt_change (void)
{
  static const guint8 types1[] = { 0x0f };
  static const guint16 pids1[] = { 0x101 };
  static const guint8 pmt2[] = { 0x02, 0xb0, 0, 0, 1, 0xc3 /* version 1 */, 0, 0, 0xe1, 0x00, 0xf0, 0,
                                 0x0f, 0xe1, 0x01, 0xf0, 0, 0x0f, 0xe1, 0x02, 0xf0, 0 };
  Mux m;
  mux_init (&m, 188);
  mux_tables (&m, types1, pids1, 1);
  guint8 frame[200];
  gsize len = adts_frame (frame, 150, 1);
  for (guint i = 0; i < 4; i++)
    mux_pes (&m, 0x101, 0xc0, i * 1920, -1, frame, len, FALSE);
  guint8 body[sizeof pmt2];
  memcpy (body, pmt2, sizeof body);
  body[2] = (guint8) (sizeof body - 3 + 4);
  mux_section (&m, 0x1000, body, sizeof body);
  for (guint i = 4; i < 8; i++) {
    mux_pes (&m, 0x101, 0xc0, i * 1920, -1, frame, len, FALSE);
    mux_pes (&m, 0x102, 0xc0, i * 1920, -1, frame, len, FALSE);
  }
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  g_assert_cmpuint (((Track *) g_ptr_array_index (rec->tracks, 0))->table.count, ==, 8);
  g_assert_nonnull (strstr (rec->notes->str, "PID 258 appears in a later PMT; ignored"));
  g_assert_null (rec->error);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* A scrambled stream is left out with the reason; the others are kept. */
static void
test_scrambled_stream (void)
{
  static const guint8 types[] = { 0x0f, 0x0f };
  static const guint16 pids[] = { 0x101, 0x102 };
  Mux m;
  mux_init (&m, 188);
  m.scrambled_pid = 0x102;
  mux_tables (&m, types, pids, 2);
  guint8 frame[200];
  gsize len = adts_frame (frame, 150, 1);
  for (guint i = 0; i < 6; i++) {
    mux_pes (&m, 0x101, 0xc0, i * 1920, -1, frame, len, FALSE);
    mux_pes (&m, 0x102, 0xc0, i * 1920, -1, frame, len, FALSE);
  }
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  g_assert_nonnull (strstr (rec->notes->str, "PID 258 is scrambled; left out"));
  g_assert_cmpuint (((Track *) g_ptr_array_index (rec->tracks, 0))->table.count, ==, 6);
  g_autoptr (GBytes) p = payload_of (rec, m.out->data, m.out->len);
  g_assert_cmpuint (g_bytes_get_size (p), ==, rec->payload_len);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* H.264 + AAC in groups of three access units and five ADTS frames, as FFmpeg
 * lays them out (the frames of a group in one PES after the access units) or
 * as GStreamer does (interleaved, one frame a PES). */
static void
build_av (Mux *m, guint groups, gboolean interleaved)
{
  static const guint8 types[] = { 0x1b, 0x0f };
  static const guint16 pids[] = { 0x100, 0x101 };
  mux_init (m, 188);
  mux_tables (m, types, pids, 2);
  build_h264 (m, 0, 1, NULL);
  for (guint g = 0; g < groups; g++) {
    guint8 es[5 * 200];
    gsize es_len = 0, starts[6];
    for (guint k = 0; k < 5; k++) {
      starts[k] = es_len;
      es_len += adts_frame (es + es_len, 60 + (g * 5 + k) * 7 % 90, (guint8) k);
    }
    starts[5] = es_len;
    for (guint k = 0; k < 3; k++) {
      guint i = 1 + g * 3 + k;
      guint8 au[6 + 4 + 90];
      static const guint8 aud[] = { 0, 0, 0, 1, 0x09, 0xf0 };
      memcpy (au, aud, sizeof aud);
      au[6] = 0;
      au[7] = 0;
      au[8] = 1;
      au[9] = i % 60 == 0 ? 0x65 : 0x41;
      for (guint b = 10; b < sizeof au; b++)
        au[b] = (guint8) (b * 7 + i) | 0x81;
      au[10] = 0x88;
      gsize len = sizeof au - (i * 13) % 40;
      mux_pes (m, 0x100, 0xe0, 133200 + i * 3600, 126000 + i * 3600, au, len, TRUE);
      /* Interleaved: frames 0-1, 2-3 and 4 after the three access units. */
      for (guint f = k * 2; interleaved && f < MIN (k * 2 + 2, 5); f++)
        mux_pes (m, 0x101, 0xc0, 126000 + ((gint64) g * 5 + f) * 1920, -1, es + starts[f], starts[f + 1] - starts[f],
                 FALSE);
    }
    if (!interleaved)
      mux_pes (m, 0x101, 0xc0, 126000 + (gint64) g * 5 * 1920, -1, es, es_len, FALSE);
  }
}

/* Memory (issue 13): a long recording laid out as FFmpeg's muxer writes one
 * (a PES an access unit, audio frames gathered into PES of several), or as
 * GStreamer's mpegtsmux does (each audio frame a PES of its own, between
 * video frames).  The locators take under 3 bytes a sample (they took 5),
 * tables and locators together at most 16 for FFmpeg's layout.  GStreamer's,
 * nearly every sample a chunk of its own, is over that while the sample
 * tables keep a chunk entry of their own per chunk (table.c). */
static double
memory_per_sample (gboolean interleaved, double *locators)
{
  const guint groups = 3000;
  Mux m;
  build_av (&m, groups, interleaved);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  guint64 samples = 0;
  for (guint i = 0; i < rec->tracks->len; i++)
    samples += ((Track *) g_ptr_array_index (rec->tracks, i))->table.count;
  g_assert_cmpuint (samples, >=, groups * 8 - 2);
  double per_sample = (double) recording_memory (rec) / (double) samples;
  *locators = (double) rec->indexer->memory (rec->state) / (double) samples;
  g_test_message ("%s: %" G_GUINT64_FORMAT " samples, %.2f bytes a sample, %.2f of them locators",
                  interleaved ? "GStreamer's layout" : "FFmpeg's layout", samples, per_sample, *locators);
  recording_unref (rec);
  g_byte_array_unref (m.out);
  return per_sample;
}

static void
test_memory_per_sample (void)
{
  double locators;
  g_assert_cmpfloat (memory_per_sample (FALSE, &locators), <=, 16.0);
  g_assert_cmpfloat (locators, <, 3.0);
  memory_per_sample (TRUE, &locators);
  g_assert_cmpfloat (locators, <, 3.0);
}

/* Locators: delta-coded, with checkpoints; a step back (hostile input)
 * is kept exact; looked up at random and through a cursor. */
static void
test_locators (void)
{
  TsLocators l;
  ts_locators_init (&l);
  g_autoptr (GArray) want = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint64 off = 4;
  guint32 x = 7;
  for (guint i = 0; i < 1000; i++) {
    x = x * 1103515245 + 12345;
    if (i == 500)
      off -= 3000;   /* a step back */
    else
      off += (x >> 16) % (i % 100 == 0 ? 2000000 : 3000);
    g_assert_true (ts_locators_append (&l, off));
    g_array_append_val (want, off);
  }
  g_assert_false (ts_locators_append (&l, 1ull << 40));
  g_assert_cmpuint (ts_locators_memory (&l), <, 1000 * 3 + 16 * 16);
  TsLocatorCursor c = { 0 };
  for (guint i = 0; i < 1000; i++) {
    guint64 got;
    g_assert_true (ts_locators_get (&l, i, &c, &got));
    g_assert_cmpuint (got, ==, g_array_index (want, guint64, i));
  }
  for (guint k = 0; k < 500; k++) {
    guint i = (k * 7919) % 1000;
    guint64 got;
    g_assert_true (ts_locators_get (&l, i, k % 2 ? &c : NULL, &got));
    g_assert_cmpuint (got, ==, g_array_index (want, guint64, i));
  }
  guint64 got;
  g_assert_false (ts_locators_get (&l, 1000, &c, &got));
  ts_locators_clear (&l);
}

/* A scrambled or unsupported stream is left out with the reason. */
static void
test_left_out_streams (void)
{
  static const guint8 types[] = { 0x0f, 0x11 };
  static const guint16 pids[] = { 0x101, 0x102 };
  Mux m;
  mux_init (&m, 188);
  mux_tables (&m, types, pids, 2);
  guint8 frame[200];
  gsize len = adts_frame (frame, 150, 1);
  for (guint i = 0; i < 6; i++)
    mux_pes (&m, 0x101, 0xc0, i * 1920, -1, frame, len, FALSE);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  g_assert_nonnull (strstr (rec->notes->str, "LATM"));
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

/* The gathering read (ts_gather.c) gives the same bytes however the payload
 * is read: in one piece, in steps, from any offset (mid-sample, mid-chunk),
 * and from several threads at once, which share its source windows. */
typedef struct {
  Layout *layout;
  const Source *src;
  GBytes *whole;
  guint32 seed;
  guint reads;
} PayloadReader;

/* Reads r->reads ranges at offsets and lengths drawn from r->seed, each
 * compared with the same range of r->whole; returns NULL (a GThreadFunc). */
static gpointer
read_ranges (gpointer data)
{
  PayloadReader *r = data;
  gsize whole_len;
  const guint8 *whole = g_bytes_get_data (r->whole, &whole_len);
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint32 x = r->seed;
  for (guint i = 0; i < r->reads; i++) {
    x = x * 1103515245 + 12345;
    gsize at = (x >> 4) % whole_len;
    x = x * 1103515245 + 12345;
    gsize len = 1 + (x >> 4) % (i % 8 == 0 ? 300000 : 3000);
    g_array_set_size (pieces, 0);
    gsize got = layout_read (r->layout, r->src, r->layout->header_len + at, len, pieces, buf);
    g_assert_cmpuint (got, ==, MIN (len, whole_len - at));
    g_assert_cmpuint (pieces->len, ==, 1);
    const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, 0);
    g_assert_cmpmem (p->data, p->len, whole + at, got);
  }
  return NULL;
}

static void
test_payload_reads_agree (void)
{
  Mux m;
  build_av (&m, 6000, TRUE);   /* a source of several windows */
  Source src = source_from_memory (m.out->data, m.out->len);
  Recording *rec = index_bytes (m.out->data, m.out->len, 0);
  recording_finish (rec, &src);
  g_autoptr (Layout) l = layout_new (rec, recording_snapshot (rec));
  gsize payload_len = (gsize) (l->size - l->header_len);
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_assert_cmpuint (layout_read (l, &src, l->header_len, payload_len, pieces, buf), ==, payload_len);
  g_autoptr (GBytes) whole = g_bytes_new (buf->data, payload_len);
  g_autoptr (GBytes) stepped = payload_of (rec, m.out->data, m.out->len);
  g_assert_true (g_bytes_equal (whole, stepped));

  PayloadReader alone = { l, &src, whole, 1, 2000 };
  read_ranges (&alone);
  PayloadReader readers[6];
  GThread *threads[G_N_ELEMENTS (readers)];
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++) {
    readers[i] = (PayloadReader) { l, &src, whole, 100 + i, 500 };
    threads[i] = g_thread_new ("reader", read_ranges, &readers[i]);
  }
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    g_thread_join (threads[i]);
  recording_unref (rec);
  g_byte_array_unref (m.out);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  g_log_set_handler ("livemp4", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_INFO, g_log_default_handler, NULL);
  g_test_add_func ("/ts/format-detect", test_format_detect);
  g_test_add_func ("/ts/annexb-sizes-as-ffmpeg", test_annexb_sizes);
  g_test_add_func ("/ts/aac-frames-and-payload", test_aac_frames_and_payload);
  g_test_add_func ("/ts/m2ts", test_m2ts);
  g_test_add_func ("/ts/timestamps-wrap", test_wrap);
  g_test_add_func ("/ts/duplicate-and-missing-packets", test_duplicate_and_missing_packets);
  g_test_add_func ("/ts/resync", test_resync);
  g_test_add_func ("/ts/h264-access-units", test_h264_access_units);
  g_test_add_func ("/ts/finish-completes-the-last-access-unit", test_finish);
  g_test_add_func ("/ts/segments-joined", test_segments_joined);
  g_test_add_func ("/ts/jump-forward-is-a-gap", test_jump_forward_is_a_gap);
  g_test_add_func ("/ts/left-out-streams", test_left_out_streams);
  g_test_add_func ("/ts/204-byte-packets", test_204_byte_packets);
  g_test_add_func ("/ts/trailing-partial-packet", test_trailing_partial_packet);
  g_test_add_func ("/ts/pmt-change", test_pmt_change);
  g_test_add_func ("/ts/scrambled-stream", test_scrambled_stream);
  g_test_add_func ("/ts/locators", test_locators);
  g_test_add_func ("/ts/memory-per-sample", test_memory_per_sample);
  g_test_add_func ("/ts/payload-reads-agree", test_payload_reads_agree);
  return g_test_run ();
}

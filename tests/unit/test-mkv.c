/* test-mkv.c — the Matroska indexer on small crafted files: incremental feeding,
 * live (unknown-size) elements, lacing, timing, left-out tracks and damage. */
#include <string.h>

#include "muxer/bytes.h"
#include "muxer/mkv.h"

/* ---- a tiny EBML writer ---- */

static void
put_id (GByteArray *b, guint32 id)
{
  guint len = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  for (guint i = 0; i < len; i++) {
    guint8 c = (guint8) (id >> (8 * (len - 1 - i)));
    g_byte_array_append (b, &c, 1);
  }
}

static void
put_size8 (GByteArray *b, guint64 size)
{
  guint8 s[8] = { 0x01 };
  for (int i = 1; i < 8; i++)
    s[i] = (guint8) (size >> (8 * (7 - i)));
  g_byte_array_append (b, s, 8);
}

static void
el_bytes (GByteArray *b, guint32 id, const void *data, gsize len)
{
  put_id (b, id);
  put_size8 (b, len);
  g_byte_array_append (b, data, (guint) len);
}

static void
el_uint (GByteArray *b, guint32 id, guint64 v)
{
  guint8 be[8];
  for (int i = 0; i < 8; i++)
    be[i] = (guint8) (v >> (8 * (7 - i)));
  el_bytes (b, id, be, 8);
}

static void
el_string (GByteArray *b, guint32 id, const char *s)
{
  el_bytes (b, id, s, strlen (s));
}

static gsize
master_begin (GByteArray *b, guint32 id)
{
  put_id (b, id);
  gsize at = b->len;
  put_size8 (b, 0);
  return at;
}

static void
master_end (GByteArray *b, gsize at)
{
  guint64 size = b->len - at - 8;
  for (int i = 1; i < 8; i++)
    b->data[at + i] = (guint8) (size >> (8 * (7 - i)));
}

static void
master_unknown (GByteArray *b, guint32 id)
{
  static const guint8 unknown[8] = { 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  put_id (b, id);
  g_byte_array_append (b, unknown, 8);
}

/* A SimpleBlock of one frame; frame bytes are `fill` except the first byte. */
static void
simple_block (GByteArray *b, guint track, gint16 ts, gboolean key, guint8 first, gsize size)
{
  put_id (b, 0xa3);
  put_size8 (b, 4 + size);
  guint8 h[4] = { (guint8) (0x80 | track), (guint8) ((guint16) ts >> 8), (guint8) ts, key ? 0x80 : 0 };
  g_byte_array_append (b, h, 4);
  for (gsize i = 0; i < size; i++) {
    guint8 c = i == 0 ? first : (guint8) (i * 7);
    g_byte_array_append (b, &c, 1);
  }
}

static const guint8 opus_head[19] = { 'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 0x01,
                                      0x80, 0xbb, 0, 0, 0, 0, 0 };
static const guint8 avcc[] = { 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0x00 };

static void
ebml_header (GByteArray *b)
{
  gsize h = master_begin (b, 0x1a45dfa3);
  el_string (b, 0x4282, "webm");
  master_end (b, h);
}

static void
track_entry (GByteArray *b, guint number, guint type, const char *codec, const void *priv, gsize priv_len)
{
  gsize e = master_begin (b, 0xae);
  el_uint (b, 0xd7, number);
  el_uint (b, 0x83, type);
  el_string (b, 0x86, codec);
  if (priv)
    el_bytes (b, 0x63a2, priv, priv_len);
  if (type == 1) {
    gsize v = master_begin (b, 0xe0);
    el_uint (b, 0xb0, 64);
    el_uint (b, 0xba, 48);
    master_end (b, v);
  }
  master_end (b, e);
}

/* VP8 video (track 1, 25 fps) and Opus audio (track 2, 20 ms frames, TOC
 * 0xfc): 12 + 8 video frames in two clusters, the second of unknown size, then Cues end the recording.
 * With live set, the Segment has an unknown size and there are no Cues. */
static GByteArray *
build_av (gboolean live)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = 0;
  if (live)
    master_unknown (b, 0x18538067);
  else
    seg = master_begin (b, 0x18538067);
  gsize info = master_begin (b, 0x1549a966);
  el_uint (b, 0x2ad7b1, 1000000);
  master_end (b, info);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 1, "V_VP8", NULL, 0);
  track_entry (b, 2, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);

  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  for (int i = 0; i < 12; i++) {
    simple_block (b, 1, (gint16) (i * 40), i == 0, 0x10, 30 + i);
    simple_block (b, 2, (gint16) (i * 40), TRUE, 0xfc, 12);
    simple_block (b, 2, (gint16) (i * 40 + 20), TRUE, 0xfc, 11);
  }
  master_end (b, cl);
  master_unknown (b, 0x1f43b675);
  el_uint (b, 0xe7, 480);
  for (int i = 0; i < 8; i++) {
    simple_block (b, 1, (gint16) (i * 40), i == 0, 0x10, 40 + i);
    simple_block (b, 2, (gint16) (i * 40), TRUE, 0xfc, 13);
    simple_block (b, 2, (gint16) (i * 40 + 20), TRUE, 0xfc, 14);
  }
  if (!live) {
    gsize cues = master_begin (b, 0x1c53bb6b);
    master_end (b, cues);
    master_end (b, seg);
  }
  return b;
}

/* Everything the writer will see: per track its samples, and the extents. */
static char *
describe (Recording *rec)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < rec->tracks->len; i++) {
    Track *t = g_ptr_array_index (rec->tracks, i);
    const SampleTable *tab = &t->table;
    g_string_append_printf (s, "track %u %c ts=%u base=%" G_GINT64_FORMAT " n=%u:", t->id,
                            (char) (t->handler >> 24), t->timescale, t->edit_base, tab->count);
    guint32 d = 0, o = 0, dleft = 0, oleft = 0;
    gint32 off = 0;
    guint32 delta = 0;
    for (guint32 k = 0; k < tab->count; k++) {
      if (dleft == 0) {
        DurationRun *r = (DurationRun[]) { sample_table_duration_run (tab, d++) };
        dleft = r->count;
        delta = r->delta;
      }
      if (oleft == 0) {
        OffsetRun *r = (OffsetRun[]) { sample_table_offset_run (tab, o++) };
        oleft = r->count;
        off = r->offset;
      }
      dleft--;
      oleft--;
      g_string_append_printf (s, " %u/%u/%d%s", g_array_index (tab->sizes, guint32, k), delta, off,
                              sample_table_sync_count (tab, k + 1) > sample_table_sync_count (tab, k) ? "k" : "");
    }
    g_string_append (s, "\n");
  }
  for (guint i = 0; i < rec->extents->len; i++) {
    Extent *e = &g_array_index (rec->extents, Extent, i);
    g_string_append_printf (s, "extent %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT "\n", e->source_offset, e->length);
  }
  return g_string_free (s, FALSE);
}

static Recording *
index_whole (const guint8 *data, gsize len)
{
  Recording *rec = recording_new (&mkv_indexer, "test");
  Source src = source_from_memory (data, len);
  recording_update (rec, &src);
  return rec;
}

static void
test_probe_by_content (void)
{
  g_autoptr (GByteArray) b = build_av (FALSE);
  Source src = source_from_memory (b->data, b->len);
  g_assert_cmpint (mkv_indexer.probe (&src), ==, PROBE_YES);
  src.size = 3;
  g_assert_cmpint (mkv_indexer.probe (&src), ==, PROBE_NEED_MORE);
  static const guint8 mp4[] = { 0, 0, 0, 0x18, 'f', 't', 'y', 'p' };
  src = source_from_memory (mp4, sizeof mp4);
  g_assert_cmpint (mkv_indexer.probe (&src), ==, PROBE_NO);
  /* An EBML document of another type is not a recording. */
  GByteArray *other = g_byte_array_new ();
  gsize h = master_begin (other, 0x1a45dfa3);
  el_string (other, 0x4282, "ebmlfoo");
  master_end (other, h);
  src = source_from_memory (other->data, other->len);
  g_assert_cmpint (mkv_indexer.probe (&src), ==, PROBE_NO);
  g_byte_array_unref (other);
}

static void
test_whole_file_samples_and_timing (void)
{
  g_autoptr (GByteArray) b = build_av (FALSE);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 2);
  Track *v = g_ptr_array_index (rec->tracks, 0), *a = g_ptr_array_index (rec->tracks, 1);
  g_assert_cmphex (v->codec, ==, FOURCC ('v', 'p', '0', '8'));
  g_assert_cmphex (a->codec, ==, FOURCC ('O', 'p', 'u', 's'));
  g_assert_cmpuint (v->table.count, ==, 20);
  g_assert_cmpuint (a->table.count, ==, 40);
  /* Video: 40 ms at 90 kHz, the last one's estimated from the one before. */
  g_assert_cmpuint (v->timescale, ==, 90000);
  g_assert_cmpuint (sample_table_duration (&v->table, 20), ==, 20 * 3600);
  g_assert_cmpint (v->edit_base, ==, 0);
  /* Audio: 960 samples each from the TOC; CodecDelay absent. */
  g_assert_cmpuint (a->timescale, ==, 48000);
  g_assert_cmpuint (sample_table_duration (&a->table, 40), ==, 40 * 960);
  g_assert_cmpuint (sample_table_sync_count (&v->table, 20), ==, 2);
}

/* Feeding every prefix in turn ends exactly where one parse of the whole does,
 * and every prefix shows a prefix of the whole's samples. */
static void
check_incremental (GByteArray *b)
{
  g_autoptr (Recording) whole = index_whole (b->data, b->len);
  g_autofree char *expect = describe (whole);
  g_autoptr (Recording) rec = recording_new (&mkv_indexer, "test");
  for (gsize n = 0; n <= b->len; n++) {
    Source src = source_from_memory (b->data, n);
    recording_update (rec, &src);
    g_assert_false (rec->failed);
    for (guint i = 0; i < rec->tracks->len; i++) {
      Track *t = g_ptr_array_index (rec->tracks, i), *w = g_ptr_array_index (whole->tracks, i);
      g_assert_cmpuint (t->table.count, <=, w->table.count);
      for (guint32 k = 0; k < t->table.count; k++)
        g_assert_cmpuint (g_array_index (t->table.sizes, guint32, k), ==, g_array_index (w->table.sizes, guint32, k));
      /* The last sample's duration may still change (its successor shows it). */
      if (t->table.count)
        g_assert_cmpuint (sample_table_duration (&t->table, t->table.count - 1), ==,
                          sample_table_duration (&w->table, t->table.count - 1));
    }
  }
  g_autofree char *got = describe (rec);
  g_assert_cmpstr (got, ==, expect);
}

static void
test_incremental_equals_whole (void)
{
  g_autoptr (GByteArray) b = build_av (FALSE);
  check_incremental (b);
}

static void
test_incremental_live_equals_whole (void)
{
  g_autoptr (GByteArray) b = build_av (TRUE);
  check_incremental (b);
}

/* A live recording has no end: the last video frame waits for its
 * successor, and so does everything after it in the file. */
static void
test_live_shows_every_frame (void)
{
  /* A live file (no end marker) shows every frame once its bytes are on
   * disk, the last ones with the durations the finished file gives them
   * (the track's default duration, else the previous frame's). */
  g_autoptr (GByteArray) live = build_av (TRUE);
  g_autoptr (GByteArray) done = build_av (FALSE);
  g_autoptr (Recording) a = index_whole (live->data, live->len);
  g_autoptr (Recording) b = index_whole (done->data, done->len);
  for (guint i = 0; i < 2; i++) {
    Track *x = g_ptr_array_index (a->tracks, i), *y = g_ptr_array_index (b->tracks, i);
    g_assert_cmpuint (x->table.count, ==, i == 0 ? 20 : 40);
    g_assert_cmpuint (x->table.count, ==, y->table.count);
    g_assert_cmpuint (sample_table_duration (&x->table, x->table.count), ==,
                      sample_table_duration (&y->table, y->table.count));
  }
}

static void
test_every_cut_never_fails (void)
{
  g_autoptr (GByteArray) b = build_av (FALSE);
  for (gsize n = 0; n <= b->len; n++) {
    g_autoptr (Recording) rec = index_whole (b->data, n);
    g_assert_false (rec->failed);
  }
}

/* Overwriting any byte gives some result, never a crash or a hang. */
static void
test_damage_anywhere_is_survived (void)
{
  g_autoptr (GByteArray) b = build_av (FALSE);
  g_autofree guint8 *copy = g_memdup2 (b->data, b->len);
  static const guint8 values[] = { 0x00, 0xff, 0x80, 0x01, 0x42 };
  for (gsize i = 0; i < b->len; i++) {
    for (gsize v = 0; v < G_N_ELEMENTS (values); v++) {
      memcpy (copy, b->data, b->len);
      copy[i] = values[v];
      g_autoptr (Recording) rec = index_whole (copy, b->len);
      (void) rec;
    }
  }
}

static void
test_damage_keeps_samples_before_it (void)
{
  g_autoptr (GByteArray) b = build_av (FALSE);
  g_autoptr (Recording) whole = index_whole (b->data, b->len);
  /* Zeros from the second cluster on (a crash on a filesystem that
   * extends files before writing them). */
  g_autofree guint8 *copy = g_memdup2 (b->data, b->len);
  gsize second = 0;
  for (gsize i = b->len - 4; i > 0 && !second; i--)
    if (memcmp (copy + i, "\x1f\x43\xb6\x75", 4) == 0)
      second = i;
  memset (copy + second, 0, b->len - second);
  g_autoptr (Recording) rec = index_whole (copy, b->len);
  g_assert_true (rec->failed);
  Track *v = g_ptr_array_index (rec->tracks, 0), *a = g_ptr_array_index (rec->tracks, 1);
  g_assert_cmpuint (v->table.count, ==, 12);
  g_assert_cmpuint (a->table.count, ==, 24);
}

static void
test_unsupported_codec_left_out (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 2, "A_VORBIS", "xyz", 3);
  track_entry (b, 2, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  simple_block (b, 1, 0, TRUE, 0x00, 10);
  simple_block (b, 2, 0, TRUE, 0xfc, 10);
  master_end (b, cl);
  master_end (b, seg);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  g_assert_cmpuint (((Track *) g_ptr_array_index (rec->tracks, 0))->table.count, ==, 1);
  g_autofree char *problems = recording_describe_problems (rec);
  g_assert_nonnull (strstr (problems, "track 1: codec A_VORBIS cannot be carried in MP4; left out"));
  g_byte_array_unref (b);
}

static void
test_tracks_after_first_cluster_ignored (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 2, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  simple_block (b, 2, 0, TRUE, 0xfc, 10);
  master_end (b, cl);
  tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 3, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 20);
  simple_block (b, 3, 0, TRUE, 0xfc, 10);
  simple_block (b, 2, 0, TRUE, 0xfc, 10);
  master_end (b, cl);
  master_end (b, seg);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  g_assert_cmpuint (((Track *) g_ptr_array_index (rec->tracks, 0))->table.count, ==, 2);
  g_autofree char *problems = recording_describe_problems (rec);
  g_assert_nonnull (strstr (problems, "track 3 added after the first Cluster is ignored"));
  g_byte_array_unref (b);
}

/* B-frames: decode order I0 P160 B80 b40 b120 ...: the reorder depth is 2,
 * decode times are the sorted presentation times two frames back, and every
 * presentation time survives exactly. */
static void
test_bframes_rebuild_decode_times (void)
{
  static const gint16 pts[] = { 0, 160, 80, 40, 120, 320, 240, 200, 280, 360 };
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 1, "V_MPEG4/ISO/AVC", avcc, sizeof avcc);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 1000);
  for (gsize i = 0; i < G_N_ELEMENTS (pts); i++)
    simple_block (b, 1, pts[i], i == 0, 0x65, 20);
  master_end (b, cl);
  master_end (b, seg);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, G_N_ELEMENTS (pts));
  g_assert_cmpint (t->edit_base, ==, (1000 - 80) * 90);
  gint64 decode = 0;
  guint d = 0, o = 0, dleft = 0, oleft = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (pts); i++) {
    if (!dleft) dleft = sample_table_duration_run (&t->table, d++).count;
    if (!oleft) oleft = sample_table_offset_run (&t->table, o++).count;
    guint32 delta = sample_table_duration_run (&t->table, d - 1).delta;
    gint32 offset = sample_table_offset_run (&t->table, o - 1).offset;
    dleft--;
    oleft--;
    g_assert_cmpint (offset, >=, 0);
    g_assert_cmpuint (delta, ==, 40 * 90);
    g_assert_cmpint (t->edit_base + decode + offset, ==, (1000 + pts[i]) * 90);
    decode += delta;
  }
  g_byte_array_unref (b);
}

/* A live H.264 recording (Segment of unknown size) of fewer frames than
 * the reorder depth is learnt from waits for more; finished, it shows them
 * all, and growing after that it is to be indexed again. */
static void
test_finish_releases_held_frames (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  master_unknown (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 1, "V_MPEG4/ISO/AVC", avcc, sizeof avcc);
  master_end (b, tracks);
  master_unknown (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  for (gint16 i = 0; i < 10; i++)
    simple_block (b, 1, (gint16) (i * 40), i == 0, 0x65, 20);
  gsize cut = b->len;
  for (gint16 i = 10; i < 20; i++)
    simple_block (b, 1, (gint16) (i * 40), FALSE, 0x65, 20);
  g_autoptr (Recording) rec = index_whole (b->data, cut);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 0);
  Source part = source_from_memory (b->data, cut);
  recording_finish (rec, &part);
  g_assert_cmpuint (t->table.count, ==, 10);
  g_assert_cmpuint (sample_table_duration (&t->table, 9), ==, 9 * 40 * 90);
  g_assert_true (recording_needs_reindex (rec, b->len));
  g_autoptr (Recording) whole = index_whole (b->data, b->len);
  g_assert_cmpuint (((Track *) g_ptr_array_index (whole->tracks, 0))->table.count, >=, 10);
  g_byte_array_unref (b);
}

/* Each laced frame is a sample of its own, at its own offset. */
static void
test_laced_frames_are_samples (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  /* Xiph lacing: frames of 3, 5 and 4 bytes (TOC 0xfc: 20 ms each). */
  static const guint8 block[] = { 0x81, 0x00, 0x00, 0x82, 0x02, 3, 5,
                                  0xfc, 1, 2, 0xfc, 1, 2, 3, 4, 0xfc, 1, 2, 3 };
  gsize at = b->len + 9;
  el_bytes (b, 0xa3, block, sizeof block);
  master_end (b, cl);
  master_end (b, seg);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 3);
  g_assert_cmpuint (sample_table_duration (&t->table, 3), ==, 3 * 960);
  g_assert_cmpuint (rec->extents->len, ==, 1);
  Extent *e = &g_array_index (rec->extents, Extent, 0);
  g_assert_cmpuint (e->source_offset, ==, at + 7);
  g_assert_cmpuint (e->length, ==, 12);
  g_byte_array_unref (b);
}

/* A BlockGroup: key frame unless it has a ReferenceBlock; BlockDuration
 * gives the last frame its duration when the Segment ends. */
static void
block_group (GByteArray *b, guint track, gint16 ts, gboolean referenced, guint64 duration, gsize size)
{
  gsize g = master_begin (b, 0xa0);
  GByteArray *block = g_byte_array_new ();
  guint8 h[4] = { (guint8) (0x80 | track), (guint8) ((guint16) ts >> 8), (guint8) ts, 0 };
  g_byte_array_append (block, h, 4);
  for (gsize i = 0; i < size; i++) {
    guint8 c = (guint8) i;
    g_byte_array_append (block, &c, 1);
  }
  el_bytes (b, 0xa1, block->data, block->len);
  g_byte_array_unref (block);
  if (referenced) {
    static const guint8 minus_40[1] = { 0xd8 };
    el_bytes (b, 0xfb, minus_40, 1);
  }
  if (duration)
    el_uint (b, 0x9b, duration);
  master_end (b, g);
}

static GByteArray *
build_block_groups (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 1, "V_MPEG4/ISO/AVC", avcc, sizeof avcc);
  track_entry (b, 2, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  block_group (b, 1, 0, FALSE, 0, 30);
  block_group (b, 1, 40, TRUE, 0, 20);
  block_group (b, 1, 80, FALSE, 0, 30);
  block_group (b, 1, 120, TRUE, 100, 20);
  /* Audio in one Xiph-laced and one EBML-laced block. */
  static const guint8 xiph[] = { 0x82, 0x00, 0x00, 0x82, 0x01, 3, 0xfc, 1, 2, 0xfc, 1, 2, 3 };
  static const guint8 ebml[] = { 0x82, 0x00, 0x28, 0x86, 0x01, 0x83, 0xfc, 1, 2, 0xfc, 1 };
  el_bytes (b, 0xa3, xiph, sizeof xiph);
  el_bytes (b, 0xa3, ebml, sizeof ebml);
  master_end (b, cl);
  master_end (b, seg);
  return b;
}

static void
test_block_groups (void)
{
  g_autoptr (GByteArray) b = build_block_groups ();
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  g_assert_false (rec->failed);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 4);
  g_assert_false (t->table.all_sync);
  g_assert_cmpuint (t->table.syncs->len, ==, 2);
  g_assert_cmpuint (g_array_index (t->table.syncs, guint32, 1), ==, 2);
  g_assert_cmpuint (sample_table_duration (&t->table, 4), ==, (3 * 40 + 100) * 90);
  g_assert_cmpuint (g_array_index (t->table.sizes, guint32, 3), ==, 20);
  Track *a = g_ptr_array_index (rec->tracks, 1);
  g_assert_cmpuint (a->table.count, ==, 4);
  g_assert_cmpuint (sample_table_bytes (&a->table, 4), ==, 3 + 4 + 3 + 2);
}

static void
test_incremental_groups_and_lacing_equals_whole (void)
{
  g_autoptr (GByteArray) b = build_block_groups ();
  check_incremental (b);
}

/* Block bytes: header, then a frame. */
static void
simple_block_bytes (GByteArray *b, guint track, gint16 ts, const guint8 *frame, gsize len)
{
  GByteArray *block = g_byte_array_new ();
  guint8 h[4] = { (guint8) (0x80 | track), (guint8) ((guint16) ts >> 8), (guint8) ts, 0x80 };
  g_byte_array_append (block, h, 4);
  g_byte_array_append (block, frame, (guint) len);
  el_bytes (b, 0xa3, block->data, block->len);
  g_byte_array_unref (block);
}

/* VP9 without CodecPrivate and AC-3 take their sample entries from their
 * first frames; the tracks keep the TrackEntry order all the same. */
static void
test_configured_from_first_frames (void)
{
  static const guint8 vp9_key[] = { 0x92, 0x49, 0x83, 0x42, 0x10, 0, 0, 0 };   /* profile 2, 10 bits */
  static const guint8 ac3[] = { 0x0b, 0x77, 0, 0, 0x1c, 0x40, 0xe1, 0x00, 0, 0 };
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 1, "V_VP9", NULL, 0);
  track_entry (b, 2, 2, "A_AC3", NULL, 0);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  simple_block_bytes (b, 2, 0, ac3, sizeof ac3);
  simple_block_bytes (b, 1, 0, vp9_key, sizeof vp9_key);
  simple_block_bytes (b, 2, 32, ac3, sizeof ac3);
  master_end (b, cl);
  master_end (b, seg);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 2);
  Track *v = g_ptr_array_index (rec->tracks, 0), *a = g_ptr_array_index (rec->tracks, 1);
  g_assert_cmpuint (v->id, ==, 1);
  g_assert_cmphex (v->codec, ==, FOURCC ('v', 'p', '0', '9'));
  gsize len;
  const guint8 *e = g_bytes_get_data (v->sample_descriptions, &len);
  g_assert_cmpuint (len, ==, 4 + 86 + 20);
  g_assert_cmpuint (e[4 + 86 + 12], ==, 2);                 /* profile */
  g_assert_cmpuint (e[4 + 86 + 14] >> 4, ==, 10);           /* bit depth */
  g_assert_cmphex (a->codec, ==, FOURCC ('a', 'c', '-', '3'));
  g_assert_cmpuint (a->timescale, ==, 48000);
  g_assert_cmpuint (a->table.count, ==, 2);
  g_assert_cmpuint (sample_table_duration (&a->table, 2), ==, 2 * 1536);
  g_byte_array_unref (b);
}

/* Legacy AAC CodecIDs carry no AudioSpecificConfig: it is built from the
 * ID and the sampling frequencies (HE-AAC: 24 kHz core, 48 kHz output). */
static void
test_aac_legacy_codec_id (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  gsize e = master_begin (b, 0xae);
  el_uint (b, 0xd7, 1);
  el_uint (b, 0x83, 2);
  el_string (b, 0x86, "A_AAC/MPEG4/LC/SBR");
  gsize au = master_begin (b, 0xe1);
  static const guint8 f24000[4] = { 0x46, 0xbb, 0x80, 0x00 };   /* 24000.0f */
  static const guint8 f48000[4] = { 0x47, 0x3b, 0x80, 0x00 };
  el_bytes (b, 0xb5, f24000, 4);
  el_bytes (b, 0x78b5, f48000, 4);
  el_uint (b, 0x9f, 2);
  master_end (b, au);
  master_end (b, e);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  simple_block (b, 1, 0, TRUE, 0x21, 10);
  simple_block (b, 1, 43, TRUE, 0x21, 10);
  master_end (b, cl);
  master_end (b, seg);
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmphex (t->codec, ==, FOURCC ('m', 'p', '4', 'a'));
  g_assert_cmpuint (t->timescale, ==, 48000);
  g_assert_cmpuint (sample_table_duration (&t->table, 2), ==, 2 * 2048);
  gsize len;
  const guint8 *d = g_bytes_get_data (t->sample_descriptions, &len);
  static const guint8 asc[5] = { 0x13, 0x10, 0x56, 0xe5, 0x98 };
  g_assert_cmpmem (d + len - 6 - 5, 5, asc, 5);   /* before the SLConfigDescriptor */
  g_byte_array_unref (b);
}

/* A video track that stops sending frames holds the audio behind its last
 * frame only up to MKV_MAX_PENDING_FRAMES; then the frame is released. */
static void
test_stalled_video_releases_held_frame (void)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  master_unknown (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 1, "V_VP8", NULL, 0);
  track_entry (b, 2, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  guint audio = MKV_MAX_PENDING_FRAMES + 100;
  for (guint c = 0; c * 1000 < audio; c++) {
    gsize cl = master_begin (b, 0x1f43b675);
    el_uint (b, 0xe7, c * 20000);
    if (c == 0)
      simple_block (b, 1, 0, TRUE, 0x10, 20);
    for (guint i = 0; i < 1000 && c * 1000 + i < audio; i++)
      simple_block (b, 2, (gint16) (i * 20), TRUE, 0xfc, 3);
    master_end (b, cl);
  }
  g_autoptr (Recording) rec = index_whole (b->data, b->len);
  Track *v = g_ptr_array_index (rec->tracks, 0), *a = g_ptr_array_index (rec->tracks, 1);
  g_assert_cmpuint (v->table.count, ==, 1);
  g_assert_cmpuint (a->table.count, >=, audio - MKV_MAX_PENDING_FRAMES);
  g_assert_cmpuint (a->table.count, <=, audio);
  g_byte_array_unref (b);
}

/* A Matroska file of one Opus track (20 ms frames) whose blocks carry the
 * given times, in milliseconds, indexed whole. */
static Recording *
index_opus_blocks (const gint16 *times, guint n)
{
  GByteArray *b = g_byte_array_new ();
  ebml_header (b);
  gsize seg = master_begin (b, 0x18538067);
  gsize tracks = master_begin (b, 0x1654ae6b);
  track_entry (b, 1, 2, "A_OPUS", opus_head, sizeof opus_head);
  master_end (b, tracks);
  gsize cl = master_begin (b, 0x1f43b675);
  el_uint (b, 0xe7, 0);
  for (guint i = 0; i < n; i++)
    simple_block (b, 1, times[i], TRUE, 0xfc, 10);
  master_end (b, cl);
  master_end (b, seg);
  Recording *rec = index_whole (b->data, b->len);
  g_byte_array_unref (b);
  return rec;
}

/* A hole in the audio timestamps keeps the frames after it in place: the
 * frame before it lasts until the next one (stts), with no composition
 * offset, and the recording's last frame keeps its codec duration. */
static void
test_audio_hole_keeps_sync (void)
{
  const gint16 times[] = { 0, 20, 1040, 1060 };   /* a second of silence (DTX) */
  g_autoptr (Recording) rec = index_opus_blocks (times, G_N_ELEMENTS (times));
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 4);
  gboolean negative;
  g_assert_false (sample_table_has_offsets (&t->table, 4, &negative));
  /* 20 ms frames at 48 kHz: 960, then 1020 ms up to the third, then 960, 960. */
  g_assert_cmpuint (t->table.durations->len, ==, 3);
  g_assert_cmpuint (sample_table_duration_run (&t->table, 0).delta, ==, 960);
  g_assert_cmpuint (sample_table_duration_run (&t->table, 1).delta, ==, 49920 - 960);
  g_assert_cmpuint (sample_table_duration_run (&t->table, 2).count, ==, 2);
  g_assert_cmpuint (sample_table_duration (&t->table, 4), ==, 49920 + 2 * 960);
}

/* Block times within a Matroska tick of where the codec durations lead are
 * rounding, not gaps: the codec durations stand. */
static void
test_audio_rounding_is_not_a_gap (void)
{
  const gint16 times[] = { 0, 21, 40, 61 };   /* 20 ms frames, block times rounded */
  g_autoptr (Recording) rec = index_opus_blocks (times, G_N_ELEMENTS (times));
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 4);
  g_assert_cmpuint (t->table.durations->len, ==, 1);
  g_assert_cmpuint (sample_table_duration (&t->table, 4), ==, 4 * 960);
}

static void
quiet (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) domain, (void) level, (void) message, (void) data;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  /* Damage tests log a warning each; the assertions say what matters. */
  g_log_set_handler ("livemp4", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, quiet, NULL);
  g_test_add_func ("/mkv/probe", test_probe_by_content);
  g_test_add_func ("/mkv/whole-file", test_whole_file_samples_and_timing);
  g_test_add_func ("/mkv/incremental/known-size", test_incremental_equals_whole);
  g_test_add_func ("/mkv/incremental/live", test_incremental_live_equals_whole);
  g_test_add_func ("/mkv/live-shows-every-frame", test_live_shows_every_frame);
  g_test_add_func ("/mkv/every-cut", test_every_cut_never_fails);
  g_test_add_func ("/mkv/damage/anywhere", test_damage_anywhere_is_survived);
  g_test_add_func ("/mkv/damage/keeps-samples-before", test_damage_keeps_samples_before_it);
  g_test_add_func ("/mkv/tracks/unsupported-left-out", test_unsupported_codec_left_out);
  g_test_add_func ("/mkv/tracks/after-first-cluster", test_tracks_after_first_cluster_ignored);
  g_test_add_func ("/mkv/timing/bframes", test_bframes_rebuild_decode_times);
  g_test_add_func ("/mkv/finish-releases-held-frames", test_finish_releases_held_frames);
  g_test_add_func ("/mkv/timing/audio-hole", test_audio_hole_keeps_sync);
  g_test_add_func ("/mkv/timing/audio-rounding-is-not-a-gap", test_audio_rounding_is_not_a_gap);
  g_test_add_func ("/mkv/block-groups", test_block_groups);
  g_test_add_func ("/mkv/timing/stalled-video", test_stalled_video_releases_held_frame);
  g_test_add_func ("/mkv/tracks/configured-from-first-frames", test_configured_from_first_frames);
  g_test_add_func ("/mkv/tracks/aac-legacy-codec-id", test_aac_legacy_codec_id);
  g_test_add_func ("/mkv/incremental/groups-and-lacing", test_incremental_groups_and_lacing_equals_whole);
  g_test_add_func ("/mkv/lacing/frames-are-samples", test_laced_frames_are_samples);
  return g_test_run ();
}

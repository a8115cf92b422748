/* test-mp4-salvage.c — the walk of a moov-less MP4's mdat (mp4_salvage.c) on
 * small files built here: `ftyp free mdat` (size 0) holding H.264 access
 * units (4-byte NAL lengths, SPS with VUI timing, PPS, slices) and MP3
 * frames, chunk by chunk as recorders interleave them.  Access unit
 * boundaries, growth byte by byte, truncated and hostile units, garbage, a
 * moov that appears at the end, and streams that are refused with a reason. */
#include <string.h>

#include "muxer/bytes.h"
#include "muxer/mp4_salvage.h"
#include "muxer/recording.h"

#define MP3_FRAME 417   /* MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding */

/* ---- building the stream ---- */

typedef struct {
  GByteArray *bytes;
  guint8 cur;
  guint n;
} Bits;

static void
bits_put (Bits *b, guint64 v, guint n)
{
  for (guint i = n; i-- > 0;) {
    b->cur = (guint8) (b->cur << 1 | ((v >> i) & 1));
    if (++b->n == 8) {
      g_byte_array_append (b->bytes, &b->cur, 1);
      b->cur = 0;
      b->n = 0;
    }
  }
}

static void
bits_ue (Bits *b, guint32 v)
{
  guint64 x = (guint64) v + 1;
  guint len = 0;
  while ((x >> len) > 1)
    len++;
  bits_put (b, 0, len);
  bits_put (b, x, len + 1);
}

/* rbsp_trailing_bits, then emulation prevention (7.4.1). */
static GByteArray *
bits_finish (Bits *b, guint8 header)
{
  bits_put (b, 1, 1);
  while (b->n)
    bits_put (b, 0, 1);
  GByteArray *nal = g_byte_array_new ();
  g_byte_array_append (nal, &header, 1);
  guint zeros = 0;
  for (guint i = 0; i < b->bytes->len; i++) {
    guint8 c = b->bytes->data[i], three = 3;
    if (zeros >= 2 && c <= 3) {
      g_byte_array_append (nal, &three, 1);
      zeros = 0;
    }
    g_byte_array_append (nal, &c, 1);
    zeros = c == 0 ? zeros + 1 : 0;
  }
  g_byte_array_unref (b->bytes);
  return nal;
}

/* A baseline SPS for 320x240, pic_order_cnt_type poc_type, VUI timing
 * num_units_in_tick 1 / time_scale (0: no timing_info), and
 * max_num_reorder_frames reorder (-1: no bitstream_restriction). */
static GByteArray *
sps_reorder (guint poc_type, guint32 time_scale, gint reorder)
{
  Bits b = { g_byte_array_new (), 0, 0 };
  bits_put (&b, 66, 8);
  bits_put (&b, 0, 8);
  bits_put (&b, 30, 8);
  bits_ue (&b, 0);          /* seq_parameter_set_id */
  bits_ue (&b, 0);          /* log2_max_frame_num_minus4 */
  bits_ue (&b, poc_type);
  if (poc_type == 0)
    bits_ue (&b, 2);        /* log2_max_pic_order_cnt_lsb_minus4 */
  bits_ue (&b, 1);          /* max_num_ref_frames */
  bits_put (&b, 0, 1);
  bits_ue (&b, 19);         /* 20 macroblocks wide */
  bits_ue (&b, 14);         /* 15 high */
  bits_put (&b, 1, 1);      /* frame_mbs_only_flag */
  bits_put (&b, 1, 1);      /* direct_8x8_inference_flag */
  bits_put (&b, 0, 1);      /* frame_cropping_flag */
  bits_put (&b, 1, 1);      /* vui_parameters_present_flag */
  bits_put (&b, 0, 4);      /* aspect ratio, overscan, video signal, chroma loc */
  bits_put (&b, time_scale != 0, 1);
  if (time_scale) {
    bits_put (&b, 1, 32);
    bits_put (&b, time_scale, 32);
    bits_put (&b, 1, 1);
  }
  bits_put (&b, 0, 3);      /* no HRD, pic_struct */
  bits_put (&b, reorder >= 0, 1);
  if (reorder >= 0) {
    bits_put (&b, 1, 1);
    bits_ue (&b, 2);
    bits_ue (&b, 1);
    bits_ue (&b, 16);
    bits_ue (&b, 16);
    bits_ue (&b, (guint) reorder);
    bits_ue (&b, (guint) reorder + 1);
  }
  return bits_finish (&b, 0x67);
}

static GByteArray *
sps (guint poc_type, guint32 time_scale)
{
  return sps_reorder (poc_type, time_scale, poc_type == 0 ? 2 : -1);
}

/* A slice: first_mb_in_slice, slice_type, PPS 0, frame_num, (idr_pic_id),
 * (pic_order_cnt_lsb), then payload bytes.  A B slice is not a reference. */
static GByteArray *
slice_of (gboolean idr, gboolean b_slice, guint first_mb, guint frame_num, gint poc_lsb, guint payload)
{
  Bits b = { g_byte_array_new (), 0, 0 };
  bits_ue (&b, first_mb);
  bits_ue (&b, idr ? 7 : b_slice ? 6 : 5);
  bits_ue (&b, 0);
  bits_put (&b, frame_num, 4);
  if (idr)
    bits_ue (&b, 0);
  if (poc_lsb >= 0)
    bits_put (&b, (guint) poc_lsb, 6);
  for (guint i = 0; i < payload; i++)
    bits_put (&b, 0xa5, 8);
  return bits_finish (&b, idr ? 0x65 : b_slice ? 0x01 : 0x41);
}

static GByteArray *
slice (gboolean idr, guint first_mb, guint frame_num, gint poc_lsb, guint payload)
{
  return slice_of (idr, FALSE, first_mb, frame_num, poc_lsb, payload);
}

static void
put_nal (GByteArray *f, GByteArray *nal)
{
  guint8 len[4] = { (guint8) (nal->len >> 24), (guint8) (nal->len >> 16), (guint8) (nal->len >> 8), (guint8) nal->len };
  g_byte_array_append (f, len, 4);
  g_byte_array_append (f, nal->data, nal->len);
  g_byte_array_unref (nal);
}

static void
put_raw_nal (GByteArray *f, const guint8 *nal, guint len)
{
  put_nal (f, g_byte_array_append (g_byte_array_new (), nal, len));
}

static void
put_mp3 (GByteArray *f, guint n)
{
  for (guint i = 0; i < n; i++) {
    guint8 frame[MP3_FRAME] = { 0xff, 0xfb, 0x90, 0x00 };
    memset (frame + 4, 0x55, sizeof frame - 4);
    g_byte_array_append (f, frame, sizeof frame);
  }
}

static const guint8 AUD[] = { 0x09, 0xf0 };
static const guint8 PPS[] = { 0x68, 0xce, 0x38, 0x80 };

/* A key frame: AUD, SPS, PPS, IDR slice. */
static void
put_key (GByteArray *f, guint poc_type, guint32 time_scale)
{
  put_raw_nal (f, AUD, sizeof AUD);
  put_nal (f, sps (poc_type, time_scale));
  put_raw_nal (f, PPS, sizeof PPS);
  put_nal (f, slice (TRUE, 0, 0, poc_type == 0 ? 0 : -1, 300));
}

static void
put_p (GByteArray *f, guint frame_num, gint poc_lsb)
{
  put_raw_nal (f, AUD, sizeof AUD);
  put_nal (f, slice (FALSE, 0, frame_num, poc_lsb, 100 + frame_num));
}

/* ftyp, free, mdat of size 0; returns the file. */
static GByteArray *
file_head (void)
{
  static const guint8 head[] = { 0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0,
                                 'i', 's', 'o', 'm', 'a', 'v', 'c', '1', 0, 0, 0, 8, 'f', 'r', 'e', 'e',
                                 0, 0, 0, 0, 'm', 'd', 'a', 't' };
  return g_byte_array_append (g_byte_array_new (), head, sizeof head);
}
#define PAYLOAD 40u

/* The Kurento-like file: key, 2 P, 3 MP3 frames, 2 P, 2 MP3 frames. */
static GByteArray *
interleaved (void)
{
  GByteArray *f = file_head ();
  put_key (f, 2, 50);
  put_p (f, 1, -1);
  put_p (f, 2, -1);
  put_mp3 (f, 3);
  put_p (f, 3, -1);
  put_p (f, 4, -1);
  put_mp3 (f, 2);
  return f;
}

/* ---- looking at the result ---- */

static Track *
track (Recording *rec, guint32 handler)
{
  for (guint i = 0; i < rec->tracks->len; i++) {
    Track *t = g_ptr_array_index (rec->tracks, i);
    if (t->handler == handler)
      return t;
  }
  return NULL;
}

static guint32
count (Recording *rec, guint32 handler)
{
  g_autoptr (Snapshot) snap = recording_snapshot (rec);
  for (guint i = 0; i < rec->tracks->len; i++)
    if (((Track *) g_ptr_array_index (rec->tracks, i))->handler == handler)
      return snap->counts[i];
  return 0;
}

#define VIDE FOURCC ('v', 'i', 'd', 'e')
#define SOUN FOURCC ('s', 'o', 'u', 'n')

static Recording *
index_whole (GByteArray *f, gboolean finish)
{
  Recording *rec = recording_new (&mp4_salvage_indexer, "test");
  Source src = source_from_memory (f->data, f->len);
  recording_update (rec, &src);
  if (finish)
    recording_finish (rec, &src);
  return rec;
}

/* ---- tests ---- */

static void
test_probe (void)
{
  g_autoptr (GByteArray) f = interleaved ();
  Source src = source_from_memory (f->data, f->len);
  gboolean need_more;
  g_assert_true (recording_detect (&src, &need_more) == &mp4_salvage_indexer);
  g_assert_null (mp4_salvage_why_not (&src));
  /* Only the head: nothing to tell yet, and not refused for good. */
  Source head = source_from_memory (f->data, PAYLOAD + 10);
  g_assert_null (recording_detect (&head, &need_more));
  g_assert_true (need_more);
}

static void
test_interleaved (void)
{
  g_autoptr (GByteArray) f = interleaved ();
  g_autoptr (Recording) rec = index_whole (f, TRUE);
  g_assert_false (recording_failed (rec));
  Track *v = track (rec, VIDE), *a = track (rec, SOUN);
  g_assert_nonnull (v);
  g_assert_nonnull (a);
  g_assert_cmpuint (v->codec, ==, FOURCC ('a', 'v', 'c', '1'));
  g_assert_cmpuint (a->codec, ==, FOURCC ('m', 'p', '4', 'a'));
  g_assert_cmpuint (v->timescale, ==, 50);
  g_assert_cmpuint (a->timescale, ==, 44100);
  g_assert_cmpuint (v->width >> 16, ==, 320);
  g_assert_cmpuint (v->height >> 16, ==, 240);
  g_assert_cmpuint (count (rec, VIDE), ==, 5);
  g_assert_cmpuint (count (rec, SOUN), ==, 5);
  g_assert_cmpuint (sample_table_sync_count (&v->table, 5), ==, 1);
  g_assert_cmpuint (sample_table_duration (&v->table, 5), ==, 5 * 2);
  g_assert_cmpuint (sample_table_duration (&a->table, 5), ==, 5 * 1152);
  g_assert_cmpuint (sample_table_bytes (&a->table, 5), ==, 5 * MP3_FRAME);
  /* Every byte of the mdat is a sample: the payload is the mdat's body. */
  g_assert_cmpuint (rec->payload_len, ==, f->len - PAYLOAD);
  g_assert_cmpuint (sample_table_bytes (&v->table, 5) + 5 * MP3_FRAME, ==, f->len - PAYLOAD);
}

/* Fed as it grows, a few bytes at a time: the same tables as at once, and
 * an access unit is shown only once the next unit shows that it ended. */
static void
test_growing (void)
{
  g_autoptr (GByteArray) f = interleaved ();
  g_autoptr (Recording) whole = index_whole (f, TRUE);
  g_autoptr (Recording) rec = recording_new (&mp4_salvage_indexer, "test");
  guint32 last_v = 0;
  for (guint n = PAYLOAD; n <= f->len; n += 7) {
    Source src = source_from_memory (f->data, n);
    recording_update (rec, &src);
    g_assert_false (recording_failed (rec));
    guint32 v = count (rec, VIDE);
    g_assert_cmpuint (v, >=, last_v);
    last_v = v;
  }
  Source src = source_from_memory (f->data, f->len);
  recording_update (rec, &src);
  /* The last P frame is followed by audio: complete without a finish. */
  g_assert_cmpuint (count (rec, VIDE), ==, 5);
  g_assert_cmpuint (count (rec, SOUN), ==, 5);
  g_assert_cmpuint (rec->payload_len, ==, whole->payload_len);
  g_assert_cmpuint (sample_table_bytes (&track (rec, VIDE)->table, 5), ==,
                    sample_table_bytes (&track (whole, VIDE)->table, 5));
}

/* The last access unit at the end of the file is shown once the writer is
 * done (finish), not before: another slice of it could still come. */
static void
test_last_access_unit (void)
{
  g_autoptr (GByteArray) f = file_head ();
  put_key (f, 2, 50);
  put_p (f, 1, -1);
  g_autoptr (Recording) rec = index_whole (f, FALSE);
  g_assert_cmpuint (count (rec, VIDE), ==, 1);
  Source src = source_from_memory (f->data, f->len);
  recording_finish (rec, &src);
  g_assert_cmpuint (count (rec, VIDE), ==, 2);
  g_assert_cmpuint (rec->payload_len, ==, f->len - PAYLOAD);
}

/* Access unit boundaries (7.4.1.2.3): a second slice of a picture
 * (first_mb_in_slice > 0) stays in it; an AUD or a slice with
 * first_mb_in_slice 0 begins the next. */
static void
test_access_unit_boundaries (void)
{
  g_autoptr (GByteArray) f = file_head ();
  put_key (f, 2, 50);
  put_nal (f, slice (TRUE, 150, 0, -1, 50));    /* second slice of the key frame */
  put_nal (f, slice (FALSE, 0, 1, -1, 60));     /* a P frame without an AUD */
  put_nal (f, slice (FALSE, 100, 1, -1, 60));   /* and its second slice */
  put_p (f, 2, -1);
  put_mp3 (f, 1);
  g_autoptr (Recording) rec = index_whole (f, FALSE);
  g_assert_false (recording_failed (rec));
  g_assert_cmpuint (count (rec, VIDE), ==, 3);
  Track *v = track (rec, VIDE);
  guint64 key_size = sample_table_bytes (&v->table, 1);
  /* AUD + SPS + PPS + two slices, each with its 4-byte length. */
  g_assert_cmpuint (key_size, >, 300 + 50);
  g_assert_cmpuint (sample_table_sync_count (&v->table, 3), ==, 1);
}

/* Frames before the first key frame with its parameter sets are left out. */
static void
test_before_key_frame (void)
{
  g_autoptr (GByteArray) f = file_head ();
  put_mp3 (f, 2);
  put_p (f, 7, -1);
  put_p (f, 8, -1);
  put_key (f, 2, 50);
  put_p (f, 1, -1);
  put_mp3 (f, 1);
  g_autoptr (Recording) rec = index_whole (f, TRUE);
  g_assert_false (recording_failed (rec));
  g_assert_cmpuint (count (rec, VIDE), ==, 2);
  g_assert_cmpuint (count (rec, SOUN), ==, 3);
  g_autofree char *problems = recording_describe_problems (rec);
  g_assert_nonnull (strstr (problems, "2 video frames before the first key frame"));
}

/* A crash cuts a NAL unit: what ends before it is shown, the cut unit and
 * its access unit are not, finished or not. */
static void
test_truncated (void)
{
  g_autoptr (GByteArray) f = interleaved ();
  guint whole = f->len;
  put_p (f, 5, -1);
  for (guint cut = whole + 1; cut < f->len; cut++) {
    GByteArray part = { .data = f->data, .len = cut };
    g_autoptr (Recording) rec = index_whole (&part, TRUE);
    g_assert_false (recording_failed (rec));
    g_assert_cmpuint (count (rec, VIDE), ==, 5);
    g_assert_cmpuint (rec->payload_len, ==, whole - PAYLOAD);
  }
}

/* Bytes that are neither a NAL unit nor an audio frame stop the walk with a
 * reason; what came before stays shown. */
static void
test_garbage (void)
{
  g_autoptr (GByteArray) f = interleaved ();
  guint whole = f->len;
  static const guint8 junk[] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4 };
  g_byte_array_append (f, junk, sizeof junk);
  g_autoptr (Recording) rec = index_whole (f, TRUE);
  g_assert_true (recording_failed (rec));
  g_autofree char *problems = recording_describe_problems (rec);
  g_assert_nonnull (strstr (problems, "neither an H.264 NAL unit nor an MP3 or AC-3 frame"));
  g_assert_cmpuint (count (rec, SOUN), ==, 5);
  g_assert_cmpuint (rec->payload_len, ==, whole - PAYLOAD);
}

/* Hostile lengths: 0, a forbidden bit, a length past a sized mdat's end,
 * past the file's end (waits: a recorder may still write it). */
static void
test_hostile_lengths (void)
{
  static const guint8 zero_len[] = { 0, 0, 0, 0, 0x41 };
  static const guint8 forbidden[] = { 0, 0, 0, 4, 0xc1, 0, 0, 0 };
  static const guint8 huge[] = { 0, 0xff, 0xff, 0xff, 0x41, 0x80 };
  const struct {
    const guint8 *bytes;
    gsize len;
    gboolean fails;
  } cases[] = { { zero_len, sizeof zero_len, TRUE }, { forbidden, sizeof forbidden, TRUE }, { huge, sizeof huge, FALSE } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) f = interleaved ();
    g_byte_array_append (f, cases[i].bytes, (guint) cases[i].len);
    g_autoptr (Recording) rec = index_whole (f, TRUE);
    g_assert_cmpint (recording_failed (rec), ==, cases[i].fails);
    g_assert_cmpuint (count (rec, VIDE), ==, 5);
  }
  /* The mdat sized to end at the file's end, a NAL unit claiming more. */
  g_autoptr (GByteArray) f = interleaved ();
  g_byte_array_append (f, huge, sizeof huge);
  guint32 mdat = f->len - (PAYLOAD - 8);
  f->data[PAYLOAD - 8] = (guint8) (mdat >> 24);
  f->data[PAYLOAD - 7] = (guint8) (mdat >> 16);
  f->data[PAYLOAD - 6] = (guint8) (mdat >> 8);
  f->data[PAYLOAD - 5] = (guint8) mdat;
  g_autoptr (Recording) rec = index_whole (f, TRUE);
  g_assert_true (recording_failed (rec));
  g_autofree char *problems = recording_describe_problems (rec);
  g_assert_nonnull (strstr (problems, "past the end of the mdat"));
}

/* The recorder finishes the file: the mdat gets its size and a moov
 * follows.  The recording is finalised (mp4.c reads it from then on). */
static void
test_moov_appears (void)
{
  g_autoptr (GByteArray) f = interleaved ();
  g_autoptr (Recording) rec = index_whole (f, FALSE);
  g_assert_false (recording_finalised (rec));
  guint32 mdat = f->len - (PAYLOAD - 8);
  f->data[PAYLOAD - 8] = (guint8) (mdat >> 24);
  f->data[PAYLOAD - 7] = (guint8) (mdat >> 16);
  f->data[PAYLOAD - 6] = (guint8) (mdat >> 8);
  f->data[PAYLOAD - 5] = (guint8) mdat;
  static const guint8 moov[] = { 0, 0, 0, 8, 'm', 'o', 'o', 'v' };
  g_byte_array_append (f, moov, sizeof moov);
  Source src = source_from_memory (f->data, f->len);
  recording_update (rec, &src);
  g_assert_true (recording_finalised (rec));
  g_assert_false (recording_failed (rec));
  g_assert_cmpuint (count (rec, VIDE), ==, 5);
}

/* A key frame (pic_order_cnt_type 0) and P frames of the given
 * pic_order_cnt_lsb, then an MP3 frame. */
static GByteArray *
poc_file (const gint *lsb, guint n)
{
  GByteArray *f = file_head ();
  put_key (f, 0, 50);
  for (guint i = 0; i < n; i++)
    put_p (f, i + 1, lsb[i]);
  put_mp3 (f, 1);
  return f;
}

/* Streams the walk cannot time exactly are refused with the reason. */
static void
test_refused (void)
{
  /* AAC raw data blocks in the mdat. */
  g_autoptr (GByteArray) aac = file_head ();
  static const guint8 block[] = { 0x21, 0x1b, 0x94, 0x05, 0x2d, 0x00, 0x11, 0x22 };
  for (int i = 0; i < 8; i++)
    g_byte_array_append (aac, block, sizeof block);
  /* No timing_info in the SPS. */
  g_autoptr (GByteArray) untimed = file_head ();
  put_key (untimed, 2, 0);
  put_p (untimed, 1, -1);
  put_mp3 (untimed, 1);
  /* pic_order_cnt_type 0 without max_num_reorder_frames. */
  g_autoptr (GByteArray) reordered = file_head ();
  put_raw_nal (reordered, AUD, sizeof AUD);
  put_nal (reordered, sps_reorder (0, 50, -1));
  put_raw_nal (reordered, PPS, sizeof PPS);
  put_nal (reordered, slice (TRUE, 0, 0, 0, 300));
  put_p (reordered, 1, 6);
  put_mp3 (reordered, 1);
  const struct {
    GByteArray *f;
    const char *why;
  } cases[] = { { aac, "neither an H.264 NAL unit nor an MP3 or AC-3 frame" }, { untimed, "no timing_info" },
                { reordered, "B-frames" } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    Source src = source_from_memory (cases[i].f->data, cases[i].f->len);
    gboolean need_more;
    g_assert_null (recording_detect (&src, &need_more));
    g_autofree char *why = mp4_salvage_why_not (&src);
    g_assert_nonnull (why);
    g_assert_nonnull (strstr (why, cases[i].why));
  }
  /* Reordered further than max_num_reorder_frames (2) says: refused. */
  static const gint further_lsb[] = { 20, 22, 24, 2 };
  g_autoptr (GByteArray) further = poc_file (further_lsb, G_N_ELEMENTS (further_lsb));
  g_autoptr (Recording) bad = index_whole (further, TRUE);
  g_assert_true (recording_failed (bad));
  g_autofree char *problems = recording_describe_problems (bad);
  g_assert_nonnull (strstr (problems, "reordered further than max_num_reorder_frames"));
  /* pic_order_cnt_type 0 in presentation order is walked. */
  static const gint ordered_lsb[] = { 2, 4 };
  g_autoptr (GByteArray) ordered = poc_file (ordered_lsb, G_N_ELEMENTS (ordered_lsb));
  g_autoptr (Recording) rec = index_whole (ordered, TRUE);
  g_assert_false (recording_failed (rec));
  g_assert_cmpuint (count (rec, VIDE), ==, 3);
}

/* B-frames (pic_order_cnt_type 0, max_num_reorder_frames 1): I0 P4 B2 P8 B6
 * in decode order are presented I0 B2 P4 B6 P8.  Composition offsets of
 * (place - decode number + 1) frames, an edit of one frame; samples
 * (and the audio after them) are appended once their place is known. */
static void
test_b_frames (void)
{
  g_autoptr (GByteArray) f = file_head ();
  put_raw_nal (f, AUD, sizeof AUD);
  put_nal (f, sps_reorder (0, 50, 1));
  put_raw_nal (f, PPS, sizeof PPS);
  put_nal (f, slice (TRUE, 0, 0, 0, 300));
  put_nal (f, slice_of (FALSE, FALSE, 0, 1, 8, 90));
  put_nal (f, slice_of (FALSE, TRUE, 0, 2, 4, 40));
  put_nal (f, slice_of (FALSE, FALSE, 0, 2, 16, 91));
  put_nal (f, slice_of (FALSE, TRUE, 0, 3, 12, 41));
  put_mp3 (f, 2);
  g_autoptr (Recording) rec = index_whole (f, FALSE);
  g_assert_false (recording_failed (rec));
  /* P16's place waits for the next frame (or the end), and the samples
   * after it in the file for it. */
  g_assert_cmpuint (count (rec, VIDE), ==, 3);
  g_assert_cmpuint (count (rec, SOUN), ==, 0);
  Source src = source_from_memory (f->data, f->len);
  recording_finish (rec, &src);
  g_assert_cmpuint (count (rec, VIDE), ==, 5);
  g_assert_cmpuint (count (rec, SOUN), ==, 2);
  Track *v = track (rec, VIDE);
  gboolean negative;
  g_assert_true (sample_table_has_offsets (&v->table, 5, &negative));
  g_assert_false (negative);
  g_assert_cmpint (sample_table_min_offset (&v->table, 5), ==, 0);
  g_assert_cmpint (v->edit_base, ==, -2);
  /* offsets 1 2 0 2 0 frames: the runs are 1, 2, 0, 2, 0. */
  guint32 last;
  g_assert_cmpuint (sample_table_offset_runs (&v->table, 5, &last), ==, 5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/mp4-salvage/probe", test_probe);
  g_test_add_func ("/mp4-salvage/interleaved", test_interleaved);
  g_test_add_func ("/mp4-salvage/growing", test_growing);
  g_test_add_func ("/mp4-salvage/last-access-unit", test_last_access_unit);
  g_test_add_func ("/mp4-salvage/access-unit-boundaries", test_access_unit_boundaries);
  g_test_add_func ("/mp4-salvage/before-key-frame", test_before_key_frame);
  g_test_add_func ("/mp4-salvage/truncated", test_truncated);
  g_test_add_func ("/mp4-salvage/garbage", test_garbage);
  g_test_add_func ("/mp4-salvage/hostile-lengths", test_hostile_lengths);
  g_test_add_func ("/mp4-salvage/moov-appears", test_moov_appears);
  g_test_add_func ("/mp4-salvage/refused", test_refused);
  g_test_add_func ("/mp4-salvage/b-frames", test_b_frames);
  return g_test_run ();
}

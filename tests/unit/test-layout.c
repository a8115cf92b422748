/* test-layout.c — the virtual file: header structure, the read map, and the
 * moov parsed back against the samples the source was built from. */
#include <fcntl.h>
#include <unistd.h>

#include "fmp4-builder.h"
#include "muxer/layout.h"

#define N(a) G_N_ELEMENTS (a)

static const FbSample three[] = {
  { .duration = 3000, .size = 5, .flags = 0, .composition_offset = 6000 },
  { .duration = 3000, .size = 3, .flags = FB_NON_SYNC, .composition_offset = -3000 },
  { .duration = 3600, .size = 4, .flags = FB_NON_SYNC | FB_DEPENDS_YES, .composition_offset = 0 },
};

static Layout *
layout_of (Recording *rec)
{
  return layout_new (rec, recording_snapshot (rec));
}

/* Reads [offset, offset + len) of the virtual file, source bytes from src. */
static gsize
read_range (Layout *l, const guint8 *src, guint64 offset, gsize len, GByteArray *out)
{
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) header = g_byte_array_new ();
  gsize n = layout_read (l, NULL, offset, len, pieces, header);
  gsize sum = 0;
  for (guint i = 0; i < pieces->len; i++) {
    const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
    g_assert_cmpuint (p->len, >, 0);
    g_byte_array_append (out, p->data ? p->data : src + p->source_offset, p->len);
    sum += p->len;
  }
  g_assert_cmpuint (sum, ==, n);
  return n;
}

static GByteArray *
read_all (Layout *l, const guint8 *src)
{
  GByteArray *out = g_byte_array_new ();
  g_assert_cmpuint (read_range (l, src, 0, G_MAXSIZE, out), ==, l->size);
  return out;
}

/* ---- parsing the moov back ------------------------------------------------ */

static gboolean
find_box (ByteReader parent, guint32 type, ByteReader *body)
{
  BoxHeader h;
  ByteReader b;
  while (byte_reader_remaining (&parent) > 0) {
    g_assert_true (byte_reader_box (&parent, &h, &b));
    if (h.type == type) {
      *body = b;
      return TRUE;
    }
  }
  return FALSE;
}

static guint32
u32 (ByteReader *r)
{
  guint32 v;
  g_assert_true (byte_reader_u32 (r, &v));
  return v;
}

static guint8
full_header (ByteReader *r)
{
  guint32 vf = u32 (r);
  return vf >> 24;
}

typedef struct {
  guint32 id;
  guint8 tkhd_version, mdhd_version;
  gboolean has_edts, has_stss, has_ctts, stsz_compact, co64;
  guint8 ctts_version;
  guint32 elst_entries;
  guint64 elst_first_duration;
  gint64 elst_first_media_time;
  GArray *samples;     /* FbSample: size, duration, composition_offset, sync, description_index, offset */
} Trak;

static void
trak_clear (Trak *t)
{
  g_clear_pointer (&t->samples, g_array_unref);
}

static void
parse_stbl (ByteReader stbl, Trak *t)
{
  ByteReader b;
  /* stsz */
  g_assert_true (find_box (stbl, FOURCC ('s', 't', 's', 'z'), &b));
  full_header (&b);
  guint32 constant = u32 (&b), count = u32 (&b);
  t->stsz_compact = constant != 0;
  t->samples = g_array_new (FALSE, TRUE, sizeof (FbSample));
  g_array_set_size (t->samples, count);
  for (guint32 i = 0; i < count; i++)
    g_array_index (t->samples, FbSample, i).size = constant ? constant : u32 (&b);
  g_assert_cmpuint (byte_reader_remaining (&b), ==, 0);
  /* stts */
  g_assert_true (find_box (stbl, FOURCC ('s', 't', 't', 's'), &b));
  full_header (&b);
  guint32 entries = u32 (&b), k = 0;
  for (guint32 e = 0; e < entries; e++) {
    guint32 c = u32 (&b), delta = u32 (&b);
    g_assert_cmpuint (c, >, 0);
    for (guint32 i = 0; i < c; i++, k++) {
      g_assert_cmpuint (k, <, count);
      g_array_index (t->samples, FbSample, k).duration = delta;
    }
  }
  g_assert_cmpuint (k, ==, count);
  /* ctts */
  t->has_ctts = find_box (stbl, FOURCC ('c', 't', 't', 's'), &b);
  if (t->has_ctts) {
    t->ctts_version = full_header (&b);
    entries = u32 (&b);
    k = 0;
    for (guint32 e = 0; e < entries; e++) {
      guint32 c = u32 (&b), off = u32 (&b);
      for (guint32 i = 0; i < c; i++, k++) {
        g_assert_cmpuint (k, <, count);
        g_array_index (t->samples, FbSample, k).composition_offset = (gint32) off;
      }
    }
    g_assert_cmpuint (k, ==, count);
  }
  /* stss */
  t->has_stss = find_box (stbl, FOURCC ('s', 't', 's', 's'), &b);
  for (guint32 i = 0; i < count; i++)
    g_array_index (t->samples, FbSample, i).sync = !t->has_stss;
  if (t->has_stss) {
    full_header (&b);
    entries = u32 (&b);
    guint32 prev = 0;
    for (guint32 e = 0; e < entries; e++) {
      guint32 n = u32 (&b);
      g_assert_cmpuint (n, >, prev);
      g_assert_cmpuint (n, <=, count);
      g_array_index (t->samples, FbSample, n - 1).sync = TRUE;
      prev = n;
    }
  }
  /* stco / co64 */
  g_autoptr (GArray) offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  t->co64 = find_box (stbl, FOURCC ('c', 'o', '6', '4'), &b);
  if (!t->co64)
    g_assert_true (find_box (stbl, FOURCC ('s', 't', 'c', 'o'), &b));
  full_header (&b);
  entries = u32 (&b);
  for (guint32 e = 0; e < entries; e++) {
    guint64 off;
    g_assert_true (byte_reader_uint_n (&b, t->co64 ? 8 : 4, &off));
    g_array_append_val (offsets, off);
  }
  /* stsc: samples of every chunk */
  g_assert_true (find_box (stbl, FOURCC ('s', 't', 's', 'c'), &b));
  full_header (&b);
  entries = u32 (&b);
  guint32 *first = g_new0 (guint32, entries + 1), *per = g_new0 (guint32, entries + 1), *sdi = g_new0 (guint32, entries + 1);
  for (guint32 e = 0; e < entries; e++) {
    first[e] = u32 (&b);
    per[e] = u32 (&b);
    sdi[e] = u32 (&b);
    g_assert_cmpuint (first[e], >=, 1);
    if (e > 0)
      g_assert_cmpuint (first[e], >, first[e - 1]);
  }
  k = 0;
  guint e = 0;
  for (guint32 c = 0; c < offsets->len; c++) {
    while (e + 1 < entries && first[e + 1] <= c + 1)
      e++;
    guint64 pos = g_array_index (offsets, guint64, c);
    for (guint32 i = 0; i < per[e]; i++, k++) {
      g_assert_cmpuint (k, <, count);
      FbSample *s = &g_array_index (t->samples, FbSample, k);
      s->offset = pos;
      s->description_index = sdi[e];
      pos += s->size;
    }
  }
  g_assert_cmpuint (k, ==, count);
  g_free (first);
  g_free (per);
  g_free (sdi);
}

/* Parses every trak of the moov in the header. */
static GArray *
parse_moov (Layout *l)
{
  g_autoptr (GBytes) header = layout_header (l);
  const guint8 *data = g_bytes_get_data (header, NULL);
  ByteReader file, moov, b;
  BoxHeader h;
  byte_reader_init (&file, data, l->header_len);
  g_assert_true (byte_reader_box (&file, &h, &b));
  g_assert_cmphex (h.type, ==, FOURCC ('f', 't', 'y', 'p'));
  g_assert_true (byte_reader_box (&file, &h, &moov));
  g_assert_cmphex (h.type, ==, FOURCC ('m', 'o', 'o', 'v'));
  GArray *traks = g_array_new (FALSE, TRUE, sizeof (Trak));
  g_array_set_clear_func (traks, (GDestroyNotify) trak_clear);
  ByteReader r = moov;
  while (byte_reader_remaining (&r) > 0) {
    g_assert_true (byte_reader_box (&r, &h, &b));
    if (h.type != FOURCC ('t', 'r', 'a', 'k'))
      continue;
    Trak t = { 0 };
    ByteReader tkhd, mdia, mdhd, minf, stbl, edts, elst;
    g_assert_true (find_box (b, FOURCC ('t', 'k', 'h', 'd'), &tkhd));
    t.tkhd_version = full_header (&tkhd);
    g_assert_true (byte_reader_skip (&tkhd, t.tkhd_version ? 16 : 8));
    t.id = u32 (&tkhd);
    t.has_edts = find_box (b, FOURCC ('e', 'd', 't', 's'), &edts);
    if (t.has_edts) {
      g_assert_true (find_box (edts, FOURCC ('e', 'l', 's', 't'), &elst));
      guint8 v = full_header (&elst);
      t.elst_entries = u32 (&elst);
      guint64 mt;
      g_assert_true (byte_reader_uint_n (&elst, v ? 8 : 4, &t.elst_first_duration));
      g_assert_true (byte_reader_uint_n (&elst, v ? 8 : 4, &mt));
      t.elst_first_media_time = v ? (gint64) mt : (gint64) (gint32) mt;
    }
    g_assert_true (find_box (b, FOURCC ('m', 'd', 'i', 'a'), &mdia));
    g_assert_true (find_box (mdia, FOURCC ('m', 'd', 'h', 'd'), &mdhd));
    t.mdhd_version = full_header (&mdhd);
    g_assert_true (find_box (mdia, FOURCC ('m', 'i', 'n', 'f'), &minf));
    g_assert_true (find_box (minf, FOURCC ('s', 't', 'b', 'l'), &stbl));
    parse_stbl (stbl, &t);
    g_array_append_val (traks, t);
  }
  return traks;
}

static Trak *
trak_by_id (GArray *traks, guint32 id)
{
  for (guint i = 0; i < traks->len; i++)
    if (g_array_index (traks, Trak, i).id == id)
      return &g_array_index (traks, Trak, i);
  return NULL;
}

/* Every sample of the moov against the builder's: values, and the bytes at
 * the chunk offsets in the virtual file are the sample's own. */
static void
assert_moov_matches (Layout *l, const Fmp4Builder *b, const GByteArray *file)
{
  g_autoptr (GArray) traks = parse_moov (l);
  for (guint i = 0; i < b->tracks->len; i++) {
    guint32 id = g_array_index (b->tracks, FbTrack, i).id;
    g_autoptr (GArray) want = fb_expected (b, id);
    Trak *t = trak_by_id (traks, id);
    if (want->len == 0) {
      /* A track with no sample is declared empty once another has samples. */
      if (l->snap && snapshot_samples (l->snap) == 0)
        g_assert_null (t);
      else
        g_assert_true (t && t->samples->len == 0);
      continue;
    }
    g_assert_nonnull (t);
    g_assert_cmpuint (t->samples->len, ==, want->len);
    /* Negative composition offsets are written shifted up to zero. */
    gint32 shift = 0;
    for (guint k = 0; k < want->len; k++)
      shift = MAX (shift, -g_array_index (want, FbSample, k).composition_offset);
    for (guint k = 0; k < want->len; k++) {
      const FbSample *g = &g_array_index (t->samples, FbSample, k), *e = &g_array_index (want, FbSample, k);
      g_assert_cmpuint (g->size, ==, e->size);
      g_assert_cmpuint (g->duration, ==, e->duration);
      g_assert_cmpint (g->composition_offset, ==, e->composition_offset + shift);
      g_assert_cmpint (g->sync, ==, e->sync);
      g_assert_cmpuint (g->description_index, ==, e->description_index);
      g_assert_cmpuint (g->offset, >=, l->header_len);
      g_assert_cmpuint (g->offset + g->size, <=, l->size);
      for (guint32 j = 0; j < g->size; j++)
        g_assert_cmphex (file->data[g->offset + j], ==, e->fill);
    }
  }
}

/* Two fragments of two tracks with B-frame style offsets, syncs, runs. */
static void
build_file (Fmp4Builder *b)
{
  static const FbSample audio[3] = { { .duration = 1024, .size = 3 }, { .duration = 1024, .size = 2 },
                                     { .duration = 960, .size = 2 } };
  static const FbTrun vt = { .version = 1, .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE |
                                                    FB_TRUN_FLAGS | FB_TRUN_COMPOSITION,
                             .n_samples = N (three), .samples = three };
  static const FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE | FB_TRUN_DURATION, .n_samples = 3,
                             .samples = audio };
  static const FbTraf trafs[2] = {
    { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .n_truns = 1, .truns = &vt },
    { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .n_truns = 1, .truns = &at },
  };
  fb_init (b);
  fb_init_segment (b, 2);
  fb_fragment (b, trafs, 2);
  fb_box (b, FOURCC ('f', 'r', 'e', 'e'), 3);
  fb_fragment (b, trafs, 2);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_header_structure (void)
{
  Fmp4Builder b;
  build_file (&b);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GBytes) header = layout_header (l);
  const guint8 *h = g_bytes_get_data (header, NULL);
  g_assert_cmpuint (l->header_len, ==, g_bytes_get_size (header));
  g_assert_cmpuint (l->size, ==, l->header_len + rec->payload_len);
  /* The payload runs from the first sample to the end of the last, the small
   * gaps between fragments (the moofs) included. */
  guint64 first = G_MAXUINT64, end = 0;
  for (guint i = 0; i < b.samples->len; i++) {
    const FbSample *fs = &g_array_index (b.samples, FbSample, i);
    first = MIN (first, fs->offset);
    end = MAX (end, fs->offset + fs->size);
  }
  g_assert_cmpuint (rec->payload_len, ==, end - first);

  ByteReader r, body;
  BoxHeader box;
  byte_reader_init (&r, h, l->header_len);
  g_assert_true (byte_reader_box (&r, &box, &body));
  g_assert_cmphex (box.type, ==, FOURCC ('f', 't', 'y', 'p'));
  g_assert_true (byte_reader_box (&r, &box, &body));
  g_assert_cmphex (box.type, ==, FOURCC ('m', 'o', 'o', 'v'));
  ByteReader mvex;
  g_assert_false (find_box (body, FOURCC ('m', 'v', 'e', 'x'), &mvex));
  /* Then a free box that aligns the payload, and the mdat header; the mdat
   * runs to the end of the file. */
  g_assert_true (byte_reader_box (&r, &box, &body));
  g_assert_cmphex (box.type, ==, FOURCC ('f', 'r', 'e', 'e'));
  g_assert_cmpuint (byte_reader_remaining (&r), ==, 8);
  g_assert_true (box_header_read (&r, &box));
  g_assert_cmphex (box.type, ==, FOURCC ('m', 'd', 'a', 't'));
  g_assert_cmpuint (box.size, ==, 8 + rec->payload_len);
  g_assert_cmpuint (l->header_len % RECORDING_PAGE, ==, first % RECORDING_PAGE);
  g_assert_cmpuint (l->n_tracks, ==, 2);
  fb_clear (&b);
}

static void
test_read_every_range (void)
{
  Fmp4Builder b;
  build_file (&b);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  g_autoptr (GByteArray) part = g_byte_array_new ();
  for (guint64 off = 0; off <= l->size + 1; off++)
    for (gsize len = 0; len <= l->size - MIN (off, l->size) + 1; len++) {
      g_byte_array_set_size (part, 0);
      gsize n = read_range (l, fb_data (&b), off, len, part);
      gsize expect = off >= l->size ? 0 : MIN (len, l->size - off);
      g_assert_cmpuint (n, ==, expect);
      if (n)
        g_assert_cmpmem (part->data, part->len, all->data + off, n);
    }
  fb_clear (&b);
}

static void
test_read_far_past_end (void)
{
  Fmp4Builder b;
  build_file (&b);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) header = g_byte_array_new ();
  g_assert_cmpuint (layout_read (l, NULL, G_MAXUINT64, 10, pieces, header), ==, 0);
  g_assert_cmpuint (layout_read (l, NULL, l->size, G_MAXSIZE, pieces, header), ==, 0);
  g_assert_cmpuint (pieces->len, ==, 0);
  g_assert_cmpuint (layout_read (l, NULL, l->size - 1, G_MAXSIZE, pieces, header), ==, 1);
  fb_clear (&b);
}

/* The payload is the source's sample bytes in source order, read in as few
 * pieces as the source allows: the moof between the two mdats is a gap small
 * enough to be carried, so one piece spans both fragments. */
static void
test_payload_is_source_order (void)
{
  Fmp4Builder b;
  build_file (&b);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) header = g_byte_array_new ();
  layout_read (l, NULL, l->header_len, G_MAXSIZE, pieces, header);
  g_assert_cmpuint (pieces->len, ==, 1);
  const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, 0);
  g_assert_null (p->data);
  guint64 pos = p->source_offset, end = p->source_offset + p->len;
  for (guint k = 0; k < b.samples->len; k++) {
    const FbSample *fs = &g_array_index (b.samples, FbSample, k);
    g_assert_cmpuint (fs->offset, >=, pos);         /* in source order */
    g_assert_cmpuint (fs->offset - pos, <=, 4096);  /* only small gaps carried */
    pos = fs->offset + fs->size;
  }
  g_assert_cmpuint (pos, ==, end);
  fb_clear (&b);
}

static void
test_moov_tables_point_at_samples (void)
{
  Fmp4Builder b;
  build_file (&b);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, all);
  g_autoptr (GArray) traks = parse_moov (l);
  /* Video: 3 chunks (interleaved with audio), audio likewise. */
  g_assert_false (trak_by_id (traks, 1)->co64);
  fb_clear (&b);
}

static void
test_stss_omitted_when_all_sync (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample s[4] = { { .duration = 1, .size = 2 }, { .duration = 1, .size = 3 }, { .duration = 1, .size = 2 },
                          { .duration = 1, .size = 3 } };
  fb_simple_fragment (&b, 1, 0, s, 4);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  g_assert_false (trak_by_id (traks, 1)->has_stss);
  g_assert_false (trak_by_id (traks, 1)->has_ctts);
  g_assert_false (trak_by_id (traks, 1)->stsz_compact);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, all);
  fb_clear (&b);
}

static void
test_stss_lists_sync_samples (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  fb_simple_fragment (&b, 1, 9600, three, N (three));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *t = trak_by_id (traks, 1);
  g_assert_true (t->has_stss);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpint (g_array_index (t->samples, FbSample, i).sync, ==, i % 3 == 0);
  fb_clear (&b);
}

static void
check_ctts (const gint32 offsets[3], gboolean expect_ctts, guint8 expect_version)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbSample s[3];
  for (guint i = 0; i < 3; i++)
    s[i] = (FbSample) { .duration = 10, .size = 1, .composition_offset = offsets[i] };
  fb_simple_fragment (&b, 1, 0, s, 3);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *t = trak_by_id (traks, 1);
  g_assert_cmpint (t->has_ctts, ==, expect_ctts);
  if (expect_ctts)
    g_assert_cmpuint (t->ctts_version, ==, expect_version);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, all);
  fb_clear (&b);
}

static void test_ctts_absent_when_zero (void) { check_ctts ((const gint32[]) { 0, 0, 0 }, FALSE, 0); }
static void test_ctts_version_0_when_positive (void) { check_ctts ((const gint32[]) { 20, 0, 10 }, TRUE, 0); }
/* Negative offsets are shifted up to zero (version 0, as FFmpeg's remux
 * writes them) and the edit starts the media that much later. */
static void
test_ctts_negative_shifted_with_edit (void)
{
  check_ctts ((const gint32[]) { 10, -10, 0 }, TRUE, 0);
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbSample s[3] = { { .duration = 10, .size = 1, .composition_offset = 10 },
                    { .duration = 10, .size = 1, .composition_offset = -10 },
                    { .duration = 10, .size = 1 } };
  fb_simple_fragment (&b, 1, 0, s, 3);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *t = trak_by_id (traks, 1);
  g_assert_true (t->has_edts);
  fb_clear (&b);
}

static void
test_stsz_compact_when_sizes_equal (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample s[3] = { { .duration = 1, .size = 4 }, { .duration = 1, .size = 4 }, { .duration = 1, .size = 4 } };
  fb_simple_fragment (&b, 1, 0, s, 3);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  g_assert_true (trak_by_id (traks, 1)->stsz_compact);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, all);
  fb_clear (&b);
}

static void
test_track_without_samples_declared (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  /* The second track has no sample yet but is declared, so stream numbers
   * do not change when its first sample arrives. */
  g_assert_cmpuint (l->n_tracks, ==, 2);
  g_autoptr (GArray) traks = parse_moov (l);
  g_assert_cmpuint (traks->len, ==, 2);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, all);
  fb_clear (&b);
}

static void
test_empty_recording (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_assert_cmpuint (l->n_tracks, ==, 0);
  g_assert_cmpuint (l->size, ==, l->header_len);
  g_autoptr (GArray) traks = parse_moov (l);
  g_assert_cmpuint (traks->len, ==, 0);
  g_autoptr (GBytes) header = layout_header (l);
  const guint8 *h = g_bytes_get_data (header, NULL);
  const guint8 mdat[8] = { 0, 0, 0, 8, 'm', 'd', 'a', 't' };
  g_assert_cmpmem (h + l->header_len - 8, 8, mdat, 8);
  fb_clear (&b);
}

/* A layout keeps showing its snapshot while the recording grows. */
static void
test_snapshot_pinned (void)
{
  Fmp4Builder b;
  build_file (&b);
  gsize first_len = fb_len (&b);
  fb_simple_fragment (&b, 1, 19200, three, N (three));
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "grow");
  Source src = source_from_memory (fb_data (&b), first_len);
  recording_update (rec, &src);
  g_autoptr (Layout) old = layout_of (rec);
  g_autoptr (GByteArray) before = read_all (old, fb_data (&b));
  src.size = fb_len (&b);
  g_assert_true (recording_update (rec, &src));
  g_autoptr (GByteArray) after = read_all (old, fb_data (&b));
  g_assert_cmpmem (before->data, before->len, after->data, after->len);
  g_autoptr (Layout) now = layout_of (rec);
  g_assert_cmpuint (now->size, >, old->size);
  g_autoptr (GByteArray) grown = read_all (now, fb_data (&b));
  assert_moov_matches (now, &b, grown);
  fb_clear (&b);
}

/* Snapshots pinned while one fragment's mdat arrives byte by byte: each
 * one's last stts and ctts runs and last chunk go on growing in the table
 * after it, yet it keeps reading exactly what it read when it was made, and
 * its moov lists just its own samples. */
static void
test_snapshots_pinned_inside_runs (void)
{
  FbSample samples[12];
  for (guint i = 0; i < N (samples); i++)
    samples[i] = (FbSample) { .duration = 3000, .size = 4 + i % 2, .flags = i % 4 ? FB_NON_SYNC : 0,
                              .composition_offset = i < 6 ? 3000 : 0 };
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, samples, N (samples));
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "arriving");
  g_autoptr (GPtrArray) pinned = g_ptr_array_new_with_free_func ((GDestroyNotify) layout_unref);
  g_autoptr (GPtrArray) bytes = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  for (gsize len = 1; len <= fb_len (&b); len++) {
    Source src = source_from_memory (fb_data (&b), len);
    if (!recording_update (rec, &src))
      continue;
    Layout *l = layout_of (rec);
    g_ptr_array_add (pinned, l);
    g_ptr_array_add (bytes, read_all (l, fb_data (&b)));
  }
  g_assert_cmpuint (pinned->len, ==, N (samples));
  g_assert_cmpuint (fb_rec_track (rec, 1)->table.chunks->len, ==, 1);
  for (guint k = 0; k < pinned->len; k++) {
    Layout *l = g_ptr_array_index (pinned, k);
    GByteArray *then = g_ptr_array_index (bytes, k);
    g_autoptr (GByteArray) now = read_all (l, fb_data (&b));
    g_assert_cmpmem (now->data, now->len, then->data, then->len);
    g_autoptr (GArray) traks = parse_moov (l);
    g_autoptr (GArray) want = fb_expected (&b, 1);
    Trak *t = trak_by_id (traks, 1);
    g_assert_cmpuint (t->samples->len, ==, k + 1);
    for (guint i = 0; i <= k; i++) {
      const FbSample *g = &g_array_index (t->samples, FbSample, i), *e = &g_array_index (want, FbSample, i);
      g_assert_cmpuint (g->size, ==, e->size);
      g_assert_cmpuint (g->duration, ==, e->duration);
      g_assert_cmpint (g->composition_offset, ==, e->composition_offset);
      g_assert_cmpint (g->sync, ==, e->sync);
      g_assert_cmphex (now->data[g->offset], ==, e->fill);
    }
  }
  fb_clear (&b);
}

/* tfdt is the authority: the sample before a fragment lasts until that
 * fragment's tfdt (a gap in the source), the recording's last sample keeps
 * its own duration, and a snapshot taken before the gap was known keeps
 * reading what it read, even rebuilt from its snapshot. */
static void
test_tfdt_gap_lasts_until_next_fragment (void)
{
  const FbSample s[2] = { { .duration = 1024, .size = 3 }, { .duration = 1024, .size = 2 } };
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, s, 2);
  gsize first_len = fb_len (&b);
  fb_simple_fragment (&b, 1, 48000, s, 2);
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "gap");
  Source src = source_from_memory (fb_data (&b), first_len);
  recording_update (rec, &src);
  g_autoptr (Layout) old = layout_of (rec);
  g_autoptr (GByteArray) before = read_all (old, fb_data (&b));
  src.size = fb_len (&b);
  g_assert_true (recording_update (rec, &src));
  g_autoptr (GByteArray) after = read_all (old, fb_data (&b));
  g_assert_cmpmem (before->data, before->len, after->data, after->len);
  g_autoptr (Layout) rebuilt = layout_new (rec, snapshot_copy (old->snap));
  g_autoptr (GByteArray) again = read_all (rebuilt, fb_data (&b));
  g_assert_cmpmem (before->data, before->len, again->data, again->len);

  g_autoptr (Layout) now = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (now);
  Trak *t = trak_by_id (traks, 1);
  g_assert_cmpuint (t->samples->len, ==, 4);
  const guint32 want[4] = { 1024, 48000 - 1024, 1024, 1024 };
  for (guint i = 0; i < 4; i++)
    g_assert_cmpuint (g_array_index (t->samples, FbSample, i).duration, ==, want[i]);
  g_autoptr (GByteArray) grown = read_all (now, fb_data (&b));
  assert_moov_matches (now, &b, grown);
  fb_clear (&b);
}

/* A recording cut after a P-frame whose B-frames never came: that frame is
 * shown after the last decode time, and the edit runs to its end. */
static void
test_edit_covers_last_presentation (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  guint32 ts = g_array_index (b.tracks, FbTrack, 0).timescale;
  guint32 f = ts / 25;
  const FbSample s[2] = { { .duration = f, .size = 3, .composition_offset = (gint32) f },
                          { .duration = f, .size = 3, .flags = FB_NON_SYNC, .composition_offset = (gint32) (3 * f) } };
  fb_simple_fragment (&b, 1, 0, s, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *t = trak_by_id (traks, 1);
  g_assert_true (t->has_edts);
  g_assert_cmpuint (t->elst_entries, ==, 2);   /* an empty edit (the first frame at one frame), then the media */
  /* Shown from one frame to the P-frame's end, five frames: 200 ms in all. */
  g_assert_cmpuint (l->duration, ==, 200);
  fb_clear (&b);
}

/* A trun duration of 0 (FFmpeg's frag_every_frame once the other track has
 * ended) never reaches stts: the next tfdt gives the sample its duration. */
static void
test_trun_zero_durations (void)
{
  const FbSample zero = { .duration = 0, .size = 3 };
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  for (guint i = 0; i < 4; i++)
    fb_simple_fragment (&b, 1, 1 + 1024 * i, &zero, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *t = trak_by_id (traks, 1);
  g_assert_cmpuint (t->samples->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpuint (g_array_index (t->samples, FbSample, i).duration, ==, 1024);
  fb_clear (&b);
}

/* A layout keeps the header's box structure, not its tables: what it
 * stores (but for the free box that aligns the payload) is the same for a
 * recording of two fragments and of two hundred. */
static void
test_layout_stores_no_tables (void)
{
  gsize stored[2];
  guint tables[2];
  const guint fragments[2] = { 2, 200 };
  for (guint run = 0; run < 2; run++) {
    Fmp4Builder b;
    fb_init (&b);
    fb_init_segment (&b, 2);
    for (guint f = 0; f < fragments[run]; f++) {
      fb_simple_fragment (&b, 1, 9600 * (guint64) f, three, N (three));
      fb_simple_fragment (&b, 2, 9600 * (guint64) f, three, N (three));
    }
    g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
    g_assert_cmpuint (rec->total_samples, ==, 6 * fragments[run]);
    g_autoptr (Layout) l = layout_of (rec);
    /* Less the free box, whose size depends on the header's. */
    g_autoptr (GBytes) header = layout_header (l);
    ByteReader top, body;
    BoxHeader box;
    byte_reader_init (&top, g_bytes_get_data (header, NULL), l->header_len);
    stored[run] = g_bytes_get_size (l->stored);
    while (byte_reader_remaining (&top) > 8 && byte_reader_box (&top, &box, &body))
      if (box.type == FOURCC ('f', 'r', 'e', 'e'))
        stored[run] -= box.size;
    tables[run] = l->tables->len;
    g_autoptr (GByteArray) file = read_all (l, fb_data (&b));
    assert_moov_matches (l, &b, file);
    fb_clear (&b);
  }
  g_assert_cmpuint (stored[0], ==, stored[1]);
  g_assert_cmpuint (tables[0], ==, tables[1]);
}

/* Fragments far apart in the source (free boxes of more than a page between
 * them) are separate extents, yet every one lies on the source's page
 * boundaries in the virtual file, and the payload holds no more than the
 * source. */
static void
test_payload_on_source_pages (void)
{
  static const gsize gaps[] = { 5000, 9001, 4097, 70000 };
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  for (guint f = 0; f < N (gaps); f++) {
    fb_simple_fragment (&b, 1 + f % 2, 9600 * (guint64) f, three, N (three));
    fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), gaps[f]);
  }
  fb_simple_fragment (&b, 1, 9600 * (guint64) N (gaps), three, N (three));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->extents->len, ==, N (gaps) + 1);
  g_autoptr (Layout) l = layout_of (rec);
  for (guint k = 0; k < rec->extents->len; k++) {
    const Extent *e = &g_array_index (rec->extents, Extent, k);
    g_assert_cmpuint ((l->header_len + e->payload_offset) % RECORDING_PAGE, ==, e->source_offset % RECORDING_PAGE);
    if (k > 0) {
      const Extent *p = &g_array_index (rec->extents, Extent, k - 1);
      g_assert_cmpuint (e->payload_offset, ==, p->payload_offset + p->length);
      g_assert_cmpuint (e->source_offset, >=, p->source_offset + p->length);
    }
  }
  g_assert_cmpuint (rec->payload_len, <=, fb_len (&b));
  g_autoptr (GByteArray) file = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, file);
  fb_clear (&b);
}

/* The same source bytes give the same virtual file, however they arrived. */
static void
test_deterministic (void)
{
  Fmp4Builder b;
  build_file (&b);
  g_autoptr (Recording) one = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Recording) two = recording_new (&fmp4_indexer, "other name");
  for (gsize len = 1; len <= fb_len (&b); len += 37) {
    Source src = source_from_memory (fb_data (&b), len);
    recording_update (two, &src);
  }
  Source src = source_from_memory (fb_data (&b), fb_len (&b));
  recording_update (two, &src);
  g_autoptr (Layout) a = layout_of (one);
  g_autoptr (Layout) c = layout_of (two);
  g_autoptr (GBytes) ha = layout_header (a);
  g_autoptr (GBytes) hc = layout_header (c);
  g_assert_true (g_bytes_equal (ha, hc));
  g_autoptr (GByteArray) x = read_all (a, fb_data (&b));
  g_autoptr (GByteArray) y = read_all (c, fb_data (&b));
  g_assert_cmpmem (x->data, x->len, y->data, y->len);
  fb_clear (&b);
}

/* A track whose first decode time is later than the others' starts later:
 * an empty edit of that length. */
static void
test_start_offset_becomes_empty_edit (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  const FbSample audio[2] = { { .duration = 1024, .size = 3 }, { .duration = 1024, .size = 2 } };
  FbTrun vt = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE, .n_samples = N (three),
                .samples = three };
  FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE, .n_samples = 2, .samples = audio };
  FbTraf trafs[2] = {
    { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .decode_time = 45000, .n_truns = 1,
      .truns = &vt },
    { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .decode_time = 0, .n_truns = 1,
      .truns = &at },
  };
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *v = trak_by_id (traks, 1), *a = trak_by_id (traks, 2);
  g_assert_true (v->has_edts);
  g_assert_cmpuint (v->elst_entries, ==, 2);
  g_assert_cmpint (v->elst_first_media_time, ==, -1);
  /* Half a second in the movie timescale. */
  g_assert_cmpuint (v->elst_first_duration * 2, ==, l->movie_timescale);
  g_assert_false (a->has_edts);
  fb_clear (&b);
}

static void
test_long_duration_uses_version_1 (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  /* Past 2^32 in the media and in the movie timescale (1000). */
  FbSample s[128];
  for (guint i = 0; i < N (s); i++)
    s[i] = (FbSample) { .duration = i + 1 < N (s) ? 0xf0000000u : 5, .size = 1 };
  fb_simple_fragment (&b, 1, 0, s, N (s));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (Layout) l = layout_of (rec);
  g_autoptr (GArray) traks = parse_moov (l);
  Trak *t = trak_by_id (traks, 1);
  g_assert_cmpuint (t->mdhd_version, ==, 1);
  g_assert_cmpuint (t->tkhd_version, ==, 1);
  g_assert_cmpuint (l->duration, >, G_MAXUINT32);
  g_autoptr (GByteArray) all = read_all (l, fb_data (&b));
  assert_moov_matches (l, &b, all);
  fb_clear (&b);
}

/* Payload past 4 GiB: a 64-bit mdat size and co64.  The sample bytes are a
 * hole in a sparse temporary file, so this costs no memory or disk. */
static void
test_payload_past_4_gib_uses_co64 (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  b.sparse = TRUE;
  const FbSample big_v[1] = { { .duration = 3000, .size = 0xf0000000u } };
  const FbSample big_a[1] = { { .duration = 1024, .size = 0x20000000u } };
  const FbSample small_v[2] = { { .duration = 3000, .size = 16 }, { .duration = 3000, .size = 16 } };
  FbTrun t0 = { .flags = FB_TRUN_DURATION | FB_TRUN_SIZE | FB_TRUN_FIRST_FLAGS, .n_samples = 1, .samples = big_v };
  FbTrun t1 = { .flags = FB_TRUN_DURATION | FB_TRUN_SIZE, .n_samples = 1, .samples = big_a };
  FbTrun t2 = { .flags = FB_TRUN_DURATION | FB_TRUN_SIZE, .n_samples = 2, .samples = small_v };
  /* 64-bit base offsets: 32-bit trun data offsets cannot reach that far. */
  FbTraf trafs[3] = {
    { .track_id = 1, .flags = FB_TFHD_BASE_DATA_OFFSET, .base_data_offset = FB_DATA_START, .n_truns = 1, .truns = &t0 },
    { .track_id = 2, .flags = FB_TFHD_BASE_DATA_OFFSET, .base_data_offset = FB_DATA_START, .n_truns = 1, .truns = &t1 },
    { .track_id = 1, .flags = FB_TFHD_BASE_DATA_OFFSET, .base_data_offset = FB_DATA_START, .n_truns = 1, .truns = &t2 },
  };
  fb_fragment (&b, trafs, 3);
  guint64 total = fb_len (&b) + b.sparse_payload;

  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("livemp4-co64-XXXXXX", &path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (fd, fb_data (&b), fb_len (&b)), ==, (gssize) fb_len (&b));
  if (ftruncate (fd, (off_t) total) != 0) {
    g_test_skip ("cannot make a sparse file of 4.25 GiB here");
    close (fd);
    unlink (path);
    fb_clear (&b);
    return;
  }
  Source src = { .fd = fd, .size = total };
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, path);
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 4);
  g_autoptr (Layout) l = layout_of (rec);
  g_assert_cmpuint (l->size, ==, l->header_len + b.sparse_payload);

  /* mdat header: size 1, then the 64-bit size. */
  g_autoptr (GBytes) header = layout_header (l);
  const guint8 *h = g_bytes_get_data (header, NULL);
  ByteReader r;
  BoxHeader box;
  byte_reader_init (&r, h + l->header_len - 16, 16);
  g_assert_true (box_header_read (&r, &box));
  g_assert_cmphex (box.type, ==, FOURCC ('m', 'd', 'a', 't'));
  g_assert_cmpuint (box.header_size, ==, 16);
  g_assert_cmpuint (box.size, ==, 16 + b.sparse_payload);

  g_autoptr (GArray) traks = parse_moov (l);
  Trak *v = trak_by_id (traks, 1), *a = trak_by_id (traks, 2);
  g_assert_true (v->co64);
  g_assert_true (a->co64);
  g_autoptr (GArray) want = fb_expected (&b, 1);
  g_assert_cmpuint (v->samples->len, ==, 3);
  /* Every sample's virtual offset maps back to its source bytes. */
  for (guint k = 0; k < 3; k++) {
    const FbSample *g = &g_array_index (v->samples, FbSample, k), *e = &g_array_index (want, FbSample, k);
    g_assert_cmpuint (g->size, ==, e->size);
    g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
    g_autoptr (GByteArray) unused = g_byte_array_new ();
    g_assert_cmpuint (layout_read (l, NULL, g->offset, 16, pieces, unused), ==, 16);
    g_assert_cmpuint (pieces->len, ==, 1);
    g_assert_null (g_array_index (pieces, LayoutPiece, 0).data);
    g_assert_cmpuint (g_array_index (pieces, LayoutPiece, 0).source_offset, ==, e->offset);
  }
  g_assert_cmpuint (g_array_index (v->samples, FbSample, 1).offset, >, G_MAXUINT32);
  close (fd);
  unlink (path);
  fb_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fb_quiet_logs ();
  g_test_add_func ("/layout/header-structure", test_header_structure);
  g_test_add_func ("/layout/read/every-range", test_read_every_range);
  g_test_add_func ("/layout/read/past-end", test_read_far_past_end);
  g_test_add_func ("/layout/payload-source-order", test_payload_is_source_order);
  g_test_add_func ("/layout/payload-on-source-pages", test_payload_on_source_pages);
  g_test_add_func ("/layout/moov/tables-point-at-samples", test_moov_tables_point_at_samples);
  g_test_add_func ("/layout/moov/stss-omitted-all-sync", test_stss_omitted_when_all_sync);
  g_test_add_func ("/layout/moov/stss-lists-syncs", test_stss_lists_sync_samples);
  g_test_add_func ("/layout/moov/ctts-absent", test_ctts_absent_when_zero);
  g_test_add_func ("/layout/moov/ctts-v0-positive", test_ctts_version_0_when_positive);
  g_test_add_func ("/layout/moov/ctts-negative-shifted", test_ctts_negative_shifted_with_edit);
  g_test_add_func ("/layout/timing/tfdt-gap", test_tfdt_gap_lasts_until_next_fragment);
  g_test_add_func ("/layout/timing/edit-covers-last-presentation", test_edit_covers_last_presentation);
  g_test_add_func ("/layout/timing/trun-zero-durations", test_trun_zero_durations);
  g_test_add_func ("/layout/moov/stsz-compact", test_stsz_compact_when_sizes_equal);
  g_test_add_func ("/layout/moov/track-without-samples", test_track_without_samples_declared);
  g_test_add_func ("/layout/moov/empty-recording", test_empty_recording);
  g_test_add_func ("/layout/moov/start-offset-empty-edit", test_start_offset_becomes_empty_edit);
  g_test_add_func ("/layout/moov/long-duration-version-1", test_long_duration_uses_version_1);
  g_test_add_func ("/layout/snapshot-pinned", test_snapshot_pinned);
  g_test_add_func ("/layout/snapshot-pinned-inside-runs", test_snapshots_pinned_inside_runs);
  g_test_add_func ("/layout/stores-no-tables", test_layout_stores_no_tables);
  g_test_add_func ("/layout/deterministic", test_deterministic);
  g_test_add_func ("/layout/co64-and-64-bit-mdat", test_payload_past_4_gib_uses_co64);
  return g_test_run ();
}

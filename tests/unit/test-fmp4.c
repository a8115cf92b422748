/* test-fmp4.c — the fragmented MP4 indexer on files crafted in memory. */
#include "fmp4-builder.h"

static const FbSample three[] = {
  { .duration = 3000, .size = 5, .flags = 0, .composition_offset = 6000 },
  { .duration = 3000, .size = 3, .flags = FB_NON_SYNC, .composition_offset = -3000 },
  { .duration = 3600, .size = 4, .flags = FB_NON_SYNC | FB_DEPENDS_YES, .composition_offset = 0 },
};

#define N(a) G_N_ELEMENTS (a)

static ProbeResult
probe (const guint8 *data, gsize len)
{
  Source src = source_from_memory (data, len);
  return fmp4_indexer.probe (&src);
}

/* Overwrites the 32-bit field at pos. */
static void
poke32 (Fmp4Builder *b, gsize pos, guint32 v)
{
  byte_writer_put_u32_at (&b->w, pos, v);
}

/* ---- probe --------------------------------------------------------------- */

static void
test_probe_empty_moov_with_mvex (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), ==, PROBE_YES);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), ==, PROBE_YES);
  Source src = source_from_memory (fb_data (&b), fb_len (&b));
  gboolean need_more;
  g_assert_true (recording_detect (&src, &need_more) == &fmp4_indexer);
  fb_clear (&b);
}

static void
test_probe_styp_first (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_box (&b, FOURCC ('s', 't', 'y', 'p'), 8);
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, TRUE);
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), ==, PROBE_YES);
  fb_clear (&b);
}

static void
test_probe_plain_mp4_without_mvex (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, FALSE);
  fb_box (&b, FOURCC ('m', 'd', 'a', 't'), 100);
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), ==, PROBE_NO);
  fb_clear (&b);
}

static void
test_probe_mdat_first (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_box (&b, FOURCC ('m', 'd', 'a', 't'), 100);
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, TRUE);
  /* GStreamer's first-moov-then-finalise (test-mp4-hybrid.c): a moov with
   * mvex after the first fragment's mdat. */
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), ==, PROBE_YES);
  fb_clear (&b);
  /* Without even an ftyp. */
  const guint8 mdat[] = { 0, 0, 0, 16, 'm', 'd', 'a', 't', 1, 2, 3, 4, 5, 6, 7, 8 };
  g_assert_cmpint (probe (mdat, sizeof mdat), ==, PROBE_NO);
}

static void
test_probe_random_bytes (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  guint8 buf[4096];
  for (int round = 0; round < 200; round++) {
    for (gsize i = 0; i < sizeof buf; i++)
      buf[i] = g_rand_int (rand);
    g_assert_cmpint (probe (buf, sizeof buf), ==, PROBE_NO);
  }
  const guint8 text[] = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n";
  g_assert_cmpint (probe (text, sizeof text), ==, PROBE_NO);
}

static void
test_probe_short_prefix_needs_more (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  for (gsize len = 0; len < fb_len (&b); len++)
    g_assert_cmpint (probe (fb_data (&b), len), ==, PROBE_NEED_MORE);
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), ==, PROBE_YES);
  fb_clear (&b);
}

/* ---- init segment --------------------------------------------------------- */

static void
test_init_segment_tracks (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 2);
  Track *v = fb_rec_track (rec, 1), *a = fb_rec_track (rec, 2);
  g_assert_nonnull (v);
  g_assert_nonnull (a);
  g_assert_cmphex (v->handler, ==, FOURCC ('v', 'i', 'd', 'e'));
  g_assert_cmphex (v->codec, ==, FOURCC ('a', 'v', 'c', '1'));
  g_assert_cmpuint (v->timescale, ==, 90000);
  g_assert_cmpuint (v->width, ==, 320u << 16);
  g_assert_cmpuint (v->language, ==, 0x15c7);
  g_assert_nonnull (v->media_header);
  g_assert_cmphex (a->handler, ==, FOURCC ('s', 'o', 'u', 'n'));
  g_assert_cmphex (a->codec, ==, FOURCC ('m', 'p', '4', 'a'));
  g_assert_cmpuint (a->timescale, ==, 48000);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  fb_clear (&b);
}

/* ---- tfhd ----------------------------------------------------------------- */

/* Builds one fragment of track 1 with the given tfhd flags, every sample field
 * coming from the defaults the flags enable, and checks every sample. */
static void
check_tfhd_flags (guint32 flags)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample in[4] = { { 0 } };
  /* Without a data offset of its own the trun starts at the base, so the
   * base must then point at the sample bytes. */
  gboolean trun_offset = !(flags & FB_TFHD_BASE_DATA_OFFSET);
  FbTrun trun = { .version = 0, .flags = (trun_offset ? FB_TRUN_DATA_OFFSET : 0) | FB_TRUN_SIZE,
                  .n_samples = N (in), .samples = in };
  FbSample sized[4] = { { .size = 3 }, { .size = 1 }, { .size = 4 }, { .size = 1 } };
  if (flags & FB_TFHD_DEFAULT_SIZE)
    trun.flags &= ~FB_TRUN_SIZE;
  else
    trun.samples = sized;
  FbTraf traf = { .track_id = 1, .flags = flags, .base_data_offset = FB_DATA_START, .description_index = 2,
                  .default_duration = 1234, .default_size = 7, .default_flags = FB_DEPENDS_NO,
                  .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  if (flags & FB_TFHD_DURATION_IS_EMPTY) {
    g_assert_cmpuint (rec->total_samples, ==, 0);
  } else {
    g_assert_cmpuint (rec->total_samples, ==, 4);
    fb_assert_all_visible (rec, &b);
  }
  fb_clear (&b);
}

static void test_tfhd_base_data_offset (void) { check_tfhd_flags (FB_TFHD_BASE_DATA_OFFSET); }
static void test_tfhd_description_index (void) { check_tfhd_flags (FB_TFHD_DESCRIPTION_INDEX); }
static void test_tfhd_default_duration (void) { check_tfhd_flags (FB_TFHD_DEFAULT_DURATION); }
static void test_tfhd_default_size (void) { check_tfhd_flags (FB_TFHD_DEFAULT_SIZE); }
static void test_tfhd_default_flags (void) { check_tfhd_flags (FB_TFHD_DEFAULT_FLAGS); }
static void test_tfhd_duration_is_empty (void) { check_tfhd_flags (FB_TFHD_DURATION_IS_EMPTY); }
static void test_tfhd_default_base_is_moof (void) { check_tfhd_flags (FB_TFHD_DEFAULT_BASE_IS_MOOF); }
static void test_tfhd_no_flags (void) { check_tfhd_flags (0); }

static void
test_tfhd_every_combination (void)
{
  const guint32 bits[] = { FB_TFHD_BASE_DATA_OFFSET, FB_TFHD_DESCRIPTION_INDEX, FB_TFHD_DEFAULT_DURATION,
                           FB_TFHD_DEFAULT_SIZE, FB_TFHD_DEFAULT_FLAGS, FB_TFHD_DURATION_IS_EMPTY,
                           FB_TFHD_DEFAULT_BASE_IS_MOOF };
  for (guint mask = 0; mask < 1u << N (bits); mask++) {
    guint32 flags = 0;
    for (guint i = 0; i < N (bits); i++)
      if (mask & (1u << i))
        flags |= bits[i];
    check_tfhd_flags (flags);
  }
}

/* An explicit base-data-offset wins over default-base-is-moof. */
static void
test_tfhd_explicit_base_beats_moof_base (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun trun = { .flags = FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_BASE_DATA_OFFSET | FB_TFHD_DEFAULT_BASE_IS_MOOF,
                  .base_data_offset = FB_DATA_START, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* The trex defaults apply where tfhd and trun say nothing. */
static void
test_trex_defaults (void)
{
  Fmp4Builder b;
  fb_init (&b);
  const FbTrack track = { .id = 7, .handler = FOURCC ('s', 'o', 'u', 'n'), .timescale = 44100,
                          .trex_description_index = 3, .trex_duration = 1152, .trex_size = 9,
                          .trex_flags = FB_DEPENDS_YES };
  fb_ftyp (&b);
  fb_moov (&b, &track, 1, TRUE);
  const FbSample in[5] = { { 0 } };
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET, .n_samples = N (in), .samples = in };
  FbTraf traf = { .track_id = 7, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_autoptr (GArray) got = fb_visible (rec, 7);
  g_assert_cmpuint (got->len, ==, 5);
  for (guint i = 0; i < 5; i++) {
    g_assert_cmpuint (g_array_index (got, FbSample, i).duration, ==, 1152);
    g_assert_cmpuint (g_array_index (got, FbSample, i).size, ==, 9);
    g_assert_cmpuint (g_array_index (got, FbSample, i).description_index, ==, 3);
    g_assert_false (g_array_index (got, FbSample, i).sync);
  }
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* ---- trun ----------------------------------------------------------------- */

static void
check_trun_flags (guint8 version, guint32 flags)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample in[3] = {
    { .duration = 100, .size = 6, .flags = FB_NON_SYNC, .composition_offset = 200 },
    { .duration = 300, .size = 2, .flags = 0, .composition_offset = version ? -100 : 50 },
    { .duration = 100, .size = 9, .flags = FB_DEPENDS_YES, .composition_offset = 0 },
  };
  FbTrun trun = { .version = version, .flags = flags, .first_flags = FB_DEPENDS_NO, .n_samples = N (in),
                  .samples = in };
  FbTraf traf = { .track_id = 1, .n_truns = 1, .truns = &trun, .flags = FB_TFHD_DEFAULT_SIZE | FB_TFHD_DEFAULT_FLAGS,
                  .default_size = 4, .default_flags = FB_NON_SYNC };
  if (!(flags & FB_TRUN_DATA_OFFSET)) {
    traf.flags |= FB_TFHD_BASE_DATA_OFFSET;
    traf.base_data_offset = FB_DATA_START;
  } else {
    traf.flags |= FB_TFHD_DEFAULT_BASE_IS_MOOF;
  }
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 3);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

static void
test_trun_every_field_combination (void)
{
  const guint32 bits[] = { FB_TRUN_DATA_OFFSET, FB_TRUN_FIRST_FLAGS, FB_TRUN_DURATION, FB_TRUN_SIZE,
                           FB_TRUN_FLAGS, FB_TRUN_COMPOSITION };
  for (guint8 version = 0; version <= 1; version++)
    for (guint mask = 0; mask < 1u << N (bits); mask++) {
      guint32 flags = 0;
      for (guint i = 0; i < N (bits); i++)
        if (mask & (1u << i))
          flags |= bits[i];
      check_trun_flags (version, flags);
    }
}

static void
test_trun_first_sample_flags (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);   /* trex: every sample non-sync */
  const FbSample in[4] = { { .size = 2 }, { .size = 2 }, { .size = 2 }, { .size = 2 } };
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_FIRST_FLAGS | FB_TRUN_SIZE, .first_flags = 0,
                  .n_samples = N (in), .samples = in };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (GArray) got = fb_visible (rec, 1);
  g_assert_cmpuint (got->len, ==, 4);
  g_assert_true (g_array_index (got, FbSample, 0).sync);
  for (guint i = 1; i < 4; i++)
    g_assert_false (g_array_index (got, FbSample, i).sync);
  fb_clear (&b);
}

static void
test_trun_negative_composition_offsets (void)
{
  for (guint8 version = 0; version <= 1; version++) {
    Fmp4Builder b;
    fb_init (&b);
    fb_init_segment (&b, 1);
    const FbSample in[3] = { { .duration = 1, .size = 1, .composition_offset = G_MININT32 },
                             { .duration = 1, .size = 1, .composition_offset = -1 },
                             { .duration = 1, .size = 1, .composition_offset = G_MAXINT32 } };
    FbTrun trun = { .version = version,
                    .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE | FB_TRUN_COMPOSITION,
                    .n_samples = 3, .samples = in };
    FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun };
    fb_fragment (&b, &traf, 1);
    g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
    g_autoptr (GArray) got = fb_visible (rec, 1);
    g_assert_cmpuint (got->len, ==, 3);
    g_assert_cmpint (g_array_index (got, FbSample, 0).composition_offset, ==, G_MININT32);
    g_assert_cmpint (g_array_index (got, FbSample, 1).composition_offset, ==, -1);
    g_assert_cmpint (g_array_index (got, FbSample, 2).composition_offset, ==, G_MAXINT32);
    fb_clear (&b);
  }
}

static void
test_trun_zero_samples (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun truns[2] = { { .flags = FB_TRUN_DATA_OFFSET, .n_samples = 0 },
                      { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three } };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 2, .truns = truns };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

static void
test_sync_from_sample_flags (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample in[6] = {
    { .size = 1, .flags = 0 },                              /* sync */
    { .size = 1, .flags = FB_NON_SYNC },                    /* non-sync bit */
    { .size = 1, .flags = FB_DEPENDS_YES },                 /* depends on others */
    { .size = 1, .flags = FB_DEPENDS_NO },                  /* an I frame */
    { .size = 1, .flags = FB_DEPENDS_NO | FB_NON_SYNC },    /* open-GOP I frame: not a sync sample */
    { .size = 1, .flags = 0x00400000 | 0x00000003 },        /* is_leading, padding bits: still sync */
  };
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE | FB_TRUN_FLAGS, .n_samples = N (in), .samples = in };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_autoptr (GArray) got = fb_visible (rec, 1);
  const gboolean expect[] = { TRUE, FALSE, FALSE, TRUE, FALSE, TRUE };
  g_assert_cmpuint (got->len, ==, N (expect));
  for (guint i = 0; i < N (expect); i++)
    g_assert_cmpint (g_array_index (got, FbSample, i).sync, ==, expect[i]);
  fb_clear (&b);
}

/* ---- tfdt ----------------------------------------------------------------- */

static void
check_tfdt (guint8 version, guint64 decode_time)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .tfdt_version = version,
                  .decode_time = decode_time, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  /* A later fragment's tfdt does not move the track. */
  traf.decode_time = decode_time + 9600;
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (fb_rec_track (rec, 1)->first_decode_time, ==, decode_time);
  g_assert_cmpuint (fb_rec_track (rec, 1)->table.count, ==, 6);
  fb_clear (&b);
}

static void test_tfdt_version_0 (void) { check_tfdt (0, 123456789); }
static void test_tfdt_version_1 (void) { check_tfdt (1, G_GUINT64_CONSTANT (0x123456789ab)); }

static void
test_tfdt_absent_starts_at_zero (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_cmpuint (fb_rec_track (rec, 1)->first_decode_time, ==, 0);
  fb_clear (&b);
}

/* The first decode time is that of the first fragment with samples. */
static void
test_tfdt_of_empty_fragment_ignored (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTraf empty = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .decode_time = 5 };
  fb_fragment (&b, &empty, 1);
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .decode_time = 9000,
                  .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_cmpuint (fb_rec_track (rec, 1)->first_decode_time, ==, 9000);
  fb_clear (&b);
}

/* ---- several trafs and truns ---------------------------------------------- */

static void
test_several_trafs_per_moof (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  const FbSample audio[2] = { { .duration = 1024, .size = 7 }, { .duration = 1024, .size = 8 } };
  FbTrun vt = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE | FB_TRUN_FLAGS | FB_TRUN_COMPOSITION,
                .n_samples = N (three), .samples = three };
  FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE, .n_samples = 2, .samples = audio };
  FbTraf trafs[2] = {
    { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .n_truns = 1, .truns = &vt },
    { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .n_truns = 1, .truns = &at },
  };
  fb_fragment (&b, trafs, 2);
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 10);
  fb_assert_all_visible (rec, &b);
  /* Payload follows the source: v v v a a v v v a a; the second moof lies in
   * a gap small enough to be carried, so one extent spans both fragments. */
  g_assert_cmpuint (rec->extents->len, ==, 1);
  g_assert_cmpuint (fb_rec_track (rec, 1)->table.chunks->len, ==, 2);
  g_assert_cmpuint (fb_rec_track (rec, 2)->table.chunks->len, ==, 2);
  fb_clear (&b);
}

/* Without base-data-offset or default-base-is-moof, the first traf's base is
 * the moof and a later traf's base is where the previous traf's data ended. */
static void
test_implicit_base_of_later_traf (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  const FbSample audio[2] = { { .duration = 1024, .size = 7 }, { .duration = 1024, .size = 8 } };
  FbTrun vt = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTrun at = { .flags = FB_TRUN_SIZE, .n_samples = 2, .samples = audio };   /* no data offset at all */
  FbTraf trafs[2] = { { .track_id = 1, .n_truns = 1, .truns = &vt }, { .track_id = 2, .n_truns = 1, .truns = &at } };
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* Same, with the later traf carrying a data offset relative to that base. */
static void
test_implicit_base_with_data_offset (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  const FbSample audio[2] = { { .duration = 1024, .size = 7 }, { .duration = 1024, .size = 8 } };
  FbTrun vt = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = 2, .samples = audio };
  FbTraf trafs[2] = { { .track_id = 1, .n_truns = 1, .truns = &vt }, { .track_id = 2, .n_truns = 1, .truns = &at } };
  fb_fragment (&b, trafs, 2);
  /* The computed data offset is 0: it is relative to the end of the video data. */
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

static void
test_several_truns_per_traf (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun truns[3] = {
    { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE | FB_TRUN_FLAGS, .n_samples = N (three), .samples = three },
    { .flags = FB_TRUN_SIZE, .n_samples = N (three), .samples = three },   /* continues the previous run */
    { .version = 1, .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE | FB_TRUN_DURATION, .n_samples = N (three),
      .samples = three },
  };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 3, .truns = truns };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 9);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* Two trafs of different tracks whose data is interleaved in reverse order:
 * the samples are appended in source order. */
static void
test_trafs_in_reverse_data_order (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  const FbSample audio[2] = { { .duration = 1024, .size = 7 }, { .duration = 1024, .size = 8 } };
  FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE, .n_samples = 2, .samples = audio };
  FbTrun vt = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  /* Written audio first so the audio bytes come first in the mdat... */
  FbTraf trafs[2] = { { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &at },
                      { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &vt } };
  guint64 moof = fb_fragment (&b, trafs, 2);
  /* ... then swap the trafs inside the moof: video's traf now comes first
   * while its data still comes second. */
  guint8 *d = b.w.buf->data;
  ByteReader r, body;
  BoxHeader h;
  byte_reader_init (&r, d + moof + 8, fb_len (&b) - moof - 8);
  g_assert_true (byte_reader_box (&r, &h, &body));   /* mfhd */
  gsize t1 = r.pos;
  g_assert_true (byte_reader_box (&r, &h, &body));
  gsize len1 = h.size;
  g_assert_true (byte_reader_box (&r, &h, &body));
  gsize len2 = h.size;
  g_autofree guint8 *tmp = g_memdup2 (d + moof + 8 + t1, len1 + len2);
  memcpy (d + moof + 8 + t1, tmp + len1, len2);
  memcpy (d + moof + 8 + t1 + len2, tmp, len1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  g_assert_cmpuint (g_array_index (rec->extents, Extent, 0).source_offset, ==,
                    g_array_index (b.samples, FbSample, 0).offset);
  fb_clear (&b);
}

static void
test_unknown_track_fragments_skipped (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample s[1] = { { .size = 4 } };
  FbTrun t9 = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = 1, .samples = s };
  FbTrun t1 = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf trafs[2] = { { .track_id = 9, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &t9 },
                      { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &t1 } };
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 3);
  g_autoptr (GArray) got = fb_visible (rec, 1);
  g_autoptr (GArray) want = fb_expected (&b, 1);
  fb_assert_samples (got, want, 3, fb_data (&b));
  g_assert_nonnull (strstr (rec->notes->str, "unknown track 9"));
  fb_clear (&b);
}

/* A traf of a track that is not shown still has data: a later traf whose
 * base is implicit starts where that data ends (8.8.7.1). */
static void
test_implicit_base_after_unknown_track (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const FbSample s9[2] = { { .size = 6 }, { .size = 5 } };
  FbTrun t9 = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = 2, .samples = s9 };
  FbTrun t1 = { .flags = FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf trafs[2] = { { .track_id = 9, .n_truns = 1, .truns = &t9 }, { .track_id = 1, .n_truns = 1, .truns = &t1 } };
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_autoptr (GArray) got = fb_visible (rec, 1);
  g_autoptr (GArray) want = fb_expected (&b, 1);
  g_assert_cmpuint (got->len, ==, 3);
  fb_assert_samples (got, want, 3, fb_data (&b));
  fb_clear (&b);
}

/* The same with a track the moov declares but that is left out (its mdhd
 * has timescale 0): its trex defaults still size its samples. */
static void
test_implicit_base_after_left_out_track (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  const FbTrack tracks[2] = { { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 0, .trex_size = 6 },
                              { .id = 2, .handler = FOURCC ('s', 'o', 'u', 'n'), .timescale = 48000,
                                .trex_duration = 1024 } };
  fb_moov (&b, tracks, 2, TRUE);
  const FbSample none[2] = { { 0 } };
  FbTrun t1 = { .flags = FB_TRUN_DATA_OFFSET, .n_samples = 2, .samples = none };
  FbTrun t2 = { .flags = FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTraf trafs[2] = { { .track_id = 1, .n_truns = 1, .truns = &t1 }, { .track_id = 2, .n_truns = 1, .truns = &t2 } };
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_null (fb_rec_track (rec, 1));
  g_autoptr (GArray) got = fb_visible (rec, 2);
  g_autoptr (GArray) want = fb_expected (&b, 2);
  g_assert_cmpuint (got->len, ==, 3);
  fb_assert_samples (got, want, 3, fb_data (&b));
  fb_clear (&b);
}

/* A top-level box other than the last mdat must have a size. */
static void
test_size_zero_box_not_mdat_fails (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  gsize at = fb_len (&b);
  fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), 8);
  poke32 (&b, at, 0);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 3);
  fb_clear (&b);
}

/* ---- boxes around the fragments ------------------------------------------- */

static void
test_other_top_level_boxes_skipped (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), 0);
  fb_box (&b, FOURCC ('s', 't', 'y', 'p'), 12);
  fb_box (&b, FOURCC ('s', 'i', 'd', 'x'), 32);
  fb_box (&b, FOURCC ('p', 'r', 'f', 't'), 20);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  fb_box (&b, FOURCC ('e', 'm', 's', 'g'), 40);
  fb_box (&b, FOURCC ('s', 'k', 'i', 'p'), 3);
  fb_box (&b, FOURCC ('u', 'u', 'i', 'd'), 16);
  fb_simple_fragment (&b, 1, 9600, three, N (three));
  fb_box (&b, FOURCC ('m', 'f', 'r', 'a'), 16);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 6);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

static void
test_largesize_boxes_between_fragments (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  const guint8 big_free[] = { 0, 0, 0, 1, 'f', 'r', 'e', 'e', 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4 };
  byte_writer_bytes (&b.w, big_free, sizeof big_free);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* An mdat whose size is 0 runs to the end of the file: its samples appear as
 * the file grows. */
static void
test_last_mdat_size_zero (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  guint64 moof = fb_simple_fragment (&b, 1, 0, three, N (three));
  ByteReader r;
  BoxHeader h;
  byte_reader_init (&r, fb_data (&b) + moof, fb_len (&b) - moof);
  g_assert_true (box_header_read (&r, &h));
  byte_writer_put_u32_at (&b.w, moof + h.size, 0);
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "test");
  gsize first_end = g_array_index (b.samples, FbSample, 0).offset + 5;
  Source src = source_from_memory (fb_data (&b), first_end);
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 1);
  src = source_from_memory (fb_data (&b), fb_len (&b));
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* ---- growth ---------------------------------------------------------------- */

static void
test_partial_mdat_shows_complete_samples (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  const FbSample *s = (const FbSample *) b.samples->data;
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "test");
  /* Up to one byte short of the second sample's end: one sample. */
  Source src = source_from_memory (fb_data (&b), s[1].offset + s[1].size - 1);
  g_assert_true (recording_update (rec, &src));
  g_assert_cmpuint (rec->total_samples, ==, 1);
  src.size++;
  g_assert_true (recording_update (rec, &src));
  g_assert_cmpuint (rec->total_samples, ==, 2);
  src.size++;   /* a byte of the third sample: nothing new */
  g_assert_false (recording_update (rec, &src));
  g_assert_cmpuint (rec->total_samples, ==, 2);
  src.size = fb_len (&b);
  g_assert_true (recording_update (rec, &src));
  g_assert_false (rec->failed);
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

/* Two fragments of two tracks, with boxes around them. */
static void
build_two_fragment_file (Fmp4Builder *b)
{
  static const FbSample audio[2] = { { .duration = 1024, .size = 3 }, { .duration = 1024, .size = 2 } };
  static const FbTrun vt = { .version = 1, .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE |
                                                    FB_TRUN_FLAGS | FB_TRUN_COMPOSITION,
                             .n_samples = N (three), .samples = three };
  static const FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = 2, .samples = audio };
  static const FbTraf trafs[2] = {
    { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .tfdt = TRUE, .tfdt_version = 1, .n_truns = 1,
      .truns = &vt },
    { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF | FB_TFHD_DEFAULT_DURATION, .default_duration = 1024,
      .tfdt = TRUE, .n_truns = 1, .truns = &at },
  };
  fb_init (b);
  fb_init_segment (b, 2);
  fb_box (b, FOURCC ('s', 't', 'y', 'p'), 8);
  fb_fragment (b, trafs, 2);
  fb_box (b, FOURCC ('f', 'r', 'e', 'e'), 2);
  fb_fragment (b, trafs, 2);
  fb_box (b, FOURCC ('m', 'f', 'r', 'a'), 8);
}

static void
assert_prefix_of (Recording *rec, const Fmp4Builder *b, const guint8 *data)
{
  for (guint t = 1; t <= 2; t++) {
    g_autoptr (GArray) got = fb_visible (rec, t);
    g_autoptr (GArray) want = fb_expected (b, t);
    g_assert_cmpuint (got->len, <=, want->len);
    fb_assert_samples (got, want, got->len, data);
  }
}

static void
test_every_byte_incremental (void)
{
  Fmp4Builder b;
  build_two_fragment_file (&b);
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "incremental");
  guint64 last = 0;
  for (gsize len = 0; len <= fb_len (&b); len++) {
    Source src = source_from_memory (fb_data (&b), len);
    recording_update (rec, &src);
    g_assert_false (rec->failed);
    g_assert_cmpuint (rec->source_size, ==, len);
    g_assert_cmpuint (rec->total_samples, >=, last);
    last = rec->total_samples;
    assert_prefix_of (rec, &b, fb_data (&b));
    /* A sample is visible only once all its bytes are there. */
    for (guint i = 0; i < b.samples->len; i++) {
      const FbSample *s = &g_array_index (b.samples, FbSample, i);
      if (s->offset + s->size > len)
        g_assert_cmpuint (rec->total_samples, <=, i);
    }
  }
  g_autoptr (Recording) once = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (once->failed);
  fb_assert_all_visible (once, &b);
  fb_assert_all_visible (rec, &b);
  g_assert_cmpuint (rec->payload_len, ==, once->payload_len);
  g_assert_cmpuint (rec->extents->len, ==, once->extents->len);
  g_assert_cmpmem (rec->extents->data, rec->extents->len * sizeof (Extent), once->extents->data,
                   once->extents->len * sizeof (Extent));
  for (guint t = 1; t <= 2; t++)
    g_assert_cmpuint (fb_rec_track (rec, t)->first_decode_time, ==, fb_rec_track (once, t)->first_decode_time);
  fb_clear (&b);
}

/* Each prefix indexed from scratch shows a prefix of the samples and no error. */
static void
test_every_prefix_from_scratch (void)
{
  Fmp4Builder b;
  build_two_fragment_file (&b);
  for (gsize len = 0; len <= fb_len (&b); len++) {
    g_autoptr (Recording) rec = fb_index (fb_data (&b), len);
    g_assert_false (rec->failed);
    assert_prefix_of (rec, &b, fb_data (&b));
  }
  fb_clear (&b);
}

/* A jump of many bytes at once gives the same result as byte by byte. */
static void
test_growth_in_uneven_steps (void)
{
  Fmp4Builder b;
  build_two_fragment_file (&b);
  const gsize steps[] = { 1, 7, 100, 3, 50, 13, 1000 };
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "steps");
  gsize len = 0;
  for (guint i = 0; len < fb_len (&b); i++) {
    len = MIN (fb_len (&b), len + steps[i % N (steps)]);
    Source src = source_from_memory (fb_data (&b), len);
    recording_update (rec, &src);
    g_assert_false (rec->failed);
    assert_prefix_of (rec, &b, fb_data (&b));
  }
  fb_assert_all_visible (rec, &b);
  fb_clear (&b);
}

static void
test_shrinking_source_fails (void)
{
  Fmp4Builder b;
  build_two_fragment_file (&b);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  guint64 samples = rec->total_samples;
  Source src = source_from_memory (fb_data (&b), fb_len (&b) - 1);
  g_assert_false (recording_update (rec, &src));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, samples);
  fb_clear (&b);
}

/* ---- hostile input --------------------------------------------------------- */

static void
test_top_level_size_below_8_fails (void)
{
  for (guint32 size = 2; size < 8; size++) {
    Fmp4Builder b;
    fb_init (&b);
    fb_init_segment (&b, 1);
    gsize at = fb_len (&b);
    fb_simple_fragment (&b, 1, 0, three, N (three));
    poke32 (&b, at, size);
    g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
    g_assert_true (rec->failed);
    g_assert_cmpuint (rec->total_samples, ==, 0);
    fb_clear (&b);
  }
}

static void
test_top_level_size_beyond_file_waits (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  gsize at = fb_len (&b);
  fb_simple_fragment (&b, 1, 9600, three, N (three));
  poke32 (&b, at, 0x7fffffff);   /* the second moof claims 2 GiB */
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 3);
  fb_clear (&b);
}

static void
test_largesize_near_2_64 (void)
{
  const guint64 sizes[] = { G_MAXUINT64, G_MAXUINT64 - 7, G_GUINT64_CONSTANT (1) << 63, 15, 0 };
  for (guint i = 0; i < N (sizes); i++) {
    Fmp4Builder b;
    fb_init (&b);
    fb_init_segment (&b, 1);
    fb_simple_fragment (&b, 1, 0, three, N (three));
    byte_writer_u32 (&b.w, 1);
    byte_writer_u32 (&b.w, FOURCC ('m', 'o', 'o', 'f'));
    byte_writer_u64 (&b.w, sizes[i]);
    byte_writer_zeros (&b.w, 64);
    g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
    /* Either refused or waited for; the complete fragment stays visible. */
    g_assert_cmpuint (rec->total_samples, ==, 3);
    if (sizes[i] < 16)
      g_assert_true (rec->failed);
    fb_clear (&b);
  }
}

static void
test_largesize_inside_moof (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  guint64 moof = fb_simple_fragment (&b, 1, 0, three, N (three));
  /* Replace the mfhd header (16 bytes: size, type, version/flags, sequence)
   * with a largesize header claiming almost 2^64 bytes. */
  guint8 *d = b.w.buf->data + moof + 8;
  const guint8 hostile[16] = { 0, 0, 0, 1, 'm', 'f', 'h', 'd', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0 };
  memcpy (d, hostile, 16);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  fb_clear (&b);
}

static void
test_trun_claims_2_32_samples (void)
{
  const guint32 counts[] = { G_MAXUINT32, G_MAXUINT32 / 4, 1u << 21 };
  for (guint with_fields = 0; with_fields <= 1; with_fields++)
    for (guint i = 0; i < N (counts); i++) {
      Fmp4Builder b;
      fb_init (&b);
      fb_init_segment (&b, 1);
      guint64 moof = fb_simple_fragment (&b, 1, 0, three, N (three));
      if (!with_fields) {
        /* Rewrite the trun flags to carry no per-sample fields. */
        const guint8 *p = memmem (fb_data (&b) + moof, fb_len (&b) - moof, "trun", 4);
        g_assert_nonnull (p);
        poke32 (&b, p - fb_data (&b) + 4, 1 << 24 | FB_TRUN_DATA_OFFSET);
      }
      const guint8 *p = memmem (fb_data (&b) + moof, fb_len (&b) - moof, "trun", 4);
      poke32 (&b, p - fb_data (&b) + 8, counts[i]);
      g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
      g_assert_true (rec->failed);
      g_assert_cmpuint (rec->total_samples, ==, 0);
      fb_clear (&b);
    }
}

static void
test_overlapping_sample_data_fails (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 2);
  const FbSample audio[2] = { { .duration = 1024, .size = 7 }, { .duration = 1024, .size = 8 } };
  FbTrun vt = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = N (three), .samples = three };
  FbTrun at = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .explicit_data_offset = TRUE, .n_samples = 2,
                .samples = audio };
  FbTraf trafs[2] = { { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &vt },
                      { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &at } };
  guint64 moof = fb_fragment (&b, trafs, 2);
  /* Point the audio run at the video's second byte. */
  const guint8 *p = memmem (fb_data (&b) + moof, fb_len (&b) - moof, "trun", 4);
  p = memmem (p + 4, fb_len (&b) - (p + 4 - fb_data (&b)), "trun", 4);
  g_assert_nonnull (p);
  poke32 (&b, p - fb_data (&b) + 12, (guint32) (g_array_index (b.samples, FbSample, 0).offset + 1 - moof));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  fb_clear (&b);
}

/* Data that goes backwards across moofs (a later fragment's data before an
 * earlier one's) would break source order: refused, earlier samples kept. */
static void
test_data_before_previous_fragment_fails (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  guint64 first = fb_simple_fragment (&b, 1, 0, three, N (three));
  guint64 moof = fb_simple_fragment (&b, 1, 9600, three, N (three));
  const guint8 *p = memmem (fb_data (&b) + moof, fb_len (&b) - moof, "trun", 4);
  poke32 (&b, p - fb_data (&b) + 12, (guint32) (gint32) (g_array_index (b.samples, FbSample, 0).offset - moof));
  (void) first;
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 3);
  fb_clear (&b);
}

static void
test_data_offset_before_file_start_fails (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  guint64 moof = fb_simple_fragment (&b, 1, 0, three, N (three));
  const guint8 *p = memmem (fb_data (&b) + moof, fb_len (&b) - moof, "trun", 4);
  poke32 (&b, p - fb_data (&b) + 12, (guint32) -(gint32) (moof + 1));
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  fb_clear (&b);
}

static void
test_base_data_offset_near_2_64 (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .explicit_data_offset = TRUE, .data_offset = 100,
                  .n_samples = N (three), .samples = three };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_BASE_DATA_OFFSET, .base_data_offset = G_MAXUINT64 - 50,
                  .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  fb_clear (&b);

  /* Without a data offset the samples themselves run past 2^64. */
  fb_init (&b);
  fb_init_segment (&b, 1);
  trun.flags = FB_TRUN_SIZE;
  traf.base_data_offset = G_MAXUINT64 - 6;
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec2 = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec2->failed);
  g_assert_cmpuint (rec2->total_samples, ==, 0);
  fb_clear (&b);
}

/* Samples pointing far beyond the file wait, never fail, never show. */
static void
test_data_beyond_file_waits (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .explicit_data_offset = TRUE,
                  .data_offset = G_MAXINT32, .n_samples = N (three), .samples = three };
  FbTraf traf = { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun };
  fb_fragment (&b, &traf, 1);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  fb_clear (&b);
}

static void
test_moof_before_moov_fails (void)
{
  Fmp4Builder b, init;
  fb_init (&b);
  fb_init (&init);
  fb_init_segment (&init, 1);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  /* ftyp | moof | mdat | moov */
  ByteReader r;
  BoxHeader h;
  byte_reader_init (&r, fb_data (&init), fb_len (&init));
  g_assert_true (box_header_read (&r, &h));
  gsize ftyp = h.size;
  g_autoptr (GByteArray) file = g_byte_array_new ();
  g_byte_array_append (file, fb_data (&init), ftyp);
  g_byte_array_append (file, fb_data (&b) + fb_len (&init), fb_len (&b) - fb_len (&init));
  g_byte_array_append (file, fb_data (&init) + ftyp, fb_len (&init) - ftyp);
  g_autoptr (Recording) rec = fb_index (file->data, file->len);
  g_assert_true (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  Source src = source_from_memory (file->data, file->len);
  g_assert_cmpint (fmp4_indexer.probe (&src), ==, PROBE_NO);
  fb_clear (&b);
  fb_clear (&init);
}

/* GStreamer's first-moov-then-finalise writes the first fragment's mdat
 * before the moov that lists its samples: not damage. */
static void
test_mdat_before_moov_is_read (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_box (&b, FOURCC ('m', 'd', 'a', 't'), 10);
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, TRUE);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  fb_clear (&b);
}

/* A moov after the fragments is a hybrid MP4 being finalised (OBS, FFmpeg's
 * hybrid_fragmented): the fragments end there, which is not damage. */
static void
test_second_moov_finalises (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  fb_simple_fragment (&b, 1, 0, three, N (three));
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, TRUE);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_true (recording_finalised (rec));
  g_assert_cmpuint (rec->total_samples, ==, 3);
  fb_clear (&b);
}

static void
test_moov_without_mvex_fails (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, FALSE);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec->failed);
  fb_clear (&b);
}

static void
test_non_printable_box_type_fails (void)
{
  const guint32 types[] = { FOURCC ('m', 'o', 'o', 0), FOURCC (0xff, 'f', 'r', 'e'), FOURCC ('\n', 'a', 'b', 'c') };
  for (guint i = 0; i < N (types); i++) {
    Fmp4Builder b;
    fb_init (&b);
    fb_init_segment (&b, 1);
    fb_simple_fragment (&b, 1, 0, three, N (three));
    fb_box (&b, types[i], 4);
    fb_simple_fragment (&b, 1, 9600, three, N (three));
    g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
    g_assert_true (rec->failed);
    g_assert_cmpuint (rec->total_samples, ==, 3);
    fb_clear (&b);
  }
}

static void
test_zero_timescale_track_left_out (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  const FbTrack tracks[2] = { { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 0 },
                              { .id = 2, .handler = FOURCC ('s', 'o', 'u', 'n'), .timescale = 48000,
                                .trex_duration = 1024 } };
  fb_moov (&b, tracks, 2, TRUE);
  const FbSample s[2] = { { .size = 4 }, { .size = 4 } };
  FbTrun trun = { .flags = FB_TRUN_DATA_OFFSET | FB_TRUN_SIZE, .n_samples = 2, .samples = s };
  FbTraf trafs[2] = { { .track_id = 1, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun },
                      { .track_id = 2, .flags = FB_TFHD_DEFAULT_BASE_IS_MOOF, .n_truns = 1, .truns = &trun } };
  fb_fragment (&b, trafs, 2);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  g_assert_null (fb_rec_track (rec, 1));
  g_assert_cmpuint (fb_rec_track (rec, 2)->table.count, ==, 2);
  g_assert_cmpuint (fb_rec_track (rec, 2)->timescale, ==, 48000);
  fb_clear (&b);

  /* With no other track, nothing can be shown. */
  fb_init (&b);
  fb_ftyp (&b);
  fb_moov (&b, tracks, 1, TRUE);
  g_autoptr (Recording) rec2 = fb_index (fb_data (&b), fb_len (&b));
  g_assert_true (rec2->failed);
  fb_clear (&b);
}

static void
test_duplicate_track_id_left_out (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  const FbTrack tracks[2] = { { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 },
                              { .id = 1, .handler = FOURCC ('s', 'o', 'u', 'n'), .timescale = 48000 } };
  fb_moov (&b, tracks, 2, TRUE);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, 1);
  g_assert_cmphex (fb_rec_track (rec, 1)->handler, ==, FOURCC ('v', 'i', 'd', 'e'));
  fb_clear (&b);
}

static void
test_moov_larger_than_limit (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  gsize at = fb_len (&b);
  fb_moov (&b, &(FbTrack) { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000 }, 1, TRUE);
  /* Claims 1 GiB: the indexer waits for it (clean, nothing shown) and never
   * allocates it; probing says no. */
  poke32 (&b, at, 1u << 30);
  g_autoptr (Recording) rec = fb_index (fb_data (&b), fb_len (&b));
  g_assert_cmpuint (rec->total_samples, ==, 0);
  g_assert_cmpint (probe (fb_data (&b), fb_len (&b)), !=, PROBE_YES);
  fb_clear (&b);
}

/* Every single-byte corruption of a small file: no crash, and what is shown
 * is well formed (ASan and the expansion's own checks see to that). */
static void
test_every_byte_corrupted (void)
{
  Fmp4Builder b;
  build_two_fragment_file (&b);
  g_autofree guint8 *copy = g_memdup2 (fb_data (&b), fb_len (&b));
  const guint8 values[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
  for (gsize pos = 0; pos < fb_len (&b); pos++)
    for (guint v = 0; v < N (values); v++) {
      copy[pos] = values[v] ^ fb_data (&b)[pos] ? values[v] : values[v] ^ 0x55;
      g_autoptr (Recording) rec = fb_index (copy, fb_len (&b));
      for (guint t = 0; t < rec->tracks->len; t++) {
        Track *track = g_ptr_array_index (rec->tracks, t);
        g_autoptr (GArray) got = fb_visible (rec, track->id);
        for (guint i = 0; i < got->len; i++) {
          const FbSample *s = &g_array_index (got, FbSample, i);
          g_assert_true (s->size == 0 || (s->offset != G_MAXUINT64 && s->offset + s->size <= fb_len (&b)));
        }
      }
      copy[pos] = fb_data (&b)[pos];
    }
  fb_clear (&b);
}

static void
test_random_garbage_after_init (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);
  for (int round = 0; round < 300; round++) {
    Fmp4Builder b;
    fb_init (&b);
    fb_init_segment (&b, 2);
    gsize n = g_rand_int_range (rand, 1, 400);
    for (gsize i = 0; i < n; i++)
      byte_writer_u8 (&b.w, g_rand_int (rand));
    g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "garbage");
    for (gsize len = 0; len <= fb_len (&b); len += g_rand_int_range (rand, 1, 64)) {
      Source src = source_from_memory (fb_data (&b), len);
      recording_update (rec, &src);
    }
    g_assert_cmpuint (rec->payload_len, <=, fb_len (&b));
    fb_clear (&b);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fb_quiet_logs ();
  g_test_add_func ("/fmp4/probe/empty-moov-mvex", test_probe_empty_moov_with_mvex);
  g_test_add_func ("/fmp4/probe/styp-first", test_probe_styp_first);
  g_test_add_func ("/fmp4/probe/plain-mp4", test_probe_plain_mp4_without_mvex);
  g_test_add_func ("/fmp4/probe/mdat-first", test_probe_mdat_first);
  g_test_add_func ("/fmp4/probe/random-bytes", test_probe_random_bytes);
  g_test_add_func ("/fmp4/probe/short-prefix", test_probe_short_prefix_needs_more);
  g_test_add_func ("/fmp4/init/tracks", test_init_segment_tracks);
  g_test_add_func ("/fmp4/tfhd/no-flags", test_tfhd_no_flags);
  g_test_add_func ("/fmp4/tfhd/base-data-offset", test_tfhd_base_data_offset);
  g_test_add_func ("/fmp4/tfhd/description-index", test_tfhd_description_index);
  g_test_add_func ("/fmp4/tfhd/default-duration", test_tfhd_default_duration);
  g_test_add_func ("/fmp4/tfhd/default-size", test_tfhd_default_size);
  g_test_add_func ("/fmp4/tfhd/default-flags", test_tfhd_default_flags);
  g_test_add_func ("/fmp4/tfhd/duration-is-empty", test_tfhd_duration_is_empty);
  g_test_add_func ("/fmp4/tfhd/default-base-is-moof", test_tfhd_default_base_is_moof);
  g_test_add_func ("/fmp4/tfhd/every-combination", test_tfhd_every_combination);
  g_test_add_func ("/fmp4/tfhd/explicit-base-beats-moof-base", test_tfhd_explicit_base_beats_moof_base);
  g_test_add_func ("/fmp4/trex/defaults", test_trex_defaults);
  g_test_add_func ("/fmp4/trun/every-field-combination", test_trun_every_field_combination);
  g_test_add_func ("/fmp4/trun/first-sample-flags", test_trun_first_sample_flags);
  g_test_add_func ("/fmp4/trun/negative-composition-offsets", test_trun_negative_composition_offsets);
  g_test_add_func ("/fmp4/trun/zero-samples", test_trun_zero_samples);
  g_test_add_func ("/fmp4/trun/sync-from-flags", test_sync_from_sample_flags);
  g_test_add_func ("/fmp4/tfdt/version-0", test_tfdt_version_0);
  g_test_add_func ("/fmp4/tfdt/version-1", test_tfdt_version_1);
  g_test_add_func ("/fmp4/tfdt/absent", test_tfdt_absent_starts_at_zero);
  g_test_add_func ("/fmp4/tfdt/empty-fragment-ignored", test_tfdt_of_empty_fragment_ignored);
  g_test_add_func ("/fmp4/moof/several-trafs", test_several_trafs_per_moof);
  g_test_add_func ("/fmp4/moof/implicit-base-later-traf", test_implicit_base_of_later_traf);
  g_test_add_func ("/fmp4/moof/implicit-base-with-data-offset", test_implicit_base_with_data_offset);
  g_test_add_func ("/fmp4/moof/several-truns", test_several_truns_per_traf);
  g_test_add_func ("/fmp4/moof/reverse-data-order", test_trafs_in_reverse_data_order);
  g_test_add_func ("/fmp4/moof/unknown-track", test_unknown_track_fragments_skipped);
  g_test_add_func ("/fmp4/moof/implicit-base-after-unknown-track", test_implicit_base_after_unknown_track);
  g_test_add_func ("/fmp4/moof/implicit-base-after-left-out-track", test_implicit_base_after_left_out_track);
  g_test_add_func ("/fmp4/boxes/skipped", test_other_top_level_boxes_skipped);
  g_test_add_func ("/fmp4/boxes/largesize-free", test_largesize_boxes_between_fragments);
  g_test_add_func ("/fmp4/boxes/last-mdat-size-zero", test_last_mdat_size_zero);
  g_test_add_func ("/fmp4/growth/partial-mdat", test_partial_mdat_shows_complete_samples);
  g_test_add_func ("/fmp4/growth/every-byte-incremental", test_every_byte_incremental);
  g_test_add_func ("/fmp4/growth/every-prefix-from-scratch", test_every_prefix_from_scratch);
  g_test_add_func ("/fmp4/growth/uneven-steps", test_growth_in_uneven_steps);
  g_test_add_func ("/fmp4/growth/shrinking-source", test_shrinking_source_fails);
  g_test_add_func ("/fmp4/hostile/size-below-8", test_top_level_size_below_8_fails);
  g_test_add_func ("/fmp4/hostile/size-beyond-file", test_top_level_size_beyond_file_waits);
  g_test_add_func ("/fmp4/hostile/largesize-near-2^64", test_largesize_near_2_64);
  g_test_add_func ("/fmp4/hostile/largesize-inside-moof", test_largesize_inside_moof);
  g_test_add_func ("/fmp4/hostile/trun-2^32-samples", test_trun_claims_2_32_samples);
  g_test_add_func ("/fmp4/hostile/overlapping-data", test_overlapping_sample_data_fails);
  g_test_add_func ("/fmp4/hostile/data-before-previous-fragment", test_data_before_previous_fragment_fails);
  g_test_add_func ("/fmp4/hostile/data-offset-before-start", test_data_offset_before_file_start_fails);
  g_test_add_func ("/fmp4/hostile/base-data-offset-near-2^64", test_base_data_offset_near_2_64);
  g_test_add_func ("/fmp4/hostile/data-beyond-file", test_data_beyond_file_waits);
  g_test_add_func ("/fmp4/hostile/moof-before-moov", test_moof_before_moov_fails);
  g_test_add_func ("/fmp4/walk/mdat-before-moov", test_mdat_before_moov_is_read);
  g_test_add_func ("/fmp4/walk/second-moov-finalises", test_second_moov_finalises);
  g_test_add_func ("/fmp4/hostile/size-zero-not-mdat", test_size_zero_box_not_mdat_fails);
  g_test_add_func ("/fmp4/hostile/moov-without-mvex", test_moov_without_mvex_fails);
  g_test_add_func ("/fmp4/hostile/non-printable-type", test_non_printable_box_type_fails);
  g_test_add_func ("/fmp4/hostile/zero-timescale", test_zero_timescale_track_left_out);
  g_test_add_func ("/fmp4/hostile/duplicate-track-id", test_duplicate_track_id_left_out);
  g_test_add_func ("/fmp4/hostile/moov-over-limit", test_moov_larger_than_limit);
  g_test_add_func ("/fmp4/hostile/every-byte-corrupted", test_every_byte_corrupted);
  g_test_add_func ("/fmp4/hostile/random-garbage", test_random_garbage_after_init);
  return g_test_run ();
}

/* test-limits.c — hostile sizes and counts stay within the documented bounds.
 *
 * RECORDING_MAX_TRACKS, RECORDING_MAX_SAMPLES and RECORDING_MAX_HEADER_BOX
 * (muxer/recording.h) bound what a recording may hold; no claim in a file
 * (a trun of 2^32-1 samples, a box of 2^64-1 bytes, a moof of 2^63 bytes,
 * ten thousand tracks, boxes nested a hundred thousand deep) may make the
 * library allocate beyond them.  Each such case runs in a subprocess whose
 * peak resident size is measured (getrusage) around the indexing and the
 * layout of its snapshot, and ends with rec->failed set or a bounded partial
 * result.
 *
 * The work per check of a growing file is bounded too: indexing a file that
 * grows reads each moov/moof (Matroska: each element header and the few
 * payload bytes an audio duration needs) about once, never the media payload,
 * and a check that finds a few more bytes reads a few bytes.  The bytes read
 * are counted with /proc/self/io (rchar), from a file descriptor source.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fmp4-builder.h"
#include "muxer/layout.h"
#include "muxer/mkv.h"

#define MiB (1024.0 * 1024.0)

/* ---- measuring ------------------------------------------------------------ */

static double
peak_rss_mib (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

/* /proc/self/io's rchar: bytes read through read(2)/pread(2) before this
 * read of the file itself; *self is what this read adds. */
static guint64
rchar_raw (guint64 *self)
{
  char buf[512];
  int fd = open ("/proc/self/io", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  g_assert_cmpint (n, >, 0);
  buf[n] = 0;
  const char *p = strstr (buf, "rchar:");
  g_assert_nonnull (p);
  *self = (guint64) n;
  return g_ascii_strtoull (p + 6, NULL, 10);
}

/* A mark for read_since(): the bytes read so far, this read included. */
static guint64
read_mark (void)
{
  guint64 self;
  guint64 r = rchar_raw (&self);
  return r + self;
}

/* Bytes read since the mark (not counting the reads of /proc/self/io). */
static guint64
read_since (guint64 mark)
{
  guint64 self;
  return rchar_raw (&self) - mark;
}

/* Indexes data in one go and lays out its snapshot; checks the recording is
 * within the limits; returns it. */
static Recording *
index_and_layout (const IndexerClass *indexer, const guint8 *data, gsize len)
{
  Recording *rec = recording_new (indexer, "limits");
  Source src = source_from_memory (data, len);
  recording_update (rec, &src);
  g_assert_cmpuint (rec->tracks->len, <=, RECORDING_MAX_TRACKS);
  g_assert_cmpuint (rec->total_samples, <=, RECORDING_MAX_SAMPLES);
  Layout *l = layout_new (rec, recording_snapshot (rec));
  g_assert_cmpuint (l->size, ==, l->header_len + l->snap->payload_len);
  g_assert_cmpuint (l->snap->payload_len, <=, len);
  layout_unref (l);
  return rec;
}

typedef struct {
  const char *path;
  void (*build) (ByteWriter *w);        /* the hostile file */
  const IndexerClass *indexer;
  double max_growth_mib;                /* peak RSS growth allowed */
  gboolean want_failed;                 /* else: a bounded partial result */
  guint64 max_samples;
} LimitCase;

static void
run_case (gconstpointer data)
{
  const LimitCase *c = data;
  if (g_test_subprocess ()) {
    ByteWriter w;
    byte_writer_init (&w);
    c->build (&w);
    double before = peak_rss_mib ();
    Recording *rec = index_and_layout (c->indexer, w.buf->data, w.buf->len);
    double growth = peak_rss_mib () - before;
    g_printerr ("# %s: %u bytes in, %u tracks, %" G_GUINT64_FORMAT " samples, failed %d (%s); "
                "index memory %zu bytes; peak RSS grew %.1f MiB\n",
                c->path, w.buf->len, rec->tracks->len, rec->total_samples, rec->failed,
                rec->error ? rec->error : "-", recording_memory (rec), growth);
    if (c->want_failed)
      g_assert_true (rec->failed);
    g_assert_cmpuint (rec->total_samples, <=, c->max_samples);
    /* The tables' aim: at most 16 bytes a sample resident. */
    g_assert_cmpuint (recording_memory (rec), <=, 16 * rec->total_samples + 65536);
    g_assert_cmpfloat (growth, <=, c->max_growth_mib);
    recording_unref (rec);
    byte_writer_clear (&w);
    return;
  }
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* ---- fragmented MP4 ------------------------------------------------------- */

static void
init_segment (ByteWriter *w)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  byte_writer_bytes (w, fb_data (&b), fb_len (&b));
  fb_clear (&b);
}

/* moof with one traf of track 1: tfhd (default-base-is-moof, default duration
 * and size), tfdt, and a trun of count samples with no per-sample fields. */
static void
moof_defaults_only (ByteWriter *w, guint32 count, guint32 size)
{
  gsize moof = box_begin (w, FOURCC ('m', 'o', 'o', 'f'));
  gsize mfhd = box_begin_full (w, FOURCC ('m', 'f', 'h', 'd'), 0, 0);
  byte_writer_u32 (w, 1);
  box_end (w, mfhd);
  gsize traf = box_begin (w, FOURCC ('t', 'r', 'a', 'f'));
  gsize tfhd = box_begin_full (w, FOURCC ('t', 'f', 'h', 'd'), 0, FB_TFHD_DEFAULT_BASE_IS_MOOF |
                               FB_TFHD_DEFAULT_DURATION | FB_TFHD_DEFAULT_SIZE);
  byte_writer_u32 (w, 1);
  byte_writer_u32 (w, 1);
  byte_writer_u32 (w, size);
  box_end (w, tfhd);
  gsize tfdt = box_begin_full (w, FOURCC ('t', 'f', 'd', 't'), 1, 0);
  byte_writer_u64 (w, 0);
  box_end (w, tfdt);
  gsize trun = box_begin_full (w, FOURCC ('t', 'r', 'u', 'n'), 0, 0);
  byte_writer_u32 (w, count);
  box_end (w, trun);
  box_end (w, traf);
  box_end (w, moof);
}

static void
build_trun_count_max (ByteWriter *w)
{
  init_segment (w);
  moof_defaults_only (w, G_MAXUINT32, 1);
  gsize mdat = box_begin (w, FOURCC ('m', 'd', 'a', 't'));
  byte_writer_zeros (w, 4096);
  box_end (w, mdat);
}

/* The same claim, made by many moofs of zero-byte samples (which cost no
 * bytes on disk): each moof is capped (2^20 samples), the recording at
 * RECORDING_MAX_SAMPLES.  Twelve moofs make 12.6 million samples from 1.7 KB:
 * within the limits, but note the amplification (about 50 MB of tables, and
 * a peak of about 200 MB while a moof's samples are pending). */
static void
build_zero_size_moofs (ByteWriter *w)
{
  init_segment (w);
  for (int i = 0; i < 8; i++)
    moof_defaults_only (w, G_MAXUINT32 / 4096, 0);
  for (int i = 0; i < 4; i++)
    moof_defaults_only (w, 1u << 20, 0);
}

static void
large_box_header (ByteWriter *w, guint32 type, guint64 size)
{
  byte_writer_u32 (w, 1);
  byte_writer_u32 (w, type);
  byte_writer_u64 (w, size);
}

static void
build_box_size_max (ByteWriter *w)
{
  init_segment (w);
  large_box_header (w, FOURCC ('m', 'o', 'o', 'f'), G_MAXUINT64);
  byte_writer_zeros (w, 1024);
}

static void
build_free_size_max (ByteWriter *w)
{
  init_segment (w);
  large_box_header (w, FOURCC ('f', 'r', 'e', 'e'), G_MAXUINT64);
  byte_writer_zeros (w, 1024);
}

static void
build_moof_2e63 (ByteWriter *w)
{
  init_segment (w);
  large_box_header (w, FOURCC ('m', 'o', 'o', 'f'), G_GUINT64_CONSTANT (1) << 63);
  byte_writer_zeros (w, 1024);
}

static void
build_moov_over_limit (ByteWriter *w)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  byte_writer_bytes (w, fb_data (&b), fb_len (&b));
  fb_clear (&b);
  byte_writer_u32 (w, RECORDING_MAX_HEADER_BOX + 1);
  byte_writer_u32 (w, FOURCC ('m', 'o', 'o', 'v'));
  byte_writer_zeros (w, 4096);
}

/* The same moov, all of it on disk: refused without being read. */
static void
build_moov_over_limit_whole (ByteWriter *w)
{
  build_moov_over_limit (w);
  g_byte_array_set_size (w->buf, 24 + RECORDING_MAX_HEADER_BOX + 1);
}

/* Ten thousand tracks in the moov; RECORDING_MAX_TRACKS are kept at most. */
static void
build_many_tracks (ByteWriter *w)
{
  Fmp4Builder b;
  fb_init (&b);
  guint n = 10000;
  g_autofree FbTrack *tracks = g_new0 (FbTrack, n);
  for (guint i = 0; i < n; i++)
    tracks[i] = (FbTrack) { .id = G_MAXUINT32 - i, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000,
                            .trex_duration = 1 };
  fb_ftyp (&b);
  fb_moov (&b, tracks, n, TRUE);
  byte_writer_bytes (w, fb_data (&b), fb_len (&b));
  fb_clear (&b);
}

/* A moof whose body is one box nested 100000 deep (traf in traf ...). */
static void
build_nested_moof (ByteWriter *w)
{
  init_segment (w);
  guint depth = 100000;
  g_autofree gsize *open = g_new (gsize, depth);
  gsize moof = box_begin (w, FOURCC ('m', 'o', 'o', 'f'));
  for (guint i = 0; i < depth; i++)
    open[i] = box_begin (w, FOURCC ('t', 'r', 'a', 'f'));
  for (guint i = depth; i-- > 0;)
    box_end (w, open[i]);
  box_end (w, moof);
}

/* A moov nested 100000 deep (trak in trak, then mvex). */
static void
build_nested_moov (ByteWriter *w)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  byte_writer_bytes (w, fb_data (&b), fb_len (&b));
  fb_clear (&b);
  guint depth = 100000;
  g_autofree gsize *open = g_new (gsize, depth);
  gsize moov = box_begin (w, FOURCC ('m', 'o', 'o', 'v'));
  for (guint i = 0; i < depth; i++)
    open[i] = box_begin (w, FOURCC ('t', 'r', 'a', 'k'));
  for (guint i = depth; i-- > 0;)
    box_end (w, open[i]);
  box_end (w, box_begin (w, FOURCC ('m', 'v', 'e', 'x')));
  box_end (w, moov);
}

/* A moof of 200000 trafs of tracks that do not exist. */
static void
build_many_trafs (ByteWriter *w)
{
  init_segment (w);
  gsize moof = box_begin (w, FOURCC ('m', 'o', 'o', 'f'));
  for (guint32 i = 0; i < 200000; i++) {
    gsize traf = box_begin (w, FOURCC ('t', 'r', 'a', 'f'));
    gsize tfhd = box_begin_full (w, FOURCC ('t', 'f', 'h', 'd'), 0, FB_TFHD_DEFAULT_BASE_IS_MOOF);
    byte_writer_u32 (w, 1000 + i);
    box_end (w, tfhd);
    box_end (w, traf);
  }
  box_end (w, moof);
}

/* ---- Matroska ------------------------------------------------------------- */

static void
ebml_id (ByteWriter *w, guint32 id)
{
  if (id > 0xffffff)
    byte_writer_u32 (w, id);
  else if (id > 0xffff)
    byte_writer_u24 (w, id);
  else if (id > 0xff)
    byte_writer_u16 (w, (guint16) id);
  else
    byte_writer_u8 (w, (guint8) id);
}

/* An element header with an 8-byte size field. */
static void
ebml_header8 (ByteWriter *w, guint32 id, guint64 size)
{
  ebml_id (w, id);
  byte_writer_u64 (w, G_GUINT64_CONSTANT (0x0100000000000000) | size);
}

/* The contents of a file of the fuzz corpus, from the repository root or
 * from next to this binary (build/<flavour>/tests/). */
static gboolean
corpus_file (const char *name, char **data, gsize *len)
{
  g_autofree char *rel = g_build_filename ("tests", "fuzz", "corpus", name, NULL);
  if (g_file_get_contents (rel, data, len, NULL))
    return TRUE;
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (!exe)
    return FALSE;
  g_autofree char *dir = g_path_get_dirname (exe);
  g_autofree char *path = g_build_filename (dir, "..", "..", "..", rel, NULL);
  return g_file_get_contents (path, data, len, NULL);
}

/* EBML header and a Segment of unknown size, up to its first element with
 * the given 4-byte ID (Tracks or Cluster), from a small live recording of
 * the fuzz corpus. */
static void
mkv_head (ByteWriter *w, guint32 id)
{
  char *data;
  gsize len;
  g_assert_true (corpus_file ("mkv/v-unknown-size.mkv", &data, &len));
  const guint8 want[4] = { id >> 24, id >> 16, id >> 8, id };
  gsize cut = 0;
  for (gsize i = 0; i + 4 <= len; i++)
    if (memcmp (data + i, want, 4) == 0) {
      cut = i;
      break;
    }
  g_assert_cmpuint (cut, >, 0);
  byte_writer_bytes (w, data, cut);
  g_free (data);
}

#define ID_TRACKS 0x1654ae6bu
#define ID_CLUSTER 0x1f43b675u

static void
build_mkv_cluster_huge (ByteWriter *w)
{
  mkv_head (w, ID_CLUSTER);
  ebml_header8 (w, 0x1f43b675, G_GUINT64_CONSTANT (0x00fffffffffffffe));   /* largest known size */
  byte_writer_bytes (w, "\xe7\x81\x00", 3);                                /* Timestamp 0 */
  ebml_header8 (w, 0xa3, G_GUINT64_CONSTANT (0x00fffffffffffff0));        /* a SimpleBlock as large */
  byte_writer_bytes (w, "\x81\x00\x00\x80", 4);
  byte_writer_zeros (w, 1024);
}

static void
build_mkv_lacing (ByteWriter *w)
{
  mkv_head (w, ID_CLUSTER);
  ebml_id (w, 0x1f43b675);
  byte_writer_u8 (w, 0xff);                                                /* unknown size */
  byte_writer_bytes (w, "\xe7\x81\x00", 3);
  for (int k = 0; k < 64; k++) {
    /* SimpleBlock, track 1, Xiph lacing claiming 256 frames of 255*N bytes. */
    ebml_header8 (w, 0xa3, 4 + 1 + 255 * 8 + 16);
    byte_writer_bytes (w, "\x81\x00\x00\x82", 4);
    byte_writer_u8 (w, 255);
    for (int i = 0; i < 255 * 8; i++)
      byte_writer_u8 (w, 0xff);
    byte_writer_zeros (w, 16);
  }
}

static void
build_mkv_tracks_huge (ByteWriter *w)
{
  /* The EBML header and a Segment of unknown size, then a Tracks element
   * claiming 2^50 bytes. */
  mkv_head (w, ID_TRACKS);
  ebml_header8 (w, 0x1654ae6b, G_GUINT64_CONSTANT (1) << 50);
  byte_writer_zeros (w, 4096);
}

static void
build_mkv_nested (ByteWriter *w)
{
  mkv_head (w, ID_CLUSTER);
  /* 100000 nested BlockGroups (masters) inside an unknown-size Cluster. */
  ebml_id (w, 0x1f43b675);
  byte_writer_u8 (w, 0xff);
  byte_writer_bytes (w, "\xe7\x81\x00", 3);
  guint depth = 100000;
  for (guint i = 0; i < depth; i++)
    ebml_header8 (w, 0xa0, (guint64) (depth - 1 - i) * 9);
}

static void
build_mkv_many_tracks (ByteWriter *w)
{
  mkv_head (w, ID_CLUSTER);
  w->buf->len = 0;
  /* The head without its Tracks: keep the EBML header and Segment start. */
  mkv_head (w, ID_CLUSTER);
  gsize tracks = w->buf->len;
  ebml_header8 (w, 0x1654ae6b, 0);
  gsize body = w->buf->len;
  for (guint i = 0; i < 10000; i++) {
    /* TrackEntry: TrackNumber i+1, TrackType 1, CodecID V_MPEG4/ISO/AVC. */
    ebml_id (w, 0xae);
    byte_writer_u8 (w, 0x80 | 26);
    byte_writer_bytes (w, "\xd7\x84", 2);
    byte_writer_u32 (w, i + 1);
    byte_writer_bytes (w, "\x83\x81\x01", 3);
    byte_writer_bytes (w, "\x86\x8f" "V_MPEG4/ISO/AVC", 17);
  }
  guint64 size = w->buf->len - body;
  byte_writer_put_u64_at (w, tracks + 4, G_GUINT64_CONSTANT (0x0100000000000000) | size);
}

/* ---- work per check --------------------------------------------------------- */

static char *
write_temp (const guint8 *data, gsize len, int *fd)
{
  g_autoptr (GError) error = NULL;
  char *path = NULL;
  *fd = g_file_open_tmp ("livemp4-limits-XXXXXX", &path, &error);
  g_assert_no_error (error);
  g_assert_true (write (*fd, data, len) == (ssize_t) len);
  return path;
}

/* A recording of 60 fragments of one 64 KiB sample each, seen growing in
 * steps of 1 to 4099 bytes: the moov and every moof are read once when they
 * are complete, box headers are re-read while they are incomplete, and the
 * payload is never read. */
static void
test_work_fmp4 (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_init_segment (&b, 1);
  g_autoptr (GArray) header_boxes = g_array_new (FALSE, FALSE, sizeof (guint64) * 2);   /* end, size */
  guint64 moov_end = fb_len (&b);
  g_array_append_vals (header_boxes, ((guint64[2]) { moov_end, moov_end }), 1);
  static FbSample big[1] = { { .duration = 3000, .size = 65536 } };
  for (int i = 0; i < 60; i++) {
    guint64 moof = fb_simple_fragment (&b, 1, 3000 * i, big, 1);
    guint32 size;
    memcpy (&size, fb_data (&b) + moof, 4);
    size = GUINT32_FROM_BE (size);
    g_array_append_vals (header_boxes, ((guint64[2]) { moof + size, size }), 1);
  }
  int fd;
  g_autofree char *path = write_temp (fb_data (&b), fb_len (&b), &fd);
  gsize total = fb_len (&b);

  Recording *rec = recording_new (&fmp4_indexer, "work");
  guint64 pos = 0, read_total = 0, worst_small = 0, updates = 0, header_bytes = 0;
  guint box = 0;
  guint64 step_seed = 1;
  while (pos < total) {
    step_seed = step_seed * 6364136223846793005ull + 1442695040888963407ull;
    guint64 step = (step_seed >> 33) % 3 == 0 ? 1 : 1 + (step_seed >> 40) % 4099;
    guint64 next = MIN (total, pos + step);
    /* Header boxes completed by this step may be read whole. */
    guint64 allowed = 0;
    while (box < header_boxes->len && ((guint64 *) header_boxes->data)[2 * box] <= next) {
      allowed += ((guint64 *) header_boxes->data)[2 * box + 1];
      box++;
    }
    header_bytes += allowed;
    Source src = { .fd = fd, .size = next };
    guint64 before = read_mark ();
    recording_update (rec, &src);
    guint64 spent = read_since (before);
    read_total += spent;
    if (spent > allowed)
      worst_small = MAX (worst_small, spent - allowed);
    updates++;
    pos = next;
  }
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 60);
  g_test_message ("fmp4: %" G_GUINT64_FORMAT " updates over %zu bytes read %" G_GUINT64_FORMAT " bytes (moov+moofs %"
                  G_GUINT64_FORMAT "); at most %" G_GUINT64_FORMAT " bytes beyond completed header boxes per update",
                  updates, total, read_total, header_bytes, worst_small);
  /* Beyond the header boxes completed in the step, a check reads at most a
   * box header (16 bytes) a box it looks at, and there are at most two. */
  g_assert_cmpuint (worst_small, <=, 64);
  g_assert_cmpuint (read_total, <=, header_bytes + 64 * updates);
  g_assert_cmpuint (read_total, <, total / 20);   /* the payload is not read */
  recording_unref (rec);
  close (fd);
  unlink (path);
  fb_clear (&b);
}

/* The same for Matroska: a live recording of the corpus, byte by byte. */
static void
test_work_mkv (void)
{
  char *data;
  gsize len;
  if (!corpus_file ("mkv/av-vp9-opus.webm", &data, &len)) {
    g_test_skip ("tests/fuzz/corpus/mkv not found");
    return;
  }
  int fd;
  g_autofree char *path = write_temp ((guint8 *) data, len, &fd);
  Recording *whole = recording_new (&mkv_indexer, "whole");
  Source all = { .fd = fd, .size = len };
  guint64 before = read_mark ();
  recording_update (whole, &all);
  guint64 one_shot = read_since (before);

  Recording *rec = recording_new (&mkv_indexer, "work");
  guint64 read_total = 0, worst = 0;
  for (gsize pos = 1; pos <= len; pos++) {
    Source src = { .fd = fd, .size = pos };
    before = read_mark ();
    recording_update (rec, &src);
    guint64 spent = read_since (before);
    read_total += spent;
    worst = MAX (worst, spent);
  }
  g_test_message ("mkv: %zu bytes: one pass read %" G_GUINT64_FORMAT " bytes; byte by byte %" G_GUINT64_FORMAT
                  " bytes in all, at most %" G_GUINT64_FORMAT " in one update; %" G_GUINT64_FORMAT " samples",
                  len, one_shot, read_total, worst, rec->total_samples);
  g_assert_cmpuint (rec->total_samples, ==, whole->total_samples);
  g_assert_cmpuint (rec->total_samples, >, 0);
  /* Growing one byte at a time costs a bounded amount per byte: no update
   * re-reads what earlier ones indexed. */
  g_assert_cmpuint (read_total, <=, 64 * len);
  g_assert_cmpuint (worst, <=, MAX (4096, one_shot));
  recording_unref (rec);
  recording_unref (whole);
  close (fd);
  unlink (path);
  g_free (data);
}

/* ------------------------------------------------------------------------ */

static const LimitCase cases[] = {
  { "/limits/fmp4/trun-count-2^32-1", build_trun_count_max, &fmp4_indexer, 24, TRUE, 0 },
  { "/limits/fmp4/zero-size-samples", build_zero_size_moofs, &fmp4_indexer, 512, FALSE, RECORDING_MAX_SAMPLES },
  { "/limits/fmp4/moof-size-2^64-1", build_box_size_max, &fmp4_indexer, 24, TRUE, 0 },
  { "/limits/fmp4/free-size-2^64-1", build_free_size_max, &fmp4_indexer, 24, TRUE, 0 },
  /* Waits (the box is not all on disk yet) without reading or allocating it;
   * it would be refused (RECORDING_MAX_HEADER_BOX) if it were ever whole. */
  { "/limits/fmp4/moof-size-2^63", build_moof_2e63, &fmp4_indexer, 24, FALSE, 0 },
  { "/limits/fmp4/moov-over-limit", build_moov_over_limit, &fmp4_indexer, 24, FALSE, 0 },
  { "/limits/fmp4/moov-over-limit-whole", build_moov_over_limit_whole, &fmp4_indexer, 24, TRUE, 0 },
  { "/limits/fmp4/10000-tracks", build_many_tracks, &fmp4_indexer, 96, TRUE, 0 },
  { "/limits/fmp4/moof-nested-100000", build_nested_moof, &fmp4_indexer, 48, FALSE, 0 },
  { "/limits/fmp4/moov-nested-100000", build_nested_moov, &fmp4_indexer, 48, TRUE, 0 },
  { "/limits/fmp4/200000-unknown-trafs", build_many_trafs, &fmp4_indexer, 64, FALSE, 0 },
  { "/limits/mkv/cluster-and-block-2^56", build_mkv_cluster_huge, &mkv_indexer, 24, FALSE, 0 },
  { "/limits/mkv/xiph-lacing-256-frames", build_mkv_lacing, &mkv_indexer, 48, FALSE, 64 * 256 },
  { "/limits/mkv/tracks-2^50", build_mkv_tracks_huge, &mkv_indexer, 24, TRUE, 0 },
  { "/limits/mkv/nested-100000", build_mkv_nested, &mkv_indexer, 48, FALSE, 0 },
  { "/limits/mkv/10000-tracks", build_mkv_many_tracks, &mkv_indexer, 96, TRUE, 0 },
};

/* The synthesised moov must stay below 4 GiB: a recording whose tables
 * would pass RECORDING_MAX_MOOV_TABLES there stops before the sample that
 * would, and says why.  (Reaching the bound for real takes tens of millions
 * of hostile samples; the account is started near it instead.) */
static void
test_moov_tables_bound (void)
{
  g_autoptr (Recording) rec = recording_new (&fmp4_indexer, "bound");
  recording_begin_append (rec);
  Track *t = recording_add_track (rec);
  t->sample_descriptions = g_bytes_new ("\0\0\0\1", 4);
  SampleInfo s = { .size = 10, .duration = 1, .sync = TRUE, .description_index = 1 };
  g_assert_true (recording_append_sample (rec, t, 0, &s));
  guint64 one = rec->moov_table_bytes;
  g_assert_cmpuint (one, ==, sample_table_moov_bytes (&t->table));
  g_assert_cmpuint (one, <=, 48);
  g_assert_cmpuint (one, ==, 8 + 8 + 4 + 12 + 8);   /* stts, ctts, stsz, stsc, stco */
  /* Room for one more sample at the worst, not for two. */
  rec->moov_table_bytes = RECORDING_MAX_MOOV_TABLES - 50;
  g_assert_true (recording_append_sample (rec, t, 10, &s));
  g_assert_false (recording_append_sample (rec, t, 20, &s));
  recording_end_append (rec);
  g_assert_true (rec->failed);
  g_assert_nonnull (strstr (rec->error, "moov"));
  g_assert_cmpuint (t->table.count, ==, 2);
  g_assert_cmpuint (rec->moov_table_bytes, <=, RECORDING_MAX_MOOV_TABLES);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fb_quiet_logs ();
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_test_add_data_func (cases[i].path, &cases[i], run_case);
  g_test_add_func ("/limits/work-per-check/fmp4", test_work_fmp4);
  g_test_add_func ("/limits/moov-tables-bound", test_moov_tables_bound);
  g_test_add_func ("/limits/work-per-check/mkv", test_work_mkv);
  return g_test_run ();
}

/* test-mp4.c — the plain MP4/MOV indexer on files crafted in memory: the
 * top-level walk (several mdats, largesize and size-0 mdats, free/wide/skip/
 * uuid boxes), the moov (cmov, edit lists, signed ctts, co64, user data),
 * truncation at every byte and hostile sizes. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "muxer/bytes.h"
#include "muxer/fmp4.h"
#include "muxer/layout.h"
#include "muxer/mp4.h"
#include "muxer/recording.h"

/* ---- a small plain MP4 builder --------------------------------------------- */

typedef struct {
  guint32 size, duration;
  gint32 cts;
  gboolean sync;
  guint64 offset;              /* set when the sample's bytes are written */
} MbSample;

typedef struct {
  guint32 id, handler, timescale;
  MbSample *samples;
  guint n;
  gboolean co64;
  gint64 elst_media_time;      /* < 0: no edit list */
  gboolean stsd_empty;         /* no sample entry */
} MbTrack;

static void
mb_full (ByteWriter *w, const char *type, guint8 version, gsize *box)
{
  *box = box_begin_full (w, FOURCC (type[0], type[1], type[2], type[3]), version, 0);
}

static guint32
fcc (const char *t)
{
  return FOURCC (t[0], t[1], t[2], t[3]);
}

static void
mb_trak (ByteWriter *w, const MbTrack *t)
{
  gsize trak = box_begin (w, fcc ("trak")), b;
  b = box_begin_full (w, fcc ("tkhd"), 0, 3);
  byte_writer_zeros (w, 8);
  byte_writer_u32 (w, t->id);
  byte_writer_zeros (w, 4 + 4 + 8 + 8);
  const guint32 unity[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };
  for (int i = 0; i < 9; i++)
    byte_writer_u32 (w, unity[i]);
  byte_writer_u32 (w, 160 << 16);
  byte_writer_u32 (w, 120 << 16);
  box_end (w, b);
  if (t->elst_media_time >= 0) {
    gsize edts = box_begin (w, fcc ("edts"));
    b = box_begin_full (w, fcc ("elst"), 0, 0);
    byte_writer_u32 (w, 1);
    byte_writer_u32 (w, 1000);
    byte_writer_u32 (w, (guint32) t->elst_media_time);
    byte_writer_u32 (w, 0x10000);
    box_end (w, b);
    box_end (w, edts);
  }
  gsize mdia = box_begin (w, fcc ("mdia"));
  mb_full (w, "mdhd", 0, &b);
  byte_writer_zeros (w, 8);
  byte_writer_u32 (w, t->timescale);
  byte_writer_u32 (w, 0);
  byte_writer_u16 (w, 0x55c4);
  byte_writer_u16 (w, 0);
  box_end (w, b);
  mb_full (w, "hdlr", 0, &b);
  byte_writer_u32 (w, 0);
  byte_writer_u32 (w, t->handler);
  byte_writer_zeros (w, 13);
  box_end (w, b);
  gsize minf = box_begin (w, fcc ("minf"));
  mb_full (w, "smhd", 0, &b);
  byte_writer_zeros (w, 4);
  box_end (w, b);
  gsize stbl = box_begin (w, fcc ("stbl"));
  mb_full (w, "stsd", 0, &b);
  byte_writer_u32 (w, t->stsd_empty ? 0 : 1);
  if (!t->stsd_empty) {
    gsize entry = box_begin (w, t->handler == fcc ("vide") ? fcc ("avc1") : fcc ("mp4a"));
    byte_writer_zeros (w, 8);
    box_end (w, entry);
  }
  box_end (w, b);
  mb_full (w, "stts", 0, &b);
  byte_writer_u32 (w, t->n);
  for (guint i = 0; i < t->n; i++) {
    byte_writer_u32 (w, 1);
    byte_writer_u32 (w, t->samples[i].duration);
  }
  box_end (w, b);
  gboolean ctts = FALSE, all_sync = TRUE;
  for (guint i = 0; i < t->n; i++) {
    ctts |= t->samples[i].cts != 0;
    all_sync &= t->samples[i].sync;
  }
  if (ctts) {
    mb_full (w, "ctts", 1, &b);
    byte_writer_u32 (w, t->n);
    for (guint i = 0; i < t->n; i++) {
      byte_writer_u32 (w, 1);
      byte_writer_u32 (w, (guint32) t->samples[i].cts);
    }
    box_end (w, b);
  }
  if (!all_sync) {
    mb_full (w, "stss", 0, &b);
    guint count = 0;
    for (guint i = 0; i < t->n; i++)
      count += t->samples[i].sync;
    byte_writer_u32 (w, count);
    for (guint i = 0; i < t->n; i++)
      if (t->samples[i].sync)
        byte_writer_u32 (w, i + 1);
    box_end (w, b);
  }
  mb_full (w, "stsz", 0, &b);
  byte_writer_u32 (w, 0);
  byte_writer_u32 (w, t->n);
  for (guint i = 0; i < t->n; i++)
    byte_writer_u32 (w, t->samples[i].size);
  box_end (w, b);
  /* One chunk a sample. */
  mb_full (w, "stsc", 0, &b);
  byte_writer_u32 (w, t->n ? 1 : 0);
  if (t->n) {
    byte_writer_u32 (w, 1);
    byte_writer_u32 (w, 1);
    byte_writer_u32 (w, 1);
  }
  box_end (w, b);
  mb_full (w, t->co64 ? "co64" : "stco", 0, &b);
  byte_writer_u32 (w, t->n);
  for (guint i = 0; i < t->n; i++)
    t->co64 ? byte_writer_u64 (w, t->samples[i].offset) : byte_writer_u32 (w, (guint32) t->samples[i].offset);
  box_end (w, b);
  box_end (w, stbl);
  box_end (w, minf);
  box_end (w, mdia);
  box_end (w, trak);
}

/* Writes a moov of the tracks; extra (a whole box, or NULL) goes after the traks. */
static void
mb_moov (ByteWriter *w, const MbTrack *tracks, guint n, const guint8 *extra, gsize extra_len)
{
  gsize moov = box_begin (w, fcc ("moov")), b;
  mb_full (w, "mvhd", 0, &b);
  byte_writer_zeros (w, 8);
  byte_writer_u32 (w, 1000);
  byte_writer_zeros (w, 4 + 4 + 2 + 10 + 36 + 24);
  byte_writer_u32 (w, 3);
  box_end (w, b);
  for (guint i = 0; i < n; i++)
    mb_trak (w, &tracks[i]);
  if (extra)
    byte_writer_bytes (w, extra, extra_len);
  box_end (w, moov);
}

static void
mb_ftyp (ByteWriter *w)
{
  gsize b = box_begin (w, fcc ("ftyp"));
  byte_writer_bytes (w, "isom\0\0\2\0isomiso2", 16);
  box_end (w, b);
}

static void
mb_box (ByteWriter *w, const char *type, gsize body)
{
  gsize b = box_begin (w, fcc (type));
  byte_writer_zeros (w, body);
  box_end (w, b);
}

/* The k-th sample in source order when the tracks are interleaved sample by
 * sample: (track, index). */
static gboolean
mb_nth (MbTrack *tracks, guint n, guint k, MbTrack **t, guint *i)
{
  guint most = 0;
  for (guint j = 0; j < n; j++)
    most = MAX (most, tracks[j].n);
  for (guint s = 0, seen = 0; s < most; s++)
    for (guint j = 0; j < n; j++)
      if (s < tracks[j].n && seen++ == k) {
        *t = &tracks[j];
        *i = s;
        return TRUE;
      }
  return FALSE;
}

static guint
mb_total (const MbTrack *tracks, guint n)
{
  guint total = 0;
  for (guint j = 0; j < n; j++)
    total += tracks[j].n;
  return total;
}

/* Writes an mdat holding samples [from, to) in interleaved order.  header:
 * 8 (plain), 16 (largesize) or 0 (size 0: to the end of the file). */
static void
mb_mdat (ByteWriter *w, MbTrack *tracks, guint n, guint from, guint to, guint header)
{
  gsize start = byte_writer_len (w);
  byte_writer_u32 (w, header == 16 ? 1 : 0);
  byte_writer_u32 (w, fcc ("mdat"));
  if (header == 16)
    byte_writer_u64 (w, 0);
  for (guint k = from; k < to; k++) {
    MbTrack *t = NULL;
    guint i = 0;
    g_assert_true (mb_nth (tracks, n, k, &t, &i));
    t->samples[i].offset = byte_writer_len (w);
    for (guint32 b = 0; b < t->samples[i].size; b++)
      byte_writer_u8 (w, (guint8) (t->id * 16 + i + b));
  }
  gsize size = byte_writer_len (w) - start;
  if (header == 16)
    byte_writer_put_u64_at (w, start + 8, size);
  else if (header == 8)
    byte_writer_put_u32_at (w, start, (guint32) size);
}

/* Two tracks: video with B-frames (signed ctts, non-sync frames) and audio. */
static MbSample video[] = {
  { 30, 512, -512, TRUE, 0 }, { 10, 512, 1024, FALSE, 0 }, { 12, 512, -512, FALSE, 0 },
  { 11, 512, 0, FALSE, 0 }, { 25, 512, 0, TRUE, 0 }, { 9, 512, 0, FALSE, 0 },
};
static MbSample audio[] = {
  { 7, 1024, 0, TRUE, 0 }, { 8, 1024, 0, TRUE, 0 }, { 6, 1024, 0, TRUE, 0 }, { 7, 1024, 0, TRUE, 0 }, { 5, 1000, 0, TRUE, 0 },
};

static void
mb_tracks (MbTrack t[2])
{
  t[0] = (MbTrack) { 1, FOURCC ('v', 'i', 'd', 'e'), 12800, video, G_N_ELEMENTS (video), FALSE, 1024, FALSE };
  t[1] = (MbTrack) { 2, FOURCC ('s', 'o', 'u', 'n'), 48000, audio, G_N_ELEMENTS (audio), FALSE, -1, FALSE };
}

/* ---- checks ---------------------------------------------------------------- */

static ProbeResult
probe (const guint8 *data, gsize len)
{
  Source src = source_from_memory (data, len);
  return mp4_indexer.probe (&src);
}

static Recording *
index_bytes (const guint8 *data, gsize len)
{
  Source src = source_from_memory (data, len);
  Recording *rec = recording_new (&mp4_indexer, "test");
  recording_update (rec, &src);
  return rec;
}

static Track *
rec_track (Recording *rec, guint32 id)
{
  for (guint i = 0; i < rec->tracks->len; i++)
    if (((Track *) g_ptr_array_index (rec->tracks, i))->id == id)
      return g_ptr_array_index (rec->tracks, i);
  return NULL;
}

/* Every sample of every track is in the recording with its size, duration,
 * composition offset and sync flag, and its payload bytes are the source's. */
static void
check_samples (Recording *rec, const MbTrack *tracks, guint n)
{
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->tracks->len, ==, n);
  g_assert_cmpuint (rec->total_samples, ==, mb_total (tracks, n));
  for (guint j = 0; j < n; j++) {
    const MbTrack *mt = &tracks[j];
    Track *t = rec_track (rec, mt->id);
    g_assert_nonnull (t);
    g_assert_cmpuint (t->table.count, ==, mt->n);
    g_assert_cmpuint (t->timescale, ==, mt->timescale);
    guint32 run = 0, run_left = 0, orun = 0, oleft = 0;
    for (guint i = 0; i < mt->n; i++) {
      g_assert_cmpuint (g_array_index (t->table.sizes, guint32, i), ==, mt->samples[i].size);
      if (run_left == 0)
        run_left = sample_table_duration_run (&t->table, run++).count;
      g_assert_cmpuint (sample_table_duration_run (&t->table, run - 1).delta, ==, mt->samples[i].duration);
      run_left--;
      gint32 offset = 0;
      if (t->table.offsets->len) {
        if (oleft == 0)
          oleft = sample_table_offset_run (&t->table, orun++).count;
        offset = sample_table_offset_run (&t->table, orun - 1).offset;
        oleft--;
      }
      g_assert_cmpint (offset, ==, mt->samples[i].cts);
    }
    gboolean all_sync = TRUE;
    for (guint i = 0; i < mt->n; i++)
      all_sync &= mt->samples[i].sync;
    g_assert_cmpint (t->table.all_sync, ==, all_sync);
  }
  /* The payload, read through the layout, holds each sample's bytes where
   * its chunk says: chunks here are one sample each. */
  Snapshot *snap = recording_snapshot (rec);
  Layout *l = layout_new (rec, snap);
  for (guint j = 0; j < n; j++) {
    Track *t = rec_track (rec, tracks[j].id);
    for (guint c = 0; c < t->table.chunks->len; c++) {
      const Chunk *ch = (Chunk[]) { sample_table_chunk (&t->table, c) };
      const MbSample *s = &tracks[j].samples[ch->first_sample];
      /* Find the extent holding the chunk. */
      gboolean found = FALSE;
      for (guint e = 0; e < rec->extents->len && !found; e++) {
        const Extent *x = &g_array_index (rec->extents, Extent, e);
        if (ch->payload_offset >= x->payload_offset && ch->payload_offset < x->payload_offset + x->length) {
          g_assert_cmpuint (x->source_offset + (ch->payload_offset - x->payload_offset), ==, s->offset);
          found = TRUE;
        }
      }
      g_assert_true (found || s->size == 0);
    }
  }
  layout_unref (l);
}

/* ---- probe ------------------------------------------------------------------ */

static void
test_probe_moov_at_end (void)
{
  MbTrack t[2];
  mb_tracks (t);
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  mb_box (&w, "free", 0);
  mb_mdat (&w, t, 2, 0, mb_total (t, 2), 8);
  gsize before_moov = byte_writer_len (&w);
  mb_moov (&w, t, 2, NULL, 0);
  const guint8 *d = w.buf->data;
  gsize len = byte_writer_len (&w);
  g_assert_cmpint (probe (d, len), ==, PROBE_YES);
  Source src = source_from_memory (d, len);
  gboolean need_more;
  g_assert_true (recording_detect (&src, &need_more) == &mp4_indexer);
  /* While the recorder writes, the moov is not there: looked at again later. */
  g_assert_cmpint (probe (d, before_moov), ==, PROBE_NEED_MORE);
  g_assert_cmpint (probe (d, len - 1), ==, PROBE_NEED_MORE);
  g_assert_cmpint (probe (d, 4), ==, PROBE_NEED_MORE);
  g_assert_null (recording_detect (&(Source) { .fd = -1, .data = d, .size = before_moov }, &need_more));
  g_assert_true (need_more);
  byte_writer_clear (&w);
}

static void
test_probe_fragmented_is_fmp4s (void)
{
  MbTrack t[2];
  mb_tracks (t);
  t[0].n = t[1].n = 0;
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  guint8 mvex[] = { 0, 0, 0, 8, 'm', 'v', 'e', 'x' };
  mb_moov (&w, t, 2, mvex, sizeof mvex);
  g_assert_cmpint (probe (w.buf->data, byte_writer_len (&w)), ==, PROBE_NO);
  Source src = source_from_memory (w.buf->data, byte_writer_len (&w));
  gboolean need_more;
  g_assert_true (recording_detect (&src, &need_more) == &fmp4_indexer);
  byte_writer_clear (&w);
}

static void
test_probe_not_mp4 (void)
{
  const guint8 no_ftyp[] = { 0, 0, 0, 16, 'm', 'd', 'a', 't', 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 8, 'm', 'o', 'o', 'v' };
  g_assert_cmpint (probe (no_ftyp, sizeof no_ftyp), ==, PROBE_NO);
  const guint8 moof[] = { 0, 0, 0, 8, 'f', 't', 'y', 'p', 0, 0, 0, 8, 'm', 'o', 'o', 'f' };
  g_assert_cmpint (probe (moof, sizeof moof), ==, PROBE_NO);
  const guint8 binary[] = { 0, 0, 0, 8, 'f', 't', 'y', 'p', 0, 0, 0, 8, 0x01, 0x02, 0x03, 0x04 };
  g_assert_cmpint (probe (binary, sizeof binary), ==, PROBE_NO);
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  guint8 buf[1024];
  for (int round = 0; round < 200; round++) {
    for (gsize i = 0; i < sizeof buf; i++)
      buf[i] = g_rand_int (rand);
    g_assert_cmpint (probe (buf, sizeof buf), ==, PROBE_NO);
  }
}

/* ---- the top-level walk ------------------------------------------------------ */

/* Builds ftyp, what layout says, moov; indexes it and checks every sample. */
typedef enum { LAYOUT_ONE_MDAT, LAYOUT_TWO_MDATS, LAYOUT_LARGESIZE, LAYOUT_OTHER_BOXES, LAYOUT_MOOV_FIRST_SIZE0 } Layout_;

static GBytes *
build (Layout_ layout, MbTrack t[2], gboolean co64)
{
  ByteWriter w;
  byte_writer_init (&w);
  t[0].co64 = t[1].co64 = co64;
  guint total = mb_total (t, 2);
  mb_ftyp (&w);
  switch (layout) {
  case LAYOUT_ONE_MDAT:
    mb_mdat (&w, t, 2, 0, total, 8);
    mb_moov (&w, t, 2, NULL, 0);
    break;
  case LAYOUT_TWO_MDATS:
    mb_box (&w, "wide", 0);
    mb_mdat (&w, t, 2, 0, total / 2, 8);
    mb_box (&w, "free", 5000);   /* more than a page: a second extent */
    mb_mdat (&w, t, 2, total / 2, total, 8);
    mb_moov (&w, t, 2, NULL, 0);
    break;
  case LAYOUT_LARGESIZE:
    mb_mdat (&w, t, 2, 0, total, 16);
    mb_moov (&w, t, 2, NULL, 0);
    break;
  case LAYOUT_OTHER_BOXES:
    mb_box (&w, "free", 3);
    mb_box (&w, "skip", 0);
    mb_box (&w, "wide", 0);
    mb_box (&w, "uuid", 16);
    mb_mdat (&w, t, 2, 0, 3, 8);
    mb_box (&w, "uuid", 20);
    mb_box (&w, "skip", 1);
    mb_mdat (&w, t, 2, 3, total, 16);
    mb_box (&w, "free", 100);
    mb_moov (&w, t, 2, NULL, 0);
    mb_box (&w, "free", 10);
    break;
  case LAYOUT_MOOV_FIRST_SIZE0: {
    /* The moov's size does not depend on the offsets: write it once to
     * measure, then for real. */
    gsize at = byte_writer_len (&w);
    mb_moov (&w, t, 2, NULL, 0);
    gsize moov_len = byte_writer_len (&w) - at;
    g_byte_array_set_size (w.buf, at);
    ByteWriter scratch;
    byte_writer_init (&scratch);
    mb_mdat (&scratch, t, 2, 0, total, 0);
    for (guint j = 0; j < 2; j++)
      for (guint i = 0; i < t[j].n; i++)
        t[j].samples[i].offset += at + moov_len;
    mb_moov (&w, t, 2, NULL, 0);
    g_assert_cmpuint (byte_writer_len (&w) - at, ==, moov_len);
    byte_writer_bytes (&w, scratch.buf->data, scratch.buf->len);
    byte_writer_clear (&scratch);
    break;
  }
  }
  return byte_writer_free_to_bytes (&w);
}

/* A copy of the default tracks' file in layout, with spare zero bytes after
 * it (room to grow); *len is the file's own length. */
static guint8 *
file_copy (Layout_ layout, MbTrack t[2], gsize spare, gsize *len)
{
  mb_tracks (t);
  g_autoptr (GBytes) file = build (layout, t, FALSE);
  const guint8 *d = g_bytes_get_data (file, len);
  guint8 *copy = g_malloc0 (*len + spare);
  memcpy (copy, d, *len);
  return copy;
}

static void
check_layout (Layout_ layout, gboolean co64)
{
  MbTrack t[2];
  mb_tracks (t);
  g_autoptr (GBytes) file = build (layout, t, co64);
  gsize len;
  const guint8 *d = g_bytes_get_data (file, &len);
  g_assert_cmpint (probe (d, len), ==, PROBE_YES);
  g_autoptr (Recording) rec = index_bytes (d, len);
  check_samples (rec, t, 2);
  g_assert_cmpstr (recording_format_name (rec), ==, "mp4");
  if (layout == LAYOUT_TWO_MDATS)
    g_assert_cmpuint (rec->extents->len, ==, 2);
}

static void test_one_mdat (void) { check_layout (LAYOUT_ONE_MDAT, FALSE); }
static void test_co64_source (void) { check_layout (LAYOUT_ONE_MDAT, TRUE); }
static void test_two_mdats_with_a_box_between (void) { check_layout (LAYOUT_TWO_MDATS, FALSE); }
static void test_largesize_mdat (void) { check_layout (LAYOUT_LARGESIZE, FALSE); }
static void test_free_wide_skip_uuid (void) { check_layout (LAYOUT_OTHER_BOXES, FALSE); }
static void test_moov_first_mdat_size_0 (void) { check_layout (LAYOUT_MOOV_FIRST_SIZE0, FALSE); }

/* An mdat of size 0 before any moov runs to the end of the file: no moov can
 * follow, the file is not (yet) a recording. */
static void
test_mdat_size_0_before_moov (void)
{
  MbTrack t[2];
  mb_tracks (t);
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  mb_mdat (&w, t, 2, 0, mb_total (t, 2), 0);
  mb_moov (&w, t, 2, NULL, 0);
  g_assert_cmpint (probe (w.buf->data, byte_writer_len (&w)), ==, PROBE_NEED_MORE);
  g_autoptr (Recording) rec = index_bytes (w.buf->data, byte_writer_len (&w));
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  byte_writer_clear (&w);
}

/* A fast-start file whose payload is still being written: samples appear as
 * their bytes reach the disk, and equal those of the whole file. */
static void
test_moov_first_growing (void)
{
  MbTrack t[2];
  gsize len;
  g_autofree guint8 *d = file_copy (LAYOUT_MOOV_FIRST_SIZE0, t, 0, &len);
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "growing");
  guint64 last = 0;
  for (gsize n = 0; n <= len; n++) {
    Source src = source_from_memory (d, n);
    recording_update (rec, &src);
    g_assert_false (rec->failed);
    g_assert_cmpuint (rec->total_samples, >=, last);
    last = rec->total_samples;
    /* Every visible sample's bytes are on disk. */
    for (guint e = 0; e < rec->extents->len; e++) {
      const Extent *x = &g_array_index (rec->extents, Extent, e);
      g_assert_cmpuint (x->source_offset + x->length, <=, n);
    }
  }
  check_samples (rec, t, 2);
}

/* A finished file that grows after its moov: noted, nothing more indexed. */
static void
test_growth_after_moov_is_noted (void)
{
  MbTrack t[2];
  gsize len;
  g_autofree guint8 *longer = file_copy (LAYOUT_ONE_MDAT, t, 100, &len);
  g_autoptr (Recording) rec = index_bytes (longer, len);
  guint64 samples = rec->total_samples, generation = rec->generation;
  Source src = source_from_memory (longer, len + 100);
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, samples);
  g_assert_cmpuint (rec->generation, ==, generation);
  g_autofree char *problems = recording_describe_problems (rec);
  g_assert_nonnull (strstr (problems, "grew after its moov"));
}

/* A file rewritten in place after its moov was indexed (FFmpeg's +faststart
 * pass moves the payload over the old moov as it grows) fails the recording. */
static void
test_rewrite_in_place_fails (void)
{
  MbTrack t[2];
  gsize len;
  g_autofree guint8 *copy = file_copy (LAYOUT_ONE_MDAT, t, 100, &len);
  g_autoptr (Recording) rec = index_bytes (copy, len);
  g_assert_false (rec->failed);
  guint8 *moov = memmem (copy, len, "moov", 4);
  g_assert_nonnull (moov);
  memcpy (moov, "mdat", 4);
  Source src = source_from_memory (copy, len + 100);
  recording_update (rec, &src);
  g_assert_true (rec->failed);
  g_assert_nonnull (strstr (rec->error, "rewritten in place"));
}

/* A moov whose size is not written yet (FFmpeg patches it last) waits. */
static void
test_moov_size_0_waits (void)
{
  MbTrack t[2];
  gsize len;
  g_autofree guint8 *copy = file_copy (LAYOUT_ONE_MDAT, t, 0, &len);
  guint8 *moov = memmem (copy, len, "moov", 4);
  guint8 size[4];
  memcpy (size, moov - 4, 4);
  memset (moov - 4, 0, 4);
  g_assert_cmpint (probe (copy, len), ==, PROBE_NEED_MORE);
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "patched");
  Source src = source_from_memory (copy, len);
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 0);
  memcpy (moov - 4, size, 4);
  g_assert_cmpint (probe (copy, len), ==, PROBE_YES);
}

/* ---- the moov ------------------------------------------------------------------ */

static void
test_cmov_is_an_error (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  mb_box (&w, "mdat", 10);
  gsize moov = box_begin (&w, fcc ("moov"));
  gsize cmov = box_begin (&w, fcc ("cmov"));
  gsize dcom = box_begin (&w, fcc ("dcom"));
  byte_writer_bytes (&w, "zlib", 4);
  box_end (&w, dcom);
  mb_box (&w, "cmvd", 12);
  box_end (&w, cmov);
  box_end (&w, moov);
  g_assert_cmpint (probe (w.buf->data, byte_writer_len (&w)), ==, PROBE_YES);
  g_autoptr (Recording) rec = index_bytes (w.buf->data, byte_writer_len (&w));
  g_assert_true (rec->failed);
  g_assert_cmpstr (rec->error, ==, "compressed moov (cmov) is not supported");
  byte_writer_clear (&w);
}

static void
test_edit_list_and_signed_ctts (void)
{
  MbTrack t[2];
  gsize len;
  g_autofree guint8 *d = file_copy (LAYOUT_ONE_MDAT, t, 0, &len);
  g_autoptr (Recording) rec = index_bytes (d, len);
  g_assert_false (rec->failed);
  Track *v = rec_track (rec, 1), *a = rec_track (rec, 2);
  g_assert_cmpint (v->edit_base, ==, -1024);
  g_assert_cmpint (a->edit_base, ==, 0);
  g_assert_cmpint (sample_table_min_offset (&v->table, v->table.count), ==, -512);
}

/* An edit that ends inside the last audio sample shortens it. */
static void
test_edit_end_trims_last_sample (void)
{
  MbTrack t[2];
  mb_tracks (t);
  t[1].elst_media_time = 0;    /* 1000 ms: 48000 ticks, the last sample cut to 904 */
  MbSample trimmed[G_N_ELEMENTS (audio)];
  memcpy (trimmed, audio, sizeof audio);
  t[1].samples = trimmed;
  trimmed[4].duration = 48000 - 4 * 1024 + 500;
  g_autoptr (GBytes) file = build (LAYOUT_ONE_MDAT, t, FALSE);
  g_autoptr (Recording) rec = index_bytes (g_bytes_get_data (file, NULL), g_bytes_get_size (file));
  g_assert_false (rec->failed);
  Track *a = rec_track (rec, 2);
  g_assert_cmpuint (sample_table_duration (&a->table, a->table.count), ==, 48000);
}

static void
test_user_data_carried (void)
{
  MbTrack t[2];
  mb_tracks (t);
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  mb_mdat (&w, t, 2, 0, mb_total (t, 2), 8);
  ByteWriter u;
  byte_writer_init (&u);
  gsize udta = box_begin (&u, fcc ("udta"));
  gsize nam = box_begin (&u, FOURCC (0xa9, 'n', 'a', 'm'));
  byte_writer_bytes (&u, "\0\x0b\0\0a fine title", 16);
  box_end (&u, nam);
  box_end (&u, udta);
  gsize meta = box_begin_full (&u, fcc ("meta"), 0, 0);
  mb_box (&u, "hdlr", 25);
  box_end (&u, meta);
  mb_moov (&w, t, 2, u.buf->data, u.buf->len);
  g_autoptr (Recording) rec = index_bytes (w.buf->data, byte_writer_len (&w));
  g_assert_false (rec->failed);
  g_assert_nonnull (rec->user_data);
  g_assert_cmpmem (g_bytes_get_data (rec->user_data, NULL), g_bytes_get_size (rec->user_data), u.buf->data,
                   u.buf->len);
  /* Written at the end of the synthesised moov. */
  Layout *l = layout_new (rec, recording_snapshot (rec));
  g_autoptr (GBytes) header = layout_header (l);
  gsize hlen;
  const guint8 *h = g_bytes_get_data (header, &hlen);
  g_assert_nonnull (memmem (h, hlen, u.buf->data, u.buf->len));
  g_assert_nonnull (memmem (h, hlen, "a fine title", 12));
  layout_unref (l);
  byte_writer_clear (&u);
  byte_writer_clear (&w);
}

/* file (LAYOUT_ONE_MDAT: the moov last) with its moov written again from t. */
static GBytes *
rewrite_moov (GBytes *file, MbTrack t[2])
{
  gsize len, moov_at = 0;
  const guint8 *d = g_bytes_get_data (file, &len);
  for (gsize p = 0; p + 8 <= len; p++)
    if (memcmp (d + p + 4, "moov", 4) == 0)
      moov_at = p;
  ByteWriter w;
  byte_writer_init (&w);
  byte_writer_bytes (&w, d, moov_at);
  mb_moov (&w, t, 2, NULL, 0);
  return byte_writer_free_to_bytes (&w);
}

/* file with its moov written again from t fails the recording with why. */
static void
check_refused (GBytes *file, MbTrack t[2], const char *why)
{
  g_autoptr (GBytes) changed = rewrite_moov (file, t);
  g_autoptr (Recording) rec = index_bytes (g_bytes_get_data (changed, NULL), g_bytes_get_size (changed));
  g_assert_true (rec->failed);
  g_assert_nonnull (strstr (rec->error, why));
}

/* A udta of size 0 runs to the end of the source moov; in the synthesised
 * one other boxes may follow, so its size is written out. */
static void
test_user_data_size_0 (void)
{
  MbTrack t[2];
  mb_tracks (t);
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  mb_mdat (&w, t, 2, 0, mb_total (t, 2), 8);
  const guint8 udta[] = { 0, 0, 0, 0, 'u', 'd', 't', 'a', 0, 0, 0, 8, 'x', 'y', 'z', 'w' };
  mb_moov (&w, t, 2, udta, sizeof udta);
  g_autoptr (Recording) rec = index_bytes (w.buf->data, byte_writer_len (&w));
  g_assert_false (rec->failed);
  gsize len;
  const guint8 *u = g_bytes_get_data (rec->user_data, &len);
  g_assert_cmpuint (len, ==, sizeof udta);
  g_assert_cmpmem (u, 4, "\0\0\0\x10", 4);
  g_assert_cmpmem (u + 4, len - 4, udta + 4, sizeof udta - 4);
  byte_writer_clear (&w);
}

static void
test_samples_out_of_decode_order_fail (void)
{
  MbTrack t[2];
  mb_tracks (t);
  g_autoptr (GBytes) file = build (LAYOUT_ONE_MDAT, t, FALSE);
  /* Swap the chunk offsets of video samples 2 and 3. */
  guint64 a = t[0].samples[1].offset, b = t[0].samples[2].offset;
  t[0].samples[1].offset = b;
  t[0].samples[2].offset = a;
  check_refused (file, t, "not stored in decode order");
}

static void
test_overlapping_samples_fail (void)
{
  MbTrack t[2];
  mb_tracks (t);
  g_autoptr (GBytes) file = build (LAYOUT_ONE_MDAT, t, FALSE);
  t[1].samples[0].offset = t[0].samples[0].offset + 1;   /* inside video sample 1 */
  check_refused (file, t, "overlap");
}

/* ---- truncation and hostile sizes --------------------------------------------- */

static void
test_truncation_at_every_byte (void)
{
  for (Layout_ layout = LAYOUT_ONE_MDAT; layout <= LAYOUT_MOOV_FIRST_SIZE0; layout++) {
    MbTrack t[2];
    mb_tracks (t);
    g_autoptr (GBytes) file = build (layout, t, FALSE);
    gsize len;
    const guint8 *d = g_bytes_get_data (file, &len);
    for (gsize n = 0; n < len; n++) {
      /* A copy of exactly n bytes, so a read past them is an ASan report. */
      g_autofree guint8 *copy = g_memdup2 (d, n);
      (void) probe (copy, n);
      g_autoptr (Recording) rec = index_bytes (copy, n);
      /* Whatever is shown has its bytes on disk. */
      for (guint e = 0; e < rec->extents->len; e++) {
        const Extent *x = &g_array_index (rec->extents, Extent, e);
        g_assert_cmpuint (x->source_offset + x->length, <=, n);
      }
      if (rec->total_samples)
        layout_unref (layout_new (rec, recording_snapshot (rec)));
    }
  }
}

/* Every 32-bit size field in the file replaced by hostile values. */
static void
test_hostile_sizes (void)
{
  static const guint32 values[] = { 0, 1, 7, 8, 9, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff };
  MbTrack t[2];
  mb_tracks (t);
  g_autoptr (GBytes) file = build (LAYOUT_OTHER_BOXES, t, FALSE);
  gsize len;
  const guint8 *d = g_bytes_get_data (file, &len);
  g_autofree guint8 *copy = g_malloc (len);
  for (gsize p = 0; p + 4 <= len; p += 4) {
    for (gsize v = 0; v < G_N_ELEMENTS (values); v++) {
      memcpy (copy, d, len);
      copy[p] = values[v] >> 24;
      copy[p + 1] = values[v] >> 16;
      copy[p + 2] = values[v] >> 8;
      copy[p + 3] = values[v];
      (void) probe (copy, len);
      g_autoptr (Recording) rec = index_bytes (copy, len);
      if (rec->total_samples)
        layout_unref (layout_new (rec, recording_snapshot (rec)));
    }
  }
}

static void
test_largesize_hostile (void)
{
  /* ftyp, then an mdat whose largesize is below its header, past 2^63, or
   * wraps the file offset. */
  static const guint64 sizes[] = { 0, 8, 15, G_MAXUINT64, G_MAXUINT64 - 10, 1ull << 63 };
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++) {
    ByteWriter w;
    byte_writer_init (&w);
    mb_ftyp (&w);
    byte_writer_u32 (&w, 1);
    byte_writer_u32 (&w, fcc ("mdat"));
    byte_writer_u64 (&w, sizes[i]);
    byte_writer_zeros (&w, 64);
    g_assert_cmpint (probe (w.buf->data, byte_writer_len (&w)), !=, PROBE_YES);
    g_autoptr (Recording) rec = index_bytes (w.buf->data, byte_writer_len (&w));
    g_assert_cmpuint (rec->total_samples, ==, 0);
    byte_writer_clear (&w);
  }
}

static void
test_too_many_boxes_and_huge_moov (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  for (guint i = 0; i <= MP4_MAX_TOP_BOXES; i++)
    mb_box (&w, "free", 0);
  mb_box (&w, "moov", 0);
  g_assert_cmpint (probe (w.buf->data, byte_writer_len (&w)), ==, PROBE_NO);
  g_autoptr (Recording) rec = index_bytes (w.buf->data, byte_writer_len (&w));
  g_assert_true (rec->failed);
  byte_writer_clear (&w);

  byte_writer_init (&w);
  mb_ftyp (&w);
  byte_writer_u32 (&w, RECORDING_MAX_HEADER_BOX + 9);
  byte_writer_u32 (&w, fcc ("moov"));
  g_assert_cmpint (probe (w.buf->data, byte_writer_len (&w)), ==, PROBE_NO);
  g_autoptr (Recording) rec2 = index_bytes (w.buf->data, byte_writer_len (&w));
  g_assert_true (rec2->failed);
  byte_writer_clear (&w);
}

/* ---- co64 promotion ------------------------------------------------------------- */

/* A sparse source whose payload nears 4 GiB: a large sample, mostly a hole.
 * With the moov in front the last chunk offset passes 4 GiB, and the
 * virtual file's moov carries co64 where the source had stco. */
static void
test_co64_promotion (void)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("test-mp4-XXXXXX", &path, NULL);
  g_assert_cmpint (fd, >=, 0);
  g_unlink (path);   /* the descriptor keeps it while the test runs */
  MbSample big[] = { { 100, 1024, 0, TRUE, 0 }, { 0, 1024, 0, TRUE, 0 }, { 50, 1024, 0, TRUE, 0 } };
  guint32 huge = G_MAXUINT32 - 1000;   /* payload just under 4 GiB */
  big[1].size = huge;
  MbTrack t = { 1, FOURCC ('s', 'o', 'u', 'n'), 48000, big, 3, FALSE, -1, FALSE };
  /* ftyp, mdat (largesize) holding the three samples, moov with stco:
   * every source offset fits 32 bits. */
  ByteWriter w;
  byte_writer_init (&w);
  mb_ftyp (&w);
  guint64 mdat_at = byte_writer_len (&w);
  guint64 pos = mdat_at + 16;
  for (guint i = 0; i < 3; i++) {
    pos += i == 2 ? 10 : 0;   /* a gap: the last sample is a chunk of its own */
    big[i].offset = pos;
    pos += big[i].size;
  }
  g_assert_cmpuint (big[2].offset, <, G_MAXUINT32);
  byte_writer_u32 (&w, 1);
  byte_writer_u32 (&w, fcc ("mdat"));
  byte_writer_u64 (&w, pos - mdat_at);
  g_assert_cmpint (pwrite (fd, w.buf->data, w.buf->len, 0), ==, (gssize) w.buf->len);
  byte_writer_clear (&w);
  byte_writer_init (&w);
  mb_moov (&w, &t, 1, NULL, 0);
  g_assert_cmpint (pwrite (fd, w.buf->data, w.buf->len, (off_t) pos), ==, (gssize) w.buf->len);
  Source src = { .fd = fd, .size = pos + w.buf->len };
  byte_writer_clear (&w);

  g_assert_cmpint (mp4_indexer.probe (&src), ==, PROBE_YES);
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "sparse");
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  g_assert_cmpuint (rec->total_samples, ==, 3);
  Layout *l = layout_new (rec, recording_snapshot (rec));
  g_assert_cmpuint (l->size, >, G_MAXUINT32);
  g_autoptr (GBytes) header = layout_header (l);
  gsize hlen;
  const guint8 *h = g_bytes_get_data (header, &hlen);
  const guint8 *co64 = memmem (h, hlen, "co64", 4);
  g_assert_nonnull (co64);
  g_assert_null (memmem (h, hlen, "stco", 4));
  /* The last chunk's offset is where its bytes are in the virtual file:
   * the source's, moved by the header. */
  ByteReader r;
  byte_reader_init (&r, co64 + 4, hlen - (co64 + 4 - h));
  guint32 vf, count;
  guint64 off[2];
  g_assert_true (byte_reader_u32 (&r, &vf) && byte_reader_u32 (&r, &count));
  g_assert_cmpuint (count, ==, 2);
  for (guint i = 0; i < 2; i++)
    g_assert_true (byte_reader_u64 (&r, &off[i]));
  g_assert_cmpuint (off[1] - off[0], ==, big[2].offset - big[0].offset);
  g_assert_cmpuint (off[1], >, G_MAXUINT32);
  g_assert_cmpuint (off[1] + 50, ==, l->size);
  layout_unref (l);
  close (fd);
}

/* recording_fail/note messages are expected here; MP4_VERBOSE=1 shows them.
 * Criticals stay fatal. */
static void
log_quiet (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR) || g_getenv ("MP4_VERBOSE"))
    g_log_default_handler (domain, level, message, data);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_log_set_default_handler (log_quiet, NULL);
  g_test_add_func ("/mp4/probe/moov-at-end", test_probe_moov_at_end);
  g_test_add_func ("/mp4/probe/mvex-is-fmp4s", test_probe_fragmented_is_fmp4s);
  g_test_add_func ("/mp4/probe/not-mp4", test_probe_not_mp4);
  g_test_add_func ("/mp4/walk/one-mdat", test_one_mdat);
  g_test_add_func ("/mp4/walk/co64-source", test_co64_source);
  g_test_add_func ("/mp4/walk/two-mdats-with-a-box-between", test_two_mdats_with_a_box_between);
  g_test_add_func ("/mp4/walk/largesize-mdat", test_largesize_mdat);
  g_test_add_func ("/mp4/walk/free-wide-skip-uuid", test_free_wide_skip_uuid);
  g_test_add_func ("/mp4/walk/moov-first-mdat-size-0", test_moov_first_mdat_size_0);
  g_test_add_func ("/mp4/walk/mdat-size-0-before-moov", test_mdat_size_0_before_moov);
  g_test_add_func ("/mp4/walk/moov-first-growing", test_moov_first_growing);
  g_test_add_func ("/mp4/walk/growth-after-moov-is-noted", test_growth_after_moov_is_noted);
  g_test_add_func ("/mp4/walk/rewrite-in-place-fails", test_rewrite_in_place_fails);
  g_test_add_func ("/mp4/walk/moov-size-0-waits", test_moov_size_0_waits);
  g_test_add_func ("/mp4/moov/cmov-is-an-error", test_cmov_is_an_error);
  g_test_add_func ("/mp4/moov/edit-list-and-signed-ctts", test_edit_list_and_signed_ctts);
  g_test_add_func ("/mp4/moov/edit-end-trims-last-sample", test_edit_end_trims_last_sample);
  g_test_add_func ("/mp4/moov/user-data-carried", test_user_data_carried);
  g_test_add_func ("/mp4/moov/user-data-size-0", test_user_data_size_0);
  g_test_add_func ("/mp4/moov/samples-out-of-decode-order-fail", test_samples_out_of_decode_order_fail);
  g_test_add_func ("/mp4/moov/overlapping-samples-fail", test_overlapping_samples_fail);
  g_test_add_func ("/mp4/hostile/truncation-at-every-byte", test_truncation_at_every_byte);
  g_test_add_func ("/mp4/hostile/sizes", test_hostile_sizes);
  g_test_add_func ("/mp4/hostile/largesize", test_largesize_hostile);
  g_test_add_func ("/mp4/hostile/too-many-boxes-and-huge-moov", test_too_many_boxes_and_huge_moov);
  g_test_add_func ("/mp4/layout/co64-promotion", test_co64_promotion);
  return g_test_run ();
}

/* test-mp4-hybrid.c — hybrid MP4 recordings through every state of their
 * finalisation: OBS (plugins/obs-outputs/mp4-mux.c), FFmpeg 7.1's
 * -movflags hybrid_fragmented (libavformat/movenc.c) and GStreamer's
 * mp4mux fragment-mode=first-moov-then-finalise (gstqtmux.c).
 *
 * Each layout is built from fragments (fmp4-builder.h) and rewritten step by
 * step as its muxer does.  The full moov a muxer appends lists every sample
 * at its place in the file: it is taken from the growing view's own
 * synthesised moov, with its chunk offsets mapped back to the source.  In
 * every state the recording is what recording_detect() finds and indexes
 * without an error; the finished file's samples are the growing view's; a
 * snapshot taken before finalisation reads the same bytes after it; and a
 * finalised recording names its successor only once the head is rewritten.
 * tests/integration/mp4-02-hybrid.t does the same with real recordings and
 * real readers (tests/lib/hybridfixture.py, gst-launch-1.0).
 */
#include "fmp4-builder.h"
#include "muxer/layout.h"
#include "muxer/mp4.h"

static const FbSample video[] = {
  { .duration = 3000, .size = 300, .flags = 0 },
  { .duration = 3000, .size = 120, .flags = FB_NON_SYNC, .composition_offset = 3000 },
  { .duration = 3000, .size = 110, .flags = FB_NON_SYNC },
};
static const FbSample audio[] = {
  { .duration = 1024, .size = 40 },
  { .duration = 1024, .size = 41 },
};

/* ---- helpers ------------------------------------------------------------ */

static Recording *
index_with (const IndexerClass *indexer, const guint8 *data, gsize len)
{
  Recording *rec = recording_new (indexer, "hybrid");
  Source src = source_from_memory (data, len);
  recording_update (rec, &src);
  return rec;
}

static const IndexerClass *
detect (const guint8 *data, gsize len, gboolean *need_more)
{
  Source src = source_from_memory (data, len);
  return recording_detect (&src, need_more);
}

/* Every byte of a layout's virtual file, reading its source bytes from src. */
static GByteArray *
virtual_file (Layout *l, const guint8 *src_data, gsize src_len)
{
  Source src = source_from_memory (src_data, src_len);
  GByteArray *out = g_byte_array_new ();
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  for (guint64 pos = 0; pos < l->size;) {
    g_array_set_size (pieces, 0);
    gsize got = layout_read (l, &src, pos, 1000, pieces, buffer);
    g_assert_cmpuint (got, >, 0);
    for (guint i = 0; i < pieces->len; i++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      if (p->data) {
        g_byte_array_append (out, p->data, (guint) p->len);
      } else {
        g_assert_cmpuint (p->source_offset + p->len, <=, src_len);
        g_byte_array_append (out, src_data + p->source_offset, (guint) p->len);
      }
    }
    pos += got;
  }
  return out;
}

/* The samples of every track, in track order, as a reader sees them. */
static void
assert_same_samples (Recording *a, Recording *b)
{
  g_assert_cmpuint (a->tracks->len, ==, b->tracks->len);
  for (guint t = 0; t < a->tracks->len; t++) {
    guint32 id = ((Track *) g_ptr_array_index (a->tracks, t))->id;
    g_autoptr (GArray) x = fb_visible (a, id);
    g_autoptr (GArray) y = fb_visible (b, id);
    g_assert_cmpuint (x->len, ==, y->len);
    for (guint i = 0; i < x->len; i++) {
      const FbSample *p = &g_array_index (x, FbSample, i), *q = &g_array_index (y, FbSample, i);
      g_assert_cmpuint (p->offset, ==, q->offset);
      g_assert_cmpuint (p->size, ==, q->size);
      g_assert_cmpuint (p->duration, ==, q->duration);
      g_assert_cmpint (p->composition_offset, ==, q->composition_offset);
      g_assert_cmpint (p->sync, ==, q->sync);
    }
  }
}

/* A full moov for the growing recording rec as its muxer writes it at the
 * end: rec's own synthesised moov, whose chunk offsets are mapped from the
 * virtual file back to the source. */
static GByteArray *
full_moov (Recording *rec, gint64 shift)
{
  g_autoptr (Layout) l = layout_new (rec, recording_snapshot (rec));
  g_autoptr (GBytes) header = layout_header (l);
  gsize len;
  const guint8 *h = g_bytes_get_data (header, &len);
  ByteReader top, moov = { 0 };
  BoxHeader bh;
  byte_reader_init (&top, h, len);
  g_assert_true (byte_reader_box (&top, &bh, &moov));   /* ftyp */
  g_assert_true (byte_reader_box (&top, &bh, &moov));
  g_assert_cmphex (bh.type, ==, FOURCC ('m', 'o', 'o', 'v'));
  gsize moov_at = top.pos - (gsize) bh.size;
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, h + moov_at, (guint) bh.size);
  ByteReader r = moov, trak;
  while (byte_reader_box (&r, &bh, &trak)) {
    ByteReader mdia, minf, stbl, stco;
    if (bh.type != FOURCC ('t', 'r', 'a', 'k') || !box_find_child (trak, FOURCC ('m', 'd', 'i', 'a'), &mdia) ||
        !box_find_child (mdia, FOURCC ('m', 'i', 'n', 'f'), &minf) ||
        !box_find_child (minf, FOURCC ('s', 't', 'b', 'l'), &stbl))
      continue;
    g_assert_true (box_find_child (stbl, FOURCC ('s', 't', 'c', 'o'), &stco));
    guint8 *p = out->data + (stco.data - (h + moov_at));
    guint32 n = (guint32) p[4] << 24 | (guint32) p[5] << 16 | (guint32) p[6] << 8 | p[7];
    for (guint32 i = 0; i < n; i++) {
      guint8 *e = p + 8 + 4 * i;
      guint64 v = (guint64) e[0] << 24 | (guint64) e[1] << 16 | (guint64) e[2] << 8 | e[3];
      guint64 s = fb_source_offset (rec, v - l->header_len) + (guint64) shift;
      g_assert_cmpuint (s, <, G_MAXUINT32);
      e[0] = (guint8) (s >> 24), e[1] = (guint8) (s >> 16), e[2] = (guint8) (s >> 8), e[3] = (guint8) s;
    }
  }
  return out;
}

static void
put_u32 (GByteArray *a, gsize at, guint32 v)
{
  a->data[at] = (guint8) (v >> 24);
  a->data[at + 1] = (guint8) (v >> 16);
  a->data[at + 2] = (guint8) (v >> 8);
  a->data[at + 3] = (guint8) v;
}

static GByteArray *
copy (const GByteArray *a)
{
  GByteArray *c = g_byte_array_sized_new (a->len);
  g_byte_array_append (c, a->data, a->len);
  return c;
}

/* One state of a finalisation: what it must be read as. */
typedef struct {
  const char *what;
  GByteArray *bytes;
  const IndexerClass *indexer;   /* what recording_detect() finds; NULL: not decided yet */
  gboolean finalised;            /* the growing view's recording, fed this, is finalised */
  gboolean successor;            /* ... and names the finished view's indexer */
} State;

/* Walks the states of one finalisation: states[0] is the growing file, the
 * last the finished one. */
static void
check_states (State *states, guint n)
{
  const GByteArray *growing = states[0].bytes;
  g_autoptr (Recording) live = index_with (&fmp4_indexer, growing->data, growing->len);
  g_assert_false (recording_failed (live));
  g_assert_false (recording_finalised (live));
  g_assert_cmpuint (live->total_samples, >, 0);
  g_autoptr (Layout) snapshot = layout_new (live, recording_snapshot (live));
  g_autoptr (GByteArray) before = virtual_file (snapshot, growing->data, growing->len);

  for (guint i = 0; i < n; i++) {
    State *s = &states[i];
    g_test_message ("%s", s->what);
    gboolean need_more;
    const IndexerClass *found = detect (s->bytes->data, s->bytes->len, &need_more);
    g_assert_true (found == s->indexer);
    if (!found)
      g_assert_true (need_more);   /* never "not a recording" */

    /* Followed from the growing file: no error, the transition when due. */
    Source src = source_from_memory (s->bytes->data, s->bytes->len);
    recording_update (live, &src);
    g_assert_false (recording_failed (live));

    /* Read alone (a fresh mount), the state shows the same samples. */
    if (found) {
      g_autoptr (Recording) alone = index_with (found, s->bytes->data, s->bytes->len);
      g_assert_false (recording_failed (alone));
      assert_same_samples (alone, live);
    }
    g_assert_cmpint (recording_finalised (live), ==, s->finalised);
    const IndexerClass *next = recording_successor (live, &src);
    g_assert_true (next == (s->successor ? s->indexer : NULL));

    /* The snapshot opened before finalisation reads the same bytes. */
    g_autoptr (GByteArray) after = virtual_file (snapshot, s->bytes->data, s->bytes->len);
    g_assert_cmpmem (before->data, before->len, after->data, after->len);

    if (next) {
      /* The finished file as a new index reads it: the same samples. */
      g_autoptr (Recording) fresh = index_with (next, s->bytes->data, s->bytes->len);
      g_assert_false (recording_failed (fresh));
      assert_same_samples (fresh, live);
    }
  }
  g_assert_true (states[n - 1].successor);
}

/* Two fragments of video and one of audio after an init segment. */
static void
fragments (Fmp4Builder *b)
{
  fb_simple_fragment (b, 1, 0, video, G_N_ELEMENTS (video));
  fb_simple_fragment (b, 2, 0, audio, G_N_ELEMENTS (audio));
  fb_simple_fragment (b, 1, 9000, video, G_N_ELEMENTS (video));
}

static const FbTrack tracks[2] = {
  { .id = 1, .handler = FOURCC ('v', 'i', 'd', 'e'), .timescale = 90000, .trex_duration = 3000 },
  { .id = 2, .handler = FOURCC ('s', 'o', 'u', 'n'), .timescale = 48000, .trex_duration = 1024 },
};

/* ---- OBS ---------------------------------------------------------------- */

/* mp4_flush_fragment / mp4_mux_finalise: ftyp, a 16-byte free box (room for
 * a 64-bit mdat header), the fragmented moov, moof+mdat pairs; then the full
 * moov is appended, the ftyp rewritten in place (same size) and the free
 * box's first 8 bytes become an mdat header that covers everything from
 * there to the full moov. */
static void
test_obs (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  gsize placeholder = fb_len (&b);
  fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), 8);
  fb_moov (&b, tracks, 2, TRUE);
  fragments (&b);
  g_autoptr (GByteArray) growing = g_byte_array_new ();
  g_byte_array_append (growing, fb_data (&b), (guint) fb_len (&b));
  g_autoptr (Recording) rec = index_with (&fmp4_indexer, growing->data, growing->len);
  g_autoptr (GByteArray) moov = full_moov (rec, 0);

  g_autoptr (GByteArray) part = copy (growing);
  g_byte_array_append (part, moov->data, moov->len / 2);
  g_autoptr (GByteArray) appended = copy (growing);
  g_byte_array_append (appended, moov->data, moov->len);
  g_autoptr (GByteArray) ftyp = copy (appended);
  memcpy (ftyp->data + 16, "obs1", 4);   /* the first compatible brand: iso6 while fragmented */
  g_autoptr (GByteArray) finished = copy (ftyp);
  put_u32 (finished, placeholder, (guint32) (growing->len - placeholder));
  memcpy (finished->data + placeholder + 4, "mdat", 4);

  State states[] = {
    { "growing", growing, &fmp4_indexer, FALSE, FALSE },
    { "half the full moov appended", part, &fmp4_indexer, TRUE, FALSE },
    { "the full moov appended", appended, &fmp4_indexer, TRUE, FALSE },
    { "the ftyp rewritten", ftyp, &fmp4_indexer, TRUE, FALSE },
    { "the mdat header written: finished", finished, &mp4_indexer, TRUE, TRUE },
  };
  check_states (states, G_N_ELEMENTS (states));
  fb_clear (&b);
}

/* ---- FFmpeg 7.1 hybrid_fragmented ---------------------------------------- */

/* mov_write_header / mov_write_trailer: ftyp, an 8-byte free box, the moov
 * at mdat_pos, moof+mdat pairs; then the 8 bytes at mdat_pos (the moov's
 * header) become an mdat header that runs to the end of the fragments, and
 * the full moov is written after them. */
static void
test_ffmpeg (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), 0);
  gsize mdat_pos = fb_len (&b);
  fb_moov (&b, tracks, 2, TRUE);
  fragments (&b);
  g_autoptr (GByteArray) growing = g_byte_array_new ();
  g_byte_array_append (growing, fb_data (&b), (guint) fb_len (&b));
  g_autoptr (Recording) rec = index_with (&fmp4_indexer, growing->data, growing->len);
  g_autoptr (GByteArray) moov = full_moov (rec, 0);

  g_autoptr (GByteArray) header = copy (growing);
  put_u32 (header, mdat_pos, (guint32) (growing->len - mdat_pos));
  memcpy (header->data + mdat_pos + 4, "mdat", 4);
  g_autoptr (GByteArray) part = copy (header);
  g_byte_array_append (part, moov->data, moov->len / 2);
  g_autoptr (GByteArray) finished = copy (header);
  g_byte_array_append (finished, moov->data, moov->len);

  State states[] = {
    { "growing", growing, &fmp4_indexer, FALSE, FALSE },
    /* No moov anywhere: the plain MP4 indexer waits for one. */
    { "the mdat header over the old moov", header, NULL, FALSE, FALSE },
    { "half the full moov written", part, NULL, TRUE, FALSE },
    { "the full moov written: finished", finished, &mp4_indexer, TRUE, TRUE },
  };
  check_states (states, G_N_ELEMENTS (states));
  fb_clear (&b);
}

/* The full moov appended in one go, seen only once finished: the
 * transition happens on the first look. */
static void
test_ffmpeg_seen_finished (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), 0);
  gsize mdat_pos = fb_len (&b);
  fb_moov (&b, tracks, 2, TRUE);
  fragments (&b);
  g_autoptr (GByteArray) growing = g_byte_array_new ();
  g_byte_array_append (growing, fb_data (&b), (guint) fb_len (&b));
  g_autoptr (Recording) rec = index_with (&fmp4_indexer, growing->data, growing->len);
  g_autoptr (GByteArray) moov = full_moov (rec, 0);
  g_autoptr (GByteArray) finished = copy (growing);
  put_u32 (finished, mdat_pos, (guint32) (growing->len - mdat_pos));
  memcpy (finished->data + mdat_pos + 4, "mdat", 4);
  g_byte_array_append (finished, moov->data, moov->len);
  State states[] = {
    { "growing", growing, &fmp4_indexer, FALSE, FALSE },
    { "finished", finished, &mp4_indexer, TRUE, TRUE },
  };
  check_states (states, G_N_ELEMENTS (states));
  fb_clear (&b);
}

/* A finished file given to the fragmented indexer (a listing probed it while
 * it grew) is finalised at once, not failed, and names its successor. */
static void
test_finished_seen_as_fragmented (void)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_box (&b, FOURCC ('f', 'r', 'e', 'e'), 0);
  gsize mdat_pos = fb_len (&b);
  fb_moov (&b, tracks, 2, TRUE);
  fragments (&b);
  g_autoptr (GByteArray) growing = g_byte_array_new ();
  g_byte_array_append (growing, fb_data (&b), (guint) fb_len (&b));
  g_autoptr (Recording) rec = index_with (&fmp4_indexer, growing->data, growing->len);
  g_autoptr (GByteArray) moov = full_moov (rec, 0);
  g_autoptr (GByteArray) finished = copy (growing);
  put_u32 (finished, mdat_pos, (guint32) (growing->len - mdat_pos));
  memcpy (finished->data + mdat_pos + 4, "mdat", 4);
  g_byte_array_append (finished, moov->data, moov->len);
  g_autoptr (Recording) late = index_with (&fmp4_indexer, finished->data, finished->len);
  g_assert_false (recording_failed (late));
  g_assert_true (recording_finalised (late));
  Source src = source_from_memory (finished->data, finished->len);
  g_assert_true (recording_successor (late, &src) == &mp4_indexer);
  fb_clear (&b);
}

/* ---- GStreamer first-moov-then-finalise ---------------------------------- */

/* A moof that lists samples already written before it, at data (absolute,
 * as GStreamer's tfhd base data offset is the mdat's own position). */
static void
gst_moof (ByteWriter *w, guint32 sequence, guint32 track_id, guint64 decode_time, guint64 base, guint32 data_offset,
          const FbSample *samples, guint n)
{
  gsize moof = box_begin (w, FOURCC ('m', 'o', 'o', 'f'));
  gsize mfhd = box_begin_full (w, FOURCC ('m', 'f', 'h', 'd'), 0, 0);
  byte_writer_u32 (w, sequence);
  box_end (w, mfhd);
  gsize traf = box_begin (w, FOURCC ('t', 'r', 'a', 'f'));
  gsize tfhd = box_begin_full (w, FOURCC ('t', 'f', 'h', 'd'), 0, FB_TFHD_BASE_DATA_OFFSET);
  byte_writer_u32 (w, track_id);
  byte_writer_u64 (w, base);
  box_end (w, tfhd);
  gsize tfdt = box_begin_full (w, FOURCC ('t', 'f', 'd', 't'), 1, 0);
  byte_writer_u64 (w, decode_time);
  box_end (w, tfdt);
  gsize trun = box_begin_full (w, FOURCC ('t', 'r', 'u', 'n'), 1,
                               FB_TRUN_DATA_OFFSET | FB_TRUN_DURATION | FB_TRUN_SIZE | FB_TRUN_FLAGS |
                               FB_TRUN_COMPOSITION);
  byte_writer_u32 (w, n);
  byte_writer_u32 (w, data_offset);
  for (guint i = 0; i < n; i++) {
    byte_writer_u32 (w, samples[i].duration);
    byte_writer_u32 (w, samples[i].size);
    byte_writer_u32 (w, samples[i].flags);
    byte_writer_u32 (w, (guint32) samples[i].composition_offset);
  }
  box_end (w, trun);
  box_end (w, traf);
  box_end (w, moof);
}

/* GStreamer's first moov: the first fragment's samples, at data_at in the
 * file, listed in its stbl, and mvex.  Made from the synthesised moov of a
 * fragmented file holding them. */
static GByteArray *
gst_first_moov (const FbSample *samples, guint n, guint64 data_at)
{
  Fmp4Builder b;
  fb_init (&b);
  fb_ftyp (&b);
  fb_moov (&b, tracks, 2, TRUE);
  fb_simple_fragment (&b, 1, 0, samples, n);
  g_autoptr (Recording) rec = index_with (&fmp4_indexer, fb_data (&b), fb_len (&b));
  g_autoptr (GArray) visible = fb_visible (rec, 1);
  guint64 first = g_array_index (visible, FbSample, 0).offset;
  GByteArray *moov = full_moov (rec, (gint64) data_at - (gint64) first);
  fb_clear (&b);
  ByteWriter mvex;
  byte_writer_init (&mvex);
  gsize box = box_begin (&mvex, FOURCC ('m', 'v', 'e', 'x'));
  for (guint i = 0; i < 2; i++) {
    gsize trex = box_begin_full (&mvex, FOURCC ('t', 'r', 'e', 'x'), 0, 0);
    byte_writer_u32 (&mvex, tracks[i].id);
    byte_writer_u32 (&mvex, 1);
    byte_writer_u32 (&mvex, tracks[i].trex_duration);
    byte_writer_u32 (&mvex, 0);
    byte_writer_u32 (&mvex, 0);
    box_end (&mvex, trex);
  }
  box_end (&mvex, box);
  g_byte_array_append (moov, mvex.buf->data, mvex.buf->len);
  put_u32 (moov, 0, moov->len);
  byte_writer_clear (&mvex);
  return moov;
}

/* free(8) + mdat(size, or 0 while open) + the samples' bytes; returns where
 * the free box is (GStreamer's moof_mdat_pos). */
static gsize
gst_mdat (ByteWriter *w, const FbSample *samples, guint n, gboolean sized, guint8 fill)
{
  gsize at = w->buf->len;
  guint32 len = 0;
  for (guint i = 0; i < n; i++)
    len += samples[i].size;
  byte_writer_u32 (w, 8);
  byte_writer_u32 (w, FOURCC ('f', 'r', 'e', 'e'));
  byte_writer_u32 (w, sized ? len + 8 : 0);
  byte_writer_u32 (w, FOURCC ('m', 'd', 'a', 't'));
  for (guint i = 0; i < len; i++)
    byte_writer_u8 (w, fill);
  return at;
}

/* gst_qt_mux_pad_fragment_add_buffer / gst_qt_mux_stop_file: ftyp, free+mdat
 * holding the first fragment, a moov (with mvex) listing it, then for each
 * fragment free+mdat (size 0 until the fragment is flushed) and the moof
 * after it.  Finalising renames the first moov 'hoov', extends the first
 * mdat over everything up to the end, and writes the full moov there.  Here
 * the first moov is made from a synthesised one (gst_first_moov). */
static void
test_gstreamer (void)
{
  ByteWriter w;
  byte_writer_init (&w);
  gsize ftyp = box_begin (&w, FOURCC ('f', 't', 'y', 'p'));
  byte_writer_bytes (&w, "mp42", 4);
  byte_writer_u32 (&w, 0);
  byte_writer_bytes (&w, "mp42mp41isomiso2", 16);
  box_end (&w, ftyp);
  static const FbSample first[] = {
    { .duration = 3000, .size = 200 },
    { .duration = 3000, .size = 90, .flags = FB_NON_SYNC },
  };
  gsize first_mdat = gst_mdat (&w, first, G_N_ELEMENTS (first), TRUE, 0x20);
  gsize moov_pos = w.buf->len;
  {
    g_autoptr (GByteArray) m = gst_first_moov (first, G_N_ELEMENTS (first), first_mdat + 16);
    byte_writer_bytes (&w, m->data, m->len);
  }
  gsize a = gst_mdat (&w, video, G_N_ELEMENTS (video), TRUE, 0x21);
  gst_moof (&w, 1, 1, 6000, a, 16, video, G_N_ELEMENTS (video));
  gsize c = gst_mdat (&w, audio, G_N_ELEMENTS (audio), TRUE, 0x22);
  gst_moof (&w, 2, 2, 0, c, 16, audio, G_N_ELEMENTS (audio));
  gsize open_at = w.buf->len;
  gst_mdat (&w, video, 2, FALSE, 0x23);   /* the fragment being written: no moof yet */

  g_autoptr (GByteArray) growing = g_byte_array_new ();
  g_byte_array_append (growing, w.buf->data, w.buf->len);
  g_autoptr (Recording) rec = index_with (&fmp4_indexer, growing->data, growing->len);
  g_assert_cmpuint (rec->total_samples, ==, G_N_ELEMENTS (first) + G_N_ELEMENTS (video) + G_N_ELEMENTS (audio));
  /* The moov lies between the first fragment's samples and the next's, in
   * the payload: its type bytes, renamed when finalised, are zeros there. */
  gboolean masked = FALSE;
  for (guint i = 0; i < rec->extents->len; i++) {
    const Extent *e = &g_array_index (rec->extents, Extent, i);
    masked |= e->zeros && e->source_offset == moov_pos + 4 && e->length == 4;
  }
  g_assert_true (masked);
  g_autoptr (GByteArray) moov = full_moov (rec, 0);

  /* The open fragment flushed while recording: its mdat sized, its moof. */
  g_autoptr (GByteArray) flushed = copy (growing);
  {
    guint32 len = video[0].size + video[1].size + 8;
    put_u32 (flushed, open_at + 8, len);
    ByteWriter m;
    byte_writer_init (&m);
    gst_moof (&m, 3, 1, 15000, open_at, 16, video, 2);
    g_byte_array_append (flushed, m.buf->data, m.buf->len);
    byte_writer_clear (&m);
  }
  g_autoptr (Recording) rec2 = index_with (&fmp4_indexer, flushed->data, flushed->len);
  g_assert_cmpuint (rec2->total_samples, ==, G_N_ELEMENTS (first) + G_N_ELEMENTS (video) + G_N_ELEMENTS (audio) + 2);
  g_clear_pointer (&moov, g_byte_array_unref);
  moov = full_moov (rec2, 0);
  /* ... and the next fragment opened (free + mdat of size 0), not flushed. */
  ByteWriter tail;
  byte_writer_init (&tail);
  gst_mdat (&tail, audio, 1, FALSE, 0x24);
  g_byte_array_append (flushed, tail.buf->data, tail.buf->len);
  byte_writer_clear (&tail);

  g_autoptr (GByteArray) hoov = copy (flushed);
  hoov->data[moov_pos + 4] = 'h';
  g_autoptr (GByteArray) extended = copy (hoov);
  put_u32 (extended, first_mdat + 8, (guint32) (flushed->len - first_mdat - 8));
  g_autoptr (GByteArray) part = copy (extended);
  g_byte_array_append (part, moov->data, moov->len / 2);
  g_autoptr (GByteArray) finished = copy (extended);
  g_byte_array_append (finished, moov->data, moov->len);

  State states[] = {
    { "growing, a fragment open", growing, &fmp4_indexer, FALSE, FALSE },
    { "that fragment flushed, the next open", flushed, &fmp4_indexer, FALSE, FALSE },
    /* The first mdat and the hoov: no moov in the head any more.  The size
     * did not change: the growing view is not fed, and shows what it did. */
    { "the first moov renamed hoov", hoov, NULL, FALSE, FALSE },
    { "the first mdat extended to the end", extended, NULL, FALSE, FALSE },
    { "half the full moov written", part, NULL, TRUE, FALSE },
    { "the full moov written: finished", finished, &mp4_indexer, TRUE, TRUE },
  };
  /* The growing view is followed from the first state; the finished file's
   * samples are those of the flushed state (the last open fragment has no
   * moof, and the full moov here lists what the moofs did). */
  check_states (states, G_N_ELEMENTS (states));
  byte_writer_clear (&w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mp4-hybrid/obs/every-state", test_obs);
  g_test_add_func ("/mp4-hybrid/ffmpeg/every-state", test_ffmpeg);
  g_test_add_func ("/mp4-hybrid/ffmpeg/seen-finished", test_ffmpeg_seen_finished);
  g_test_add_func ("/mp4-hybrid/ffmpeg/finished-seen-as-fragmented", test_finished_seen_as_fragmented);
  g_test_add_func ("/mp4-hybrid/gstreamer/every-state", test_gstreamer);
  return g_test_run ();
}

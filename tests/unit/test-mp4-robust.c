/* test-mp4-robust.c — following a moov rewritten in place (GStreamer's
 * robust muxing, mp4_robust.c) on files laid out as qtmux lays them out:
 * ftyp, free-A, two moov slots, an mdat of size 0 that grows.  Each update
 * that adds samples is followed; one that changes a sample already listed,
 * or is damaged, is noted and the recording stays as it was. */
#include <string.h>

#include "muxer/bytes.h"
#include "muxer/mp4.h"
#include "muxer/recording.h"

#define SLOT 2048                /* each moov slot, padded with a free box */
#define FREE_A 32                /* where free-A starts, after the ftyp */
#define MDAT (FREE_A + 8 + SLOT + 8 + SLOT + 8)
#define SAMPLE 100               /* bytes a sample */
#define MAX_SAMPLES 64

static guint32
fcc (const char *t)
{
  return FOURCC (t[0], t[1], t[2], t[3]);
}

/* A moov of one audio track listing the first n samples (each SAMPLE bytes,
 * 1024 ticks, stored one after the other from the mdat's body); bitrate
 * goes into the sample entry's btrt, and the duration of sample `odd` (if
 * below n) is 1000. */
static GByteArray *
moov (guint n, guint32 bitrate, guint odd)
{
  ByteWriter w;
  byte_writer_init (&w);
  gsize m = box_begin (&w, fcc ("moov")), b;
  b = box_begin_full (&w, fcc ("mvhd"), 0, 0);
  byte_writer_zeros (&w, 8);
  byte_writer_u32 (&w, 1000);
  byte_writer_zeros (&w, 4 + 4 + 2 + 10 + 36 + 24);
  byte_writer_u32 (&w, 2);
  box_end (&w, b);
  gsize trak = box_begin (&w, fcc ("trak"));
  b = box_begin_full (&w, fcc ("tkhd"), 0, 3);
  byte_writer_zeros (&w, 8);
  byte_writer_u32 (&w, 1);
  byte_writer_zeros (&w, 4 + 4 + 8 + 8);
  const guint32 unity[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };
  for (int i = 0; i < 9; i++)
    byte_writer_u32 (&w, unity[i]);
  byte_writer_zeros (&w, 8);
  box_end (&w, b);
  gsize mdia = box_begin (&w, fcc ("mdia"));
  b = box_begin_full (&w, fcc ("mdhd"), 0, 0);
  byte_writer_zeros (&w, 8);
  byte_writer_u32 (&w, 48000);
  byte_writer_u32 (&w, 0);
  byte_writer_u16 (&w, 0x55c4);
  byte_writer_u16 (&w, 0);
  box_end (&w, b);
  b = box_begin_full (&w, fcc ("hdlr"), 0, 0);
  byte_writer_u32 (&w, 0);
  byte_writer_u32 (&w, fcc ("soun"));
  byte_writer_zeros (&w, 13);
  box_end (&w, b);
  gsize minf = box_begin (&w, fcc ("minf"));
  b = box_begin_full (&w, fcc ("smhd"), 0, 0);
  byte_writer_zeros (&w, 4);
  box_end (&w, b);
  gsize stbl = box_begin (&w, fcc ("stbl"));
  b = box_begin_full (&w, fcc ("stsd"), 0, 0);
  byte_writer_u32 (&w, 1);
  gsize entry = box_begin (&w, fcc ("mp4a"));
  byte_writer_zeros (&w, 8);
  gsize btrt = box_begin (&w, fcc ("btrt"));
  byte_writer_u32 (&w, 0);
  byte_writer_u32 (&w, bitrate);
  byte_writer_u32 (&w, bitrate);
  box_end (&w, btrt);
  box_end (&w, entry);
  box_end (&w, b);
  b = box_begin_full (&w, fcc ("stts"), 0, 0);
  byte_writer_u32 (&w, n);
  for (guint i = 0; i < n; i++) {
    byte_writer_u32 (&w, 1);
    byte_writer_u32 (&w, i == odd ? 1000 : 1024);
  }
  box_end (&w, b);
  b = box_begin_full (&w, fcc ("stsz"), 0, 0);
  byte_writer_u32 (&w, SAMPLE);
  byte_writer_u32 (&w, n);
  box_end (&w, b);
  b = box_begin_full (&w, fcc ("stsc"), 0, 0);
  byte_writer_u32 (&w, n ? 1 : 0);
  if (n) {
    byte_writer_u32 (&w, 1);
    byte_writer_u32 (&w, 1);
    byte_writer_u32 (&w, 1);
  }
  box_end (&w, b);
  b = box_begin_full (&w, fcc ("stco"), 0, 0);
  byte_writer_u32 (&w, n);
  for (guint i = 0; i < n; i++)
    byte_writer_u32 (&w, MDAT + 8 + i * SAMPLE);
  box_end (&w, b);
  box_end (&w, stbl);
  box_end (&w, minf);
  box_end (&w, mdia);
  box_end (&w, trak);
  box_end (&w, m);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, w.buf->data, w.buf->len);
  byte_writer_clear (&w);
  return out;
}

static void
put_box_header (guint8 *at, guint32 size, const char *type)
{
  at[0] = size >> 24;
  at[1] = size >> 16;
  at[2] = size >> 8;
  at[3] = size;
  memcpy (at + 4, type, 4);
}

/* The file as qtmux leaves it: the reserved area, then an mdat of size 0
 * with room for MAX_SAMPLES samples. */
static guint8 *
file_new (void)
{
  guint8 *d = g_malloc0 (MDAT + 8 + MAX_SAMPLES * SAMPLE);
  put_box_header (d, 32, "ftyp");
  memcpy (d + 8, "isom\0\0\2\0isomiso2mp41", 20);
  put_box_header (d + FREE_A, 8 + SLOT + 8, "free");            /* hides slot A */
  put_box_header (d + FREE_A + 8 + SLOT, 8 + SLOT, "free");     /* slot B, empty */
  put_box_header (d + MDAT - 8, 8, "free");
  put_box_header (d + MDAT, 0, "mdat");
  for (guint i = 0; i < MAX_SAMPLES * SAMPLE; i++)
    d[MDAT + 8 + i] = (guint8) (i * 7);
  return d;
}

/* Writes the moov into slot (0: A, 1: B) padded to the slot's end, then
 * points free-A at it, as gst_qt_mux_robust_recording_rewrite_moov does. */
static void
write_moov (guint8 *d, guint slot, GByteArray *m)
{
  g_assert_cmpuint (m->len + 8, <=, SLOT);
  guint8 *at = d + FREE_A + 8 + (slot ? SLOT + 8 : 0);
  memcpy (at, m->data, m->len);
  put_box_header (at + m->len, SLOT - m->len, "free");
  put_box_header (d + FREE_A, slot ? 8 + SLOT + 8 : 8, "free");
  if (!slot)
    put_box_header (d + FREE_A + 8 + SLOT, 8 + SLOT, "free");
  g_byte_array_unref (m);
}

static guint64
update (Recording *rec, const guint8 *d, guint samples_written)
{
  Source src = source_from_memory (d, MDAT + 8 + samples_written * SAMPLE);
  recording_update (rec, &src);
  g_assert_false (rec->failed);
  return rec->total_samples;
}

static char *
problems (Recording *rec)
{
  char *p = recording_describe_problems (rec);
  return p ? p : g_strdup ("");
}

/* Ping, pong, ping: each update's samples are shown once on disk. */
static void
test_follows_each_update (void)
{
  g_autofree guint8 *d = file_new ();
  write_moov (d, 1, moov (3, 0, G_MAXUINT));
  Source src = source_from_memory (d, MDAT + 8 + 3 * SAMPLE);
  g_assert_cmpint (mp4_indexer.probe (&src), ==, PROBE_YES);
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "robust");
  g_assert_cmpuint (update (rec, d, 2), ==, 2);        /* the third not on disk */
  g_assert_cmpuint (update (rec, d, 5), ==, 3);        /* not listed yet */
  /* A rewrite seen without growth (the recorder killed after it). */
  write_moov (d, 0, moov (6, 0, G_MAXUINT));
  g_assert_cmpuint (update (rec, d, 5), ==, 5);
  g_assert_cmpuint (update (rec, d, 6), ==, 6);
  write_moov (d, 1, moov (9, 0, G_MAXUINT));
  g_assert_cmpuint (update (rec, d, 9), ==, 9);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.count, ==, 9);
  g_assert_cmpuint (t->table.duration, ==, 9 * 1024);
  g_autofree char *p = problems (rec);
  g_assert_cmpstr (p, ==, "");
}

/* The followed recording equals the last state indexed afresh (the bitrate
 * qtmux updates in each moov included). */
static void
test_followed_equals_fresh (void)
{
  g_autofree guint8 *d = file_new ();
  write_moov (d, 1, moov (4, 0, G_MAXUINT));
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "followed");
  update (rec, d, 4);
  write_moov (d, 0, moov (8, 64000, G_MAXUINT));
  update (rec, d, 8);
  g_autoptr (Recording) fresh = recording_new (&mp4_indexer, "fresh");
  update (fresh, d, 8);
  Track *a = g_ptr_array_index (rec->tracks, 0), *b = g_ptr_array_index (fresh->tracks, 0);
  g_assert_cmpuint (a->table.count, ==, b->table.count);
  g_assert_true (g_bytes_equal (a->sample_descriptions, b->sample_descriptions));
  g_assert_cmpuint (rec->payload_len, ==, fresh->payload_len);
}

/* A moov that changes a sample already listed is noted; nothing shown
 * changes, and later moovs are not followed. */
static void
test_changed_sample_stops_following (void)
{
  g_autofree guint8 *d = file_new ();
  write_moov (d, 1, moov (4, 0, G_MAXUINT));
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "changed");
  g_assert_cmpuint (update (rec, d, 4), ==, 4);
  guint64 generation = rec->generation;
  write_moov (d, 0, moov (8, 0, 1));                     /* sample 2's duration changed */
  g_assert_cmpuint (update (rec, d, 8), ==, 4);
  g_assert_cmpuint (rec->generation, ==, generation);
  write_moov (d, 1, moov (10, 0, G_MAXUINT));
  g_assert_cmpuint (update (rec, d, 10), ==, 4);
  g_autofree char *p = problems (rec);
  g_assert_nonnull (strstr (p, "changes samples listed before"));
}

/* The last sample listed may take another duration (an edit cut it, or
 * the muxer learnt it): the table's last duration follows. */
static void
test_last_duration_may_change (void)
{
  g_autofree guint8 *d = file_new ();
  write_moov (d, 1, moov (4, 0, 3));
  g_autoptr (Recording) rec = recording_new (&mp4_indexer, "last");
  update (rec, d, 4);
  Track *t = g_ptr_array_index (rec->tracks, 0);
  g_assert_cmpuint (t->table.duration, ==, 3 * 1024 + 1000);
  write_moov (d, 0, moov (6, 0, G_MAXUINT));
  g_assert_cmpuint (update (rec, d, 6), ==, 6);
  g_assert_cmpuint (t->table.duration, ==, 6 * 1024);
}

/* Damage in a new moov (every byte flipped in turn, every length cut)
 * never crashes, fails or changes what is shown. */
static void
test_damaged_update (void)
{
  g_autofree guint8 *d = file_new ();
  write_moov (d, 1, moov (4, 0, G_MAXUINT));
  GByteArray *next = moov (8, 0, G_MAXUINT);
  for (guint i = 0; i < next->len; i += 3) {
    g_autoptr (Recording) rec = recording_new (&mp4_indexer, "damaged");
    g_assert_cmpuint (update (rec, d, 4), ==, 4);
    g_autofree guint8 *copy = g_memdup2 (d, MDAT + 8 + MAX_SAMPLES * SAMPLE);
    GByteArray *bad = g_byte_array_new ();
    g_byte_array_append (bad, next->data, next->len);
    bad->data[i] ^= 0xa5;
    write_moov (copy, 0, bad);
    guint64 n = update (rec, copy, 8);
    g_assert_true (n == 4 || n == 8 || n == 5 || n == 6 || n == 7);
  }
  g_byte_array_unref (next);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mp4-robust/follows-each-update", test_follows_each_update);
  g_test_add_func ("/mp4-robust/followed-equals-fresh", test_followed_equals_fresh);
  g_test_add_func ("/mp4-robust/changed-sample-stops-following", test_changed_sample_stops_following);
  g_test_add_func ("/mp4-robust/last-duration-may-change", test_last_duration_may_change);
  g_test_add_func ("/mp4-robust/damaged-update", test_damaged_update);
  return g_test_run ();
}

/* test-segment.c — HLS segments (muxer/segment.c) of recordings FFmpeg makes:
 * init + every segment read back by FFmpeg gives the virtual MP4's packets;
 * a segment's bytes do not depend on when it is built; segments begin at
 * key frames; a live plan lists only settled segments. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxer/bytes.h"
#include "muxer/layout.h"
#include "muxer/segment.h"

static char *tmpdir;

typedef struct {
  const char *name;
  const char *args;     /* ffmpeg output options */
  gboolean unreadable_growing;  /* the moov comes last: nothing to show before */
} Recipe;

/* 3 s, 12-frame GOPs (0.48 s), B-frames, 48 kHz AAC or Opus. */
#define AV_INPUT "-f lavfi -i testsrc2=s=96x64:r=25:d=3 -f lavfi -i sine=f=440:d=3:r=48000 "
static const Recipe recipes[] = {
  { "fmp4.mp4", AV_INPUT "-c:v libx264 -g 12 -bf 2 -c:a aac -movflags frag_keyframe+empty_moov", FALSE },
  { "cmaf.mp4", AV_INPUT "-c:v libx264 -g 12 -bf 2 -c:a aac -movflags frag_every_frame+empty_moov+negative_cts_offsets", FALSE },
  { "rec.mkv", AV_INPUT "-c:v libx264 -g 12 -bf 2 -c:a aac", FALSE },
  { "rec.webm", AV_INPUT "-c:v libvpx-vp9 -g 12 -deadline realtime -c:a libopus", FALSE },
  { "plain.mp4", AV_INPUT "-c:v libx264 -g 12 -bf 2 -c:a aac", TRUE },
  { "rec.ts", AV_INPUT "-c:v libx264 -g 12 -bf 2 -c:a aac", FALSE },
  { "audio.mp4", "-f lavfi -i sine=f=440:d=5:r=48000 -c:a aac -movflags frag_keyframe+empty_moov", FALSE },
};

static gboolean
run (const char *command, char **out)
{
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_autofree char *err = NULL;
  if (!g_spawn_command_line_sync (command, out, &err, &status, &error) || !g_spawn_check_wait_status (status, NULL)) {
    g_test_message ("%s: %s %s", command, error ? error->message : "", err ? err : "");
    return FALSE;
  }
  return TRUE;
}

static char *
recording_path (const Recipe *r)
{
  char *path = g_build_filename (tmpdir, r->name, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_autofree char *cmd = g_strdup_printf ("ffmpeg -v error -nostdin -y %s %s", r->args, path);
    g_assert_true (run (cmd, NULL));
  }
  return path;
}

/* Indexes data[0, size). */
static Recording *
index_prefix (const guint8 *data, gsize size, Recording *rec)
{
  Source src = source_from_memory (data, size);
  if (!rec) {
    gboolean need_more = FALSE;
    const IndexerClass *indexer = recording_detect (&src, &need_more);
    if (!indexer)
      return NULL;
    rec = recording_new (indexer, "segment-test");
  }
  recording_update (rec, &src);
  return rec;
}

/* init + every segment of the plan, concatenated. */
static GByteArray *
build_all (Recording *rec, const SegmentPlan *plan, const Source *src, GPtrArray *segments)
{
  GByteArray *all = g_byte_array_new ();
  g_autoptr (GBytes) init = segment_build_init (rec, plan);
  g_assert_nonnull (init);
  g_byte_array_append (all, g_bytes_get_data (init, NULL), g_bytes_get_size (init));
  for (guint k = 0; k < segment_plan_count (plan); k++) {
    g_autofree char *error = NULL;
    GBytes *seg = segment_build_media (rec, plan, k, src, &error);
    g_assert_null (error);
    g_assert_nonnull (seg);
    guint64 size;
    g_assert_true (segment_media_size (rec, plan, k, &size, &error));
    g_assert_cmpuint (size, ==, g_bytes_get_size (seg));
    g_byte_array_append (all, g_bytes_get_data (seg, NULL), g_bytes_get_size (seg));
    if (segments)
      g_ptr_array_add (segments, seg);
    else
      g_bytes_unref (seg);
  }
  return all;
}

static char *
write_temp (const char *name, const guint8 *data, gsize len)
{
  char *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (g_file_set_contents (path, (const char *) data, (gssize) len, NULL));
  return path;
}

/* Per stream, per packet: size, flags, MD5 of its bytes and pts from the
 * stream's first, as FFmpeg reads them.  (Streams interleave differently,
 * and where the source's edit and negative offsets put a track's start is
 * read differently from a fragmented file by FFmpeg: the offset within a
 * track is what must not change.) */
static char *
packets (const char *path)
{
  g_autofree char *cmd = g_strdup_printf (
      "ffprobe -v error -show_entries packet=stream_index,pts,size,flags,data_hash -show_data_hash MD5 "
      "-of compact=p=0 %s", path);
  g_autofree char *out = NULL;
  g_assert_true (run (cmd, &out));
  /* Side data (Opus's skip samples) ends a packet's line early. */
  g_auto (GStrv) pieces = g_strsplit (out, "\n|", -1);
  g_autofree char *joined = g_strjoinv ("|", pieces);
  g_auto (GStrv) lines = g_strsplit (joined, "\n", -1);
  GString *result = g_string_new (NULL);
  for (int stream = 0; stream < 4; stream++) {
    gint64 first = G_MININT64;
    g_string_append_printf (result, "stream %d\n", stream);
    for (guint i = 0; lines[i]; i++) {
      g_auto (GStrv) f = g_strsplit (lines[i], "|", -1);
      const char *v[5] = { NULL };
      static const char *keys[5] = { "stream_index=", "pts=", "size=", "flags=", "data_hash=" };
      for (guint k = 0; f[k]; k++)
        for (guint n = 0; n < 5; n++)
          if (g_str_has_prefix (f[k], keys[n]) && !v[n])
            v[n] = f[k] + strlen (keys[n]);
      if (!v[0] || !v[1] || atoi (v[0]) != stream)
        continue;
      gint64 pts = g_ascii_strtoll (v[1], NULL, 10);
      if (first == G_MININT64)
        first = pts;
      /* The key frame flag; FFmpeg's discard flag (D) comes from an edit
       * list, which it applies to a moov's samples only, not to fragments. */
      char key = v[3] ? v[3][0] : '?';
      g_string_append_printf (result, "%s %c %s %" G_GINT64_FORMAT "\n", v[2], key, v[4], pts - first);
    }
  }
  return g_string_free (result, FALSE);
}

/* The virtual MP4 of the whole recording. */
static GByteArray *
virtual_mp4 (Recording *rec, const Source *src)
{
  g_rw_lock_reader_lock (&rec->lock);
  Snapshot *snap = recording_snapshot (rec);
  g_rw_lock_reader_unlock (&rec->lock);
  g_autoptr (Layout) layout = layout_new (rec, snap);
  GByteArray *out = g_byte_array_new ();
  GArray *pieces = g_array_new (FALSE, FALSE, sizeof (LayoutPiece));
  GByteArray *buffer = g_byte_array_new ();
  for (guint64 off = 0; off < layout->size;) {
    g_array_set_size (pieces, 0);
    gsize n = layout_read (layout, src, off, 65536, pieces, buffer);
    g_assert_cmpuint (n, >, 0);
    for (guint i = 0; i < pieces->len; i++) {
      const LayoutPiece *p = &g_array_index (pieces, LayoutPiece, i);
      if (p->data)
        g_byte_array_append (out, p->data, p->len);
      else
        g_byte_array_append (out, src->data + p->source_offset, p->len);
    }
    off += n;
  }
  g_array_unref (pieces);
  g_byte_array_unref (buffer);
  return out;
}

static SegmentPlan *
plan_of (Recording *rec, gboolean ended)
{
  g_rw_lock_reader_lock (&rec->lock);
  g_autoptr (Snapshot) snap = recording_snapshot (rec);
  SegmentPlan *plan = segment_plan_new (rec, snap, ended);
  g_rw_lock_reader_unlock (&rec->lock);
  return plan;
}

static void
test_same_packets (gconstpointer data)
{
  const Recipe *r = data;
  g_autofree char *path = recording_path (r);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_autoptr (Recording) rec = index_prefix ((const guint8 *) contents, len, NULL);
  g_assert_nonnull (rec);
  Source src = source_from_memory ((const guint8 *) contents, len);

  g_autoptr (SegmentPlan) plan = plan_of (rec, TRUE);
  g_assert_true (segment_plan_complete (plan));
  g_assert_cmpuint (segment_plan_count (plan), >=, 3);
  g_rw_lock_reader_lock (&rec->lock);
  GByteArray *all = build_all (rec, plan, &src, NULL);
  g_rw_lock_reader_unlock (&rec->lock);
  GByteArray *mp4 = virtual_mp4 (rec, &src);
  g_autofree char *name_all = g_strconcat (r->name, ".segments.mp4", NULL);
  g_autofree char *name_mp4 = g_strconcat (r->name, ".virtual.mp4", NULL);
  g_autofree char *seg_path = write_temp (name_all, all->data, all->len);
  g_autofree char *mp4_path = write_temp (name_mp4, mp4->data, mp4->len);
  g_byte_array_unref (all);
  g_byte_array_unref (mp4);
  g_autofree char *a = packets (seg_path);
  g_autofree char *b = packets (mp4_path);
  g_assert_cmpstr (a, ==, b);

  /* The durations listed add up to the recording's. */
  double total = 0;
  for (guint k = 0; k < segment_plan_count (plan); k++)
    total += segment_plan_duration (plan, k);
  g_assert_cmpfloat (total, >, 2.5);
  g_assert_cmpfloat (total, <, 5.5);
}

/* Per track id: the decode time the next segment must start at (tfdt
 * continuity: each traf's tfdt is the last one's plus its durations). */
static GHashTable *next_tfdt;

/* The first sample of each video traf is a sync sample (8.8.3.1 flags);
 * each traf starts where the track's last one ended. */
static void
check_starts_with_sync (GBytes *seg, guint32 video_id)
{
  ByteReader r, moof, traf;
  BoxHeader h;
  byte_reader_init (&r, g_bytes_get_data (seg, NULL), g_bytes_get_size (seg));
  g_assert_true (byte_reader_box (&r, &h, &moof));
  g_assert_cmphex (h.type, ==, FOURCC ('m', 'o', 'o', 'f'));
  gboolean found = FALSE;
  while (byte_reader_box (&moof, &h, &traf)) {
    if (h.type != FOURCC ('t', 'r', 'a', 'f'))
      continue;
    ByteReader tfhd, trun;
    guint8 version;
    guint32 flags = 0, id = 0, count = 0, offset = 0, duration = 0, size = 0, sample_flags = 0;
    g_assert_true (box_find_child (traf, FOURCC ('t', 'f', 'h', 'd'), &tfhd));
    g_assert_true (full_box_header_read (&tfhd, &version, &flags) && byte_reader_u32 (&tfhd, &id));
    ByteReader tfdt;
    guint64 base;
    g_assert_true (box_find_child (traf, FOURCC ('t', 'f', 'd', 't'), &tfdt));
    g_assert_true (full_box_header_read (&tfdt, &version, &flags) && byte_reader_u64 (&tfdt, &base));
    guint64 *expected = g_hash_table_lookup (next_tfdt, GUINT_TO_POINTER (id));
    if (expected)
      g_assert_cmpuint (base, ==, *expected);
    g_assert_true (box_find_child (traf, FOURCC ('t', 'r', 'u', 'n'), &trun));
    g_assert_true (full_box_header_read (&trun, &version, &flags) && byte_reader_u32 (&trun, &count) &&
                   byte_reader_u32 (&trun, &offset));
    guint64 end = base;
    for (guint32 i = 0; i < count; i++) {
      gint32 cto;
      g_assert_true (byte_reader_u32 (&trun, &duration) && byte_reader_u32 (&trun, &size) &&
                     byte_reader_u32 (&trun, &sample_flags) && byte_reader_u32 (&trun, (guint32 *) &cto));
      g_assert_cmpuint (duration, >, 0);
      if (i == 0 && id == video_id) {
        g_assert_cmphex (sample_flags & 0x00010000, ==, 0);
        found = TRUE;
      }
      end += duration;
    }
    g_hash_table_insert (next_tfdt, GUINT_TO_POINTER (id), g_memdup2 (&end, sizeof end));
  }
  g_assert_true (found || video_id == 0);
}

/* Indexed in 9 growing steps, every segment listed on the way is byte for
 * byte the one the finished recording gives, and numbering never moves. */
static void
test_deterministic_while_growing (gconstpointer data)
{
  const Recipe *r = data;
  g_autofree char *path = recording_path (r);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  const guint8 *bytes = (const guint8 *) contents;
  Source src = source_from_memory (bytes, len);

  g_autoptr (Recording) whole = index_prefix (bytes, len, NULL);
  g_autoptr (SegmentPlan) final = plan_of (whole, TRUE);
  g_autoptr (GPtrArray) expected = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_rw_lock_reader_lock (&whole->lock);
  g_byte_array_unref (build_all (whole, final, &src, expected));
  g_autoptr (GBytes) init = segment_build_init (whole, final);
  g_rw_lock_reader_unlock (&whole->lock);
  guint32 video_id = 0;
  for (guint i = 0; i < whole->tracks->len; i++) {
    const Track *t = g_ptr_array_index (whole->tracks, i);
    if (t->handler == FOURCC ('v', 'i', 'd', 'e') && !video_id)
      video_id = t->id;
  }
  next_tfdt = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  for (guint k = 0; k < expected->len; k++)
    check_starts_with_sync (g_ptr_array_index (expected, k), video_id);
  g_clear_pointer (&next_tfdt, g_hash_table_unref);

  Recording *rec = NULL;
  guint listed = 0;
  for (guint step = 1; step <= 9; step++) {
    gsize size = len * step / 10;
    rec = index_prefix (bytes, size, rec);
    if (!rec)
      continue;
    Source part = source_from_memory (bytes, size);
    g_autoptr (SegmentPlan) plan = plan_of (rec, FALSE);
    g_assert_false (segment_plan_complete (plan));
    g_assert_cmpuint (segment_plan_count (plan), >=, listed);
    g_assert_cmpuint (segment_plan_count (plan), <, expected->len);
    listed = segment_plan_count (plan);
    g_rw_lock_reader_lock (&rec->lock);
    if (listed) {
      g_autoptr (GBytes) i = segment_build_init (rec, plan);
      g_assert_true (g_bytes_equal (i, init));
    }
    for (guint k = 0; k < listed; k++) {
      g_autofree char *error = NULL;
      g_autoptr (GBytes) seg = segment_build_media (rec, plan, k, &part, &error);
      g_assert_null (error);
      g_assert_true (g_bytes_equal (seg, g_ptr_array_index (expected, k)));
      g_assert_cmpfloat (segment_plan_duration (plan, k), ==, segment_plan_duration (final, k));
    }
    g_rw_lock_reader_unlock (&rec->lock);
  }
  if (!r->unreadable_growing)
    g_assert_cmpuint (listed, >, 0);
  g_clear_pointer (&rec, recording_unref);
}

static void
test_playlist (void)
{
  const Recipe *r = &recipes[0];
  g_autofree char *path = recording_path (r);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_autoptr (Recording) rec = index_prefix ((const guint8 *) contents, len, NULL);
  g_autoptr (SegmentPlan) live = plan_of (rec, FALSE);
  g_autoptr (SegmentPlan) ended = plan_of (rec, TRUE);
  g_assert_cmpuint (segment_plan_target (live), ==, SEGMENT_MIN_TARGET);
  g_autofree char *a = segment_playlist (live, "rec.hls/", segment_plan_target (live));
  g_autofree char *b = segment_playlist (ended, "rec.hls/", segment_plan_target (ended));
  g_assert_nonnull (strstr (a, "#EXT-X-TARGETDURATION:6\n"));
  g_assert_true (g_str_has_prefix (a, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:EVENT\n"));
  g_assert_nonnull (strstr (a, "#EXT-X-MAP:URI=\"rec.hls/init.mp4\"\n"));
  /* GOPs of 0.48 s: a segment is two of them (SEGMENT_MIN_MS). */
  g_assert_nonnull (strstr (a, "#EXTINF:0.960000,\nrec.hls/000000.m4s\n#EXTINF:0.960000,\nrec.hls/000001.m4s\n"));
  g_assert_null (strstr (a, "#EXT-X-ENDLIST"));
  g_assert_true (g_str_has_suffix (b, "#EXT-X-ENDLIST\n"));
  /* The live playlist is the ended one's beginning. */
  g_assert_cmpuint (segment_plan_count (live) + 1, ==, segment_plan_count (ended));
  g_assert_true (g_str_has_prefix (b, a));
}

/* Key frames at 0, 1, 2 and 9 s: the 7 s GOP is one segment, and the
 * target duration grows to it. */
static const Recipe long_gop = {
  "long-gop.mp4", "-f lavfi -i testsrc2=s=96x64:r=25:d=11 -c:v libx264 -g 1000 -sc_threshold 0 "
  "-force_key_frames 0,1,2,9 -movflags frag_keyframe+empty_moov", FALSE };

static void
test_long_gop (void)
{
  g_autofree char *path = recording_path (&long_gop);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_autoptr (Recording) rec = index_prefix ((const guint8 *) contents, len, NULL);
  g_autoptr (SegmentPlan) live = plan_of (rec, FALSE);
  g_autoptr (SegmentPlan) ended = plan_of (rec, TRUE);
  /* Live: the last GOP (9-11 s) is not settled; the 7 s one is. */
  g_assert_cmpuint (segment_plan_count (live), ==, 3);
  g_assert_cmpuint (segment_plan_count (ended), ==, 4);
  g_assert_cmpfloat (segment_plan_duration (ended, 2), ==, 7.0);
  g_assert_cmpfloat (segment_plan_duration (ended, 3), ==, 2.0);
  g_assert_cmpuint (segment_plan_target (live), ==, 7);
  g_autofree char *text = segment_playlist (ended, "", segment_plan_target (ended));
  g_assert_nonnull (strstr (text, "#EXT-X-TARGETDURATION:7\n"));
}

static void
remove_tmpdir (void)
{
  g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *p = g_build_filename (tmpdir, name, NULL);
    g_unlink (p);
  }
  g_rmdir (tmpdir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autofree char *ffmpeg = g_find_program_in_path ("ffmpeg");
  if (!ffmpeg) {
    g_test_skip ("ffmpeg is not installed");
    return g_test_run ();
  }
  tmpdir = g_dir_make_tmp ("test-segment-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  for (guint i = 0; i < G_N_ELEMENTS (recipes); i++) {
    g_autofree char *p1 = g_strdup_printf ("/segment/same-packets/%s", recipes[i].name);
    g_autofree char *p2 = g_strdup_printf ("/segment/deterministic-while-growing/%s", recipes[i].name);
    g_test_add_data_func (p1, &recipes[i], test_same_packets);
    g_test_add_data_func (p2, &recipes[i], test_deterministic_while_growing);
  }
  g_test_add_func ("/segment/playlist", test_playlist);
  g_test_add_func ("/segment/long-gop", test_long_gop);
  int status = g_test_run ();
  remove_tmpdir ();
  g_free (tmpdir);
  return status;
}

/* segment.c — HLS init and media segments of a snapshot (segment.h). */
#include "segment.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "layout.h"
#include "moov.h"

/* One track's samples in one segment. */
typedef struct {
  guint32 count;
  SampleCursor cursor;        /* at the segment's first sample of the track */
} Part;

struct SegmentPlan {
  guint n_tracks;
  guint *indices;             /* rec->tracks index of each track shown */
  guint32 *counts;            /* samples in the snapshot, per track shown */
  guint64 *durations;         /* their duration as the snapshot pinned it */
  GArray *parts;              /* Part: n_tracks per segment */
  GArray *seconds;            /* double, per segment */
  gboolean complete;
};

/* The time a track's decode time dts stands for, in its timescale: what the
 * virtual MP4 presents it at, less the composition offset. */
static gint64
track_time (const Track *t, guint64 dts)
{
  /* Each term bounded, so that neither the sum nor a difference of two overflows. */
  const gint64 bound = G_MAXINT64 / 8;
  gint64 base = CLAMP (t->edit_base, -bound, bound);
  return base + (gint64) MIN (t->first_decode_time, (guint64) bound) + (gint64) MIN (dts, (guint64) bound);
}

/* a / ta against b / tb, exactly (timescales are above 0). */
static int
time_cmp (gint64 a, guint32 ta, gint64 b, guint32 tb)
{
  __int128 x = (__int128) a * tb, y = (__int128) b * ta;
  return (x > y) - (x < y);
}

static const Track *
plan_track (Recording *rec, const SegmentPlan *plan, guint j)
{
  return g_ptr_array_index (rec->tracks, plan->indices[j]);
}

/* Where each segment begins in the reference track: its sample numbers,
 * cursors and times. */
typedef struct {
  GArray *first;              /* guint32 */
  GArray *cursor;             /* SampleCursor */
  GArray *time;               /* gint64, track_time */
} Starts;

static void
find_starts (const Track *ref, guint32 n, gboolean video, Starts *s)
{
  SampleCursor c;
  sample_cursor_init (&c);
  gint64 start = 0;
  for (guint32 i = 0; i < n; i++) {
    SampleCursor before = c;
    SampleInfo info;
    guint64 dts;
    if (!sample_cursor_next (&ref->table, &c, &info, &dts))
      break;
    gint64 t = track_time (ref, dts);
    gboolean cut = i == 0;
    if (i > 0 && video)
      cut = info.sync && time_cmp (t - start, ref->timescale, SEGMENT_MIN_MS, 1000) >= 0;
    else if (i > 0)
      cut = time_cmp (t - start, ref->timescale, SEGMENT_AUDIO_SECONDS, 1) >= 0;
    if (!cut)
      continue;
    g_array_append_val (s->first, i);
    g_array_append_val (s->cursor, before);
    g_array_append_val (s->time, t);
    start = t;
  }
}

SegmentPlan *
segment_plan_new (Recording *rec, const Snapshot *snap, gboolean ended)
{
  SegmentPlan *plan = g_new0 (SegmentPlan, 1);
  plan->indices = g_new0 (guint, MAX (snap->n_tracks, 1));
  plan->counts = g_new0 (guint32, MAX (snap->n_tracks, 1));
  plan->durations = g_new0 (guint64, MAX (snap->n_tracks, 1));
  plan->parts = g_array_new (FALSE, TRUE, sizeof (Part));
  plan->seconds = g_array_new (FALSE, TRUE, sizeof (double));
  /* The tracks the virtual MP4 declares (moov.c): none before any sample. */
  if (snapshot_samples (snap) == 0)
    return plan;
  for (guint i = 0; i < snap->n_tracks && i < rec->tracks->len; i++) {
    if (!snap->configured[i])
      continue;
    plan->indices[plan->n_tracks] = i;
    plan->counts[plan->n_tracks] = snap->counts[i];
    plan->durations[plan->n_tracks] = snap->pins[i].duration;
    plan->n_tracks++;
  }
  if (plan->n_tracks == 0)
    return plan;

  guint ref = 0;
  gboolean video = FALSE;
  for (guint j = 0; j < plan->n_tracks && !video; j++)
    if (plan_track (rec, plan, j)->handler == FOURCC ('v', 'i', 'd', 'e')) {
      ref = j;
      video = TRUE;
    }
  const Track *rt = plan_track (rec, plan, ref);
  Starts starts = { g_array_new (FALSE, FALSE, sizeof (guint32)), g_array_new (FALSE, FALSE, sizeof (SampleCursor)),
                    g_array_new (FALSE, FALSE, sizeof (gint64)) };
  find_starts (rt, plan->counts[ref], video, &starts);

  g_autofree SampleCursor *cursors = g_new0 (SampleCursor, plan->n_tracks);
  /* Without a sample of the reference track, an ended recording is one segment. */
  guint n_starts = MAX (starts.first->len, 1);
  for (guint k = 0; k < n_starts; k++) {
    gboolean last = k + 1 >= starts.first->len;
    if (last && !ended)
      break;
    gint64 end = last ? 0 : g_array_index (starts.time, gint64, k + 1);
    guint first_part = plan->parts->len;
    gboolean settled = TRUE;
    for (guint j = 0; j < plan->n_tracks; j++) {
      Part p = { 0, cursors[j] };
      if (j == ref && starts.first->len) {
        guint32 next = last ? plan->counts[ref] : g_array_index (starts.first, guint32, k + 1);
        p.cursor = g_array_index (starts.cursor, SampleCursor, k);
        p.count = next - g_array_index (starts.first, guint32, k);
      } else {
        const Track *t = plan_track (rec, plan, j);
        SampleCursor c = cursors[j];
        for (;;) {
          SampleCursor before = c;
          SampleInfo info;
          guint64 dts;
          if (c.index >= plan->counts[j] || !sample_cursor_next (&t->table, &c, &info, &dts)) {
            /* The track may still bring samples before end. */
            settled = last;
            break;
          }
          if (!last && time_cmp (track_time (t, dts), t->timescale, end, rt->timescale) >= 0) {
            c = before;
            break;
          }
          p.count++;
        }
        cursors[j] = c;
      }
      g_array_append_val (plan->parts, p);
    }
    if (!settled) {
      g_array_set_size (plan->parts, first_part);
      break;
    }
    /* The segment lasts until the next one begins; the last, as long as the
     * reference track's samples in it (to the snapshot's end). */
    double seconds;
    if (!last) {
      seconds = (double) (end - g_array_index (starts.time, gint64, k)) / rt->timescale;
    } else {
      guint64 from = 0;
      const Part *p = &g_array_index (plan->parts, Part, first_part + ref);
      from = p->cursor.decode_time;
      seconds = plan->durations[ref] > from ? (double) (plan->durations[ref] - from) / rt->timescale : 0;
      plan->complete = TRUE;
    }
    g_array_append_val (plan->seconds, seconds);
  }
  g_array_unref (starts.first);
  g_array_unref (starts.cursor);
  g_array_unref (starts.time);
  return plan;
}

void
segment_plan_free (SegmentPlan *plan)
{
  if (!plan)
    return;
  g_free (plan->indices);
  g_free (plan->counts);
  g_free (plan->durations);
  g_array_unref (plan->parts);
  g_array_unref (plan->seconds);
  g_free (plan);
}

guint
segment_plan_tracks (const SegmentPlan *plan)
{
  return plan->n_tracks;
}

guint
segment_plan_count (const SegmentPlan *plan)
{
  return plan->seconds->len;
}

gboolean
segment_plan_complete (const SegmentPlan *plan)
{
  return plan->complete;
}

double
segment_plan_duration (const SegmentPlan *plan, guint index)
{
  g_return_val_if_fail (index < plan->seconds->len, 0);
  return g_array_index (plan->seconds, double, index);
}

GBytes *
segment_build_init (Recording *rec, const SegmentPlan *plan)
{
  if (plan->n_tracks == 0)
    return NULL;
  static const char brands[][5] = { "iso6", "isom", "mp41" };
  ByteWriter w;
  byte_writer_init (&w);
  gsize ftyp = box_begin (&w, FOURCC ('f', 't', 'y', 'p'));
  byte_writer_bytes (&w, "iso6", 4);
  byte_writer_u32 (&w, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (brands); i++)
    byte_writer_bytes (&w, brands[i], 4);
  box_end (&w, ftyp);
  moov_build_init (rec, plan->indices, plan->n_tracks, &w);
  return byte_writer_free_to_bytes (&w);
}

typedef struct {
  SampleInfo info;
  guint64 dts;
} Sample;

/* 8.8.3.1 sample flags: sample_depends_on 2 (an I-frame), or 1 and non-sync. */
#define SAMPLE_FLAGS_SYNC 0x02000000u
#define SAMPLE_FLAGS_OTHER 0x01010000u

/* The samples of part p of track j, with the snapshot's pinned duration for
 * its last sample. */
static GArray *
part_samples (Recording *rec, const SegmentPlan *plan, guint j, const Part *p)
{
  const Track *t = plan_track (rec, plan, j);
  GArray *samples = g_array_sized_new (FALSE, FALSE, sizeof (Sample), p->count);
  SampleCursor c = p->cursor;
  for (guint32 i = 0; i < p->count; i++) {
    Sample s;
    guint32 index = c.index;
    if (!sample_cursor_next (&t->table, &c, &s.info, &s.dts))
      break;
    if (index + 1 == plan->counts[j])
      s.info.duration = (guint32) MIN (plan->durations[j] > s.dts ? plan->durations[j] - s.dts : 1, G_MAXUINT32);
    g_array_append_val (samples, s);
  }
  return samples;
}

/* Media segment index; with size set, only its size (no sample is read). */
static GBytes *
build_media (Recording *rec, const SegmentPlan *plan, guint index, const Source *src, char **error, guint64 *size)
{
  *error = NULL;
  g_return_val_if_fail (index < segment_plan_count (plan), NULL);
  g_autofree GArray **samples = g_new0 (GArray *, plan->n_tracks);
  g_autofree gsize *data_offset_at = g_new0 (gsize, plan->n_tracks);
  guint64 data_len = 0, n_samples = 0;
  for (guint j = 0; j < plan->n_tracks; j++)
    n_samples += g_array_index (plan->parts, Part, index * plan->n_tracks + j).count;
  if (n_samples > SEGMENT_MAX_SAMPLES) {
    *error = g_strdup_printf ("segment %u holds %" G_GUINT64_FORMAT " samples, more than %u", index, n_samples,
                              SEGMENT_MAX_SAMPLES);
    return NULL;
  }
  for (guint j = 0; j < plan->n_tracks; j++) {
    samples[j] = part_samples (rec, plan, j, &g_array_index (plan->parts, Part, index * plan->n_tracks + j));
    for (guint i = 0; i < samples[j]->len; i++)
      data_len += g_array_index (samples[j], Sample, i).info.size;
  }
  GBytes *out = NULL;
  if (data_len > SEGMENT_MAX_BYTES) {
    *error = g_strdup_printf ("segment %u holds %" G_GUINT64_FORMAT " bytes of samples, more than %u", index,
                              data_len, SEGMENT_MAX_BYTES);
    goto done;
  }

  ByteWriter w;
  byte_writer_init (&w);
  gsize moof = box_begin (&w, FOURCC ('m', 'o', 'o', 'f'));
  gsize mfhd = box_begin_full (&w, FOURCC ('m', 'f', 'h', 'd'), 0, 0);
  byte_writer_u32 (&w, index + 1);
  box_end (&w, mfhd);
  for (guint j = 0; j < plan->n_tracks; j++) {
    if (samples[j]->len == 0)
      continue;
    const Track *t = plan_track (rec, plan, j);
    const Sample *first = &g_array_index (samples[j], Sample, 0);
    gsize traf = box_begin (&w, FOURCC ('t', 'r', 'a', 'f'));
    /* default-base-is-moof, sample-description-index-present */
    gsize tfhd = box_begin_full (&w, FOURCC ('t', 'f', 'h', 'd'), 0, 0x020002);
    byte_writer_u32 (&w, t->id);
    byte_writer_u32 (&w, first->info.description_index);
    box_end (&w, tfhd);
    gsize tfdt = box_begin_full (&w, FOURCC ('t', 'f', 'd', 't'), 1, 0);
    byte_writer_u64 (&w, t->first_decode_time + first->dts);
    box_end (&w, tfdt);
    /* data-offset, duration, size, flags, composition offset (signed: v1) */
    gsize trun = box_begin_full (&w, FOURCC ('t', 'r', 'u', 'n'), 1, 0x000f01);
    byte_writer_u32 (&w, samples[j]->len);
    data_offset_at[j] = byte_writer_len (&w);
    byte_writer_u32 (&w, 0);
    for (guint i = 0; i < samples[j]->len; i++) {
      const SampleInfo *s = &g_array_index (samples[j], Sample, i).info;
      byte_writer_u32 (&w, s->duration);
      byte_writer_u32 (&w, s->size);
      byte_writer_u32 (&w, s->sync ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_OTHER);
      byte_writer_u32 (&w, (guint32) s->composition_offset);
    }
    box_end (&w, trun);
    box_end (&w, traf);
  }
  if (!box_end (&w, moof)) {
    *error = g_strdup_printf ("segment %u: its moof reaches 4 GiB", index);
    byte_writer_clear (&w);
    goto done;
  }
  guint64 at = byte_writer_len (&w) + 8;
  for (guint j = 0; j < plan->n_tracks; j++) {
    if (samples[j]->len == 0)
      continue;
    byte_writer_put_u32_at (&w, data_offset_at[j], (guint32) at);
    for (guint i = 0; i < samples[j]->len; i++)
      at += g_array_index (samples[j], Sample, i).info.size;
  }
  byte_writer_u32 (&w, (guint32) (data_len + 8));
  byte_writer_u32 (&w, FOURCC ('m', 'd', 'a', 't'));
  gsize mdat_at = byte_writer_len (&w);
  if (size) {
    *size = mdat_at + data_len;
    byte_writer_clear (&w);
    goto done;
  }
  g_byte_array_set_size (w.buf, (guint) (mdat_at + data_len));
  guint8 *dest = w.buf->data + mdat_at;
  /* Samples contiguous in the payload are read at once. */
  for (guint j = 0; j < plan->n_tracks && !*error; j++) {
    for (guint i = 0; i < samples[j]->len && !*error;) {
      const SampleInfo *s = &g_array_index (samples[j], Sample, i).info;
      guint64 from = s->payload_offset, len = s->size;
      for (i++; i < samples[j]->len; i++) {
        const SampleInfo *n = &g_array_index (samples[j], Sample, i).info;
        if (n->payload_offset != from + len)
          break;
        len += n->size;
      }
      if (!layout_read_payload (rec, src, from, dest, len))
        *error = g_strdup_printf ("segment %u: the samples at payload offset %" G_GUINT64_FORMAT
                                  " cannot be read (%s)", index, from, g_strerror (errno));
      dest += len;
    }
  }
  if (*error)
    byte_writer_clear (&w);
  else
    out = byte_writer_free_to_bytes (&w);
done:
  for (guint j = 0; j < plan->n_tracks; j++)
    g_array_unref (samples[j]);
  return out;
}

GBytes *
segment_build_media (Recording *rec, const SegmentPlan *plan, guint index, const Source *src, char **error)
{
  return build_media (rec, plan, index, src, error, NULL);
}

gboolean
segment_media_size (Recording *rec, const SegmentPlan *plan, guint index, guint64 *size, char **error)
{
  *size = 0;
  build_media (rec, plan, index, NULL, error, size);
  return *error == NULL;
}

char *
segment_name (guint index)
{
  return g_strdup_printf ("%06u.m4s", index);
}

guint
segment_plan_target (const SegmentPlan *plan)
{
  guint target = SEGMENT_MIN_TARGET;
  for (guint k = 0; k < segment_plan_count (plan); k++)
    target = MAX (target, (guint) MIN (segment_plan_duration (plan, k) + 0.5, (double) G_MAXINT32));
  return target;
}

char *
segment_playlist (const SegmentPlan *plan, const char *prefix, guint target)
{
  GString *s = g_string_new ("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:EVENT\n");
  g_string_append_printf (s, "#EXT-X-TARGETDURATION:%u\n", target);
  g_string_append (s, "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-START:TIME-OFFSET=0\n");
  if (plan->n_tracks)
    g_string_append_printf (s, "#EXT-X-MAP:URI=\"%sinit.mp4\"\n", prefix);
  for (guint k = 0; k < segment_plan_count (plan); k++) {
    char num[G_ASCII_DTOSTR_BUF_SIZE];
    g_autofree char *name = segment_name (k);
    g_string_append_printf (s, "#EXTINF:%s,\n%s%s\n",
                            g_ascii_formatd (num, sizeof num, "%.6f", segment_plan_duration (plan, k)), prefix,
                            name);
  }
  if (plan->complete)
    g_string_append (s, "#EXT-X-ENDLIST\n");
  return g_string_free (s, FALSE);
}

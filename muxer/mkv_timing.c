/* mkv_timing.c — Matroska timing: converts nanoseconds to track ticks,
 * rebuilds decode times of video (frames held until their duration is known,
 * reorder depth learnt from the first H.264/HEVC frames), gives audio frames
 * their codec durations, and appends finished frames in file order. */
#include "mkv_private.h"

static Frame *
frame_at (MkvState *st, guint64 seq)
{
  return &g_array_index (st->frames, Frame, seq - st->frames_base);
}

/* ---- time ------------------------------------------------------------------ */

/* ns * timescale / 1e9, rounded to nearest, without overflow for |ns| < 2^63. */
gint64
mkv_ns_to_ticks (gint64 ns, guint32 timescale)
{
  const gint64 second = 1000000000;
  gboolean negative = ns < 0;
  guint64 a = negative ? (guint64) 0 - (guint64) ns : (guint64) ns;
  guint64 ticks = a / second * timescale + ((a % second) * timescale + second / 2) / second;
  return negative ? -(gint64) ticks : (gint64) ticks;
}

/* A video timescale in which Matroska ticks convert exactly: 90 kHz when the
 * tick divides it (the usual millisecond), else the tick rate itself. */
guint32
mkv_video_timescale (guint64 timestamp_scale)
{
  const guint64 second = 1000000000;
  if (second % timestamp_scale != 0)
    return 90000;
  guint64 rate = second / timestamp_scale;
  return 90000 % rate == 0 ? 90000 : (guint32) rate;
}

/* ---- timing of held frames ------------------------------------------------- */

static void
frame_finish (Frame *f, gint64 duration, gint64 offset)
{
  f->info = (SampleInfo) {
    .size = f->size,
    .duration = (guint32) CLAMP (duration, 1, G_MAXUINT32),
    .composition_offset = (gint32) CLAMP (offset, G_MININT32, G_MAXINT32),
    .sync = f->sync,
    .description_index = 1,
  };
  f->ready = TRUE;
}

/* Finishes the video frame at seq given the ideal decode time of the next one. */
static void
video_finish (MkvState *st, MkvTrack *t, guint64 seq, gint64 next_dts)
{
  Frame *f = frame_at (st, seq);
  /* A reorder deeper than the one learnt would need a decode time going
   * back; keep decode order and let the composition offset absorb it. */
  gint64 duration = MAX (next_dts - t->next_dts, 1);
  duration = MIN (duration, (gint64) G_MAXUINT32);
  frame_finish (f, duration, f->pts - t->next_dts);
  t->next_dts += duration;
  t->last_duration = duration;
}

/* Keeps the delay + 1 largest presentation times seen; the smallest of them is
 * the decode time of the newest frame (FFmpeg's pts_buffer). */
static gint64
pts_buffer_push (MkvTrack *t, gint64 pts)
{
  gint64 *b = t->pts_buffer;
  if (pts > b[0]) {
    b[0] = pts;
    for (guint i = 0; i < t->delay && b[i] > b[i + 1]; i++) {
      gint64 tmp = b[i];
      b[i] = b[i + 1];
      b[i + 1] = tmp;
    }
  }
  return b[0];
}

/* Learns the reorder depth from the held frames and finishes all but the last. */
static void
video_commit (MkvState *st, MkvTrack *t)
{
  guint n = t->held->len;
  g_autofree gint64 *pts = g_new (gint64, MAX (n, 1));
  g_autofree gint64 *dts = g_new (gint64, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    pts[i] = frame_at (st, g_array_index (t->held, guint64, i))->pts;

  /* Depth: how many earlier frames (in decode order) a frame is shown before. */
  guint delay = 0;
  for (guint i = 0; i < n; i++) {
    guint earlier_later = 0;
    for (guint j = 0; j < i; j++)
      earlier_later += pts[j] > pts[i];
    delay = MAX (delay, earlier_later);
  }
  t->delay = MIN (delay, MKV_MAX_REORDER);

  gint64 spacing = 0;
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < n; j++)
      if (pts[j] > pts[i] && (spacing == 0 || pts[j] - pts[i] < spacing))
        spacing = pts[j] - pts[i];
  if (spacing == 0)
    spacing = t->default_duration > 0 ? t->default_duration : 1;
  t->spacing = spacing;

  for (guint i = 0; i <= MKV_MAX_REORDER; i++)
    t->pts_buffer[i] = G_MININT64;
  for (guint i = 0; i < n; i++)
    dts[i] = pts_buffer_push (t, pts[i]);
  /* The first `delay` frames precede any known decode time: space them out
   * before the first one that is known. */
  for (guint i = 0; i < t->delay && i < n; i++)
    dts[i] = dts[t->delay] - (gint64) (t->delay - i) * spacing;

  t->next_dts = dts[0];
  t->edit_base = dts[0];
  t->timed = TRUE;
  for (guint i = 0; i + 1 < n; i++)
    video_finish (st, t, g_array_index (t->held, guint64, i), dts[i + 1]);
  guint64 last = g_array_index (t->held, guint64, n - 1);
  g_array_set_size (t->held, 0);
  g_array_append_val (t->held, last);
  t->committed = TRUE;
}

/* Audio frames are finished as they arrive: their duration comes from the
 * codec.  Timestamps that stray from the running decode time by more than a
 * frame (a dropout, or a recorder clock running apart from the audio clock)
 * re-anchor the track through a composition offset, so presentation times
 * keep following the Matroska timestamps. */
static void
audio_arrive (MkvTrack *t, Frame *f)
{
  if (!t->timed) {
    t->next_dts = f->pts;
    t->edit_base = f->pts;
    t->timed = TRUE;
  }
  gint64 duration = f->codec_duration ? f->codec_duration
                    : t->default_duration > 0 ? t->default_duration
                    : t->last_duration > 0 ? t->last_duration : 1;
  duration = MIN (duration, (gint64) G_MAXUINT32);
  gint64 drift = f->pts - (t->next_dts + t->audio_offset);
  if (drift > duration || drift < -duration)
    t->audio_offset = f->pts - t->next_dts;
  frame_finish (f, duration, t->audio_offset);
  t->next_dts += duration;
  t->last_duration = duration;
}

/* Releases a track's held frames with an estimated last duration. */
static void
track_release (MkvState *st, MkvTrack *t)
{
  if (t->held->len == 0)
    return;
  if (!t->committed)
    video_commit (st, t);
  guint64 seq = g_array_index (t->held, guint64, 0);
  Frame *f = frame_at (st, seq);
  gint64 duration = f->block_duration > 0 ? f->block_duration
                    : t->default_duration > 0 ? t->default_duration
                    : t->last_duration > 0 ? t->last_duration
                    : t->spacing > 0 ? t->spacing : 1;
  video_finish (st, t, seq, t->next_dts + duration);
  g_array_set_size (t->held, 0);
}

void
mkv_release_held_frames (MkvState *st)
{
  for (guint i = 0; i < st->tracks->len; i++) {
    MkvTrack *t = g_ptr_array_index (st->tracks, i);
    if (t->held)
      track_release (st, t);
  }
}

static void
frame_arrive (MkvState *st, MkvTrack *t, guint64 seq)
{
  Frame *f = frame_at (st, seq);
  if (t->type == TRACK_TYPE_AUDIO) {
    audio_arrive (t, f);
    return;
  }
  if (!t->committed) {
    g_array_append_val (t->held, seq);
    /* VP8, VP9 and AV1 blocks are in presentation order: nothing to learn. */
    gboolean reorders = t->codec == CODEC_AVC || t->codec == CODEC_HEVC;
    if (t->held->len >= (reorders ? MKV_REORDER_LOOKAHEAD : 1))
      video_commit (st, t);
    return;
  }
  gint64 dts = pts_buffer_push (t, f->pts);
  if (t->held->len)   /* empty after a forced release: its duration is already given */
    video_finish (st, t, g_array_index (t->held, guint64, 0), dts);
  g_array_set_size (t->held, 0);
  g_array_append_val (t->held, seq);
}

/* Appends the finished frames at the head of the queue, in file order. */
void
mkv_append_ready (MkvState *st, Recording *rec)
{
  if (st->frames_done < st->frames->len && g_array_index (st->frames, Frame, st->frames_done).ready) {
    recording_begin_append (rec);
    while (st->frames_done < st->frames->len) {
      Frame *f = &g_array_index (st->frames, Frame, st->frames_done);
      if (!f->ready)
        break;
      MkvTrack *t = g_ptr_array_index (st->tracks, f->track);
      if (t->track->table.count == 0) {
        /* Presentation time of decode time 0: the writer adds the decode
         * times of the samples to it. */
        t->track->edit_base = t->edit_base;
        t->track->first_decode_time = 0;
      }
      if (!recording_append_sample (rec, t->track, f->offset, &f->info))
        break;
      st->frames_done++;
    }
    recording_end_append (rec);
  }
  if (st->frames_done > 4096 || st->frames_done == st->frames->len) {
    g_array_remove_range (st->frames, 0, st->frames_done);
    st->frames_base += st->frames_done;
    st->frames_done = 0;
  }
}

void
mkv_queue_frame (MkvState *st, Recording *rec, MkvTrack *t, guint track_index, const Frame *proto)
{
  Frame f = *proto;
  f.track = track_index;
  guint64 seq = st->frames_base + st->frames->len;
  g_array_append_val (st->frames, f);
  frame_arrive (st, t, seq);
  /* A track that stops sending frames must not hold the others back forever. */
  while (st->frames->len - st->frames_done > MKV_MAX_PENDING_FRAMES) {
    Frame *head = &g_array_index (st->frames, Frame, st->frames_done);
    if (head->ready) {
      mkv_append_ready (st, rec);
      if (rec->failed)
        break;
      continue;
    }
    track_release (st, g_ptr_array_index (st->tracks, head->track));
  }
}

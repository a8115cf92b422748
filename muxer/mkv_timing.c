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

/* ---- placing frames --------------------------------------------------------- */

/* Timing (design: "Timing"): block times are the authority.  A frame is
 * placed at its decode time as soon as it arrives, with a provisional
 * duration (the block's, else the track's default, else the previous
 * frame's); the track's next frame gives it its final one, the distance to
 * its own decode time.  A gap or an overlap in the source is therefore
 * carried in stts, where every reader understands it, and a recording that
 * ends, however it ends, shows its last frame with the provisional duration. */

static gint64
provisional_duration (const MkvTrack *t, const Frame *f)
{
  return f->codec_duration ? f->codec_duration
         : f->block_duration > 0 ? f->block_duration
         : t->default_duration > 0 ? t->default_duration
         : t->last_duration > 0 ? t->last_duration
         : t->spacing > 0 ? t->spacing : 1;
}

/* The track's newest frame lasts until next_dts: changed in the queue if it
 * is still there, else in the sample table. */
static void
end_last_frame_at (MkvState *st, Recording *rec, MkvTrack *t, gint64 next_dts)
{
  gint64 duration = CLAMP (next_dts - t->last_dts, 1, (gint64) G_MAXUINT32);
  t->next_dts = t->last_dts + duration;
  if (duration == t->last_duration)
    return;
  t->last_duration = duration;
  if (t->last_seq >= st->frames_base + st->frames_done) {
    frame_at (st, t->last_seq)->info.duration = (guint32) duration;
  } else {
    recording_begin_append (rec);
    recording_set_last_duration (rec, t->track, (guint64) duration);
    recording_end_append (rec);
  }
}

/* Places the frame at seq at decode time dts (or right after the previous
 * frame, if that would go back). */
static void
place_frame (MkvState *st, Recording *rec, MkvTrack *t, guint64 seq, gint64 dts)
{
  Frame *f = frame_at (st, seq);
  if (!t->timed) {
    t->next_dts = dts;
    t->edit_base = dts;
    t->timed = TRUE;
  } else if (dts != t->next_dts) {
    end_last_frame_at (st, rec, t, dts);
  }
  gint64 duration = MIN (provisional_duration (t, f), (gint64) G_MAXUINT32);
  f->info = (SampleInfo) {
    .size = f->size,
    .duration = (guint32) duration,
    /* Audio frames are shown at their decode time. */
    .composition_offset = t->type == TRACK_TYPE_AUDIO ? 0 : (gint32) CLAMP (f->pts - t->next_dts, G_MININT32, G_MAXINT32),
    .sync = f->sync,
    .description_index = 1,
  };
  f->ready = TRUE;
  t->last_seq = seq;
  t->last_dts = t->next_dts;
  t->last_duration = duration;
  t->next_dts += duration;
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

/* Learns the reorder depth from the held frames and places them. */
static void
video_commit (MkvState *st, Recording *rec, MkvTrack *t)
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

  for (guint i = 0; i < n; i++)
    place_frame (st, rec, t, g_array_index (t->held, guint64, i), dts[i]);
  g_array_set_size (t->held, 0);
  t->committed = TRUE;
}

/* Places a video track's frames still waiting for its reorder depth. */
static void
track_release (MkvState *st, Recording *rec, MkvTrack *t)
{
  if (t->held->len && !t->committed)
    video_commit (st, rec, t);
}

void
mkv_release_held_frames (MkvState *st, Recording *rec)
{
  for (guint i = 0; i < st->tracks->len; i++) {
    MkvTrack *t = g_ptr_array_index (st->tracks, i);
    if (t->held)
      track_release (st, rec, t);
  }
}

/* Audio is timed by its codec within the source's rounding (a Matroska
 * tick): a frame whose block time strays further from where the frames
 * before it lead is placed at its block time, and the frame before it ends
 * there (a dropout, DTX, a muted microphone, a recorder clock apart from
 * the audio clock). */
static void
audio_arrive (MkvState *st, Recording *rec, MkvTrack *t, guint64 seq)
{
  Frame *f = frame_at (st, seq);
  gint64 rounding = MAX (mkv_ns_to_ticks ((gint64) MIN (st->timestamp_scale, (guint64) G_MAXINT32), t->timescale), 1);
  gint64 dts = t->timed && f->pts - t->next_dts <= rounding && t->next_dts - f->pts <= rounding ? t->next_dts : f->pts;
  place_frame (st, rec, t, seq, dts);
}

static void
frame_arrive (MkvState *st, Recording *rec, MkvTrack *t, guint64 seq)
{
  Frame *f = frame_at (st, seq);
  if (t->type == TRACK_TYPE_AUDIO) {
    audio_arrive (st, rec, t, seq);
    return;
  }
  if (!t->committed) {
    g_array_append_val (t->held, seq);
    /* VP8, VP9 and AV1 blocks are in presentation order: nothing to learn. */
    gboolean reorders = t->codec == CODEC_AVC || t->codec == CODEC_HEVC;
    if (t->held->len >= (reorders ? MKV_REORDER_LOOKAHEAD : 1))
      video_commit (st, rec, t);
    return;
  }
  place_frame (st, rec, t, seq, pts_buffer_push (t, f->pts));
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
  frame_arrive (st, rec, t, seq);
  /* A track that stops sending frames must not hold the others back forever. */
  while (st->frames->len - st->frames_done > MKV_MAX_PENDING_FRAMES) {
    Frame *head = &g_array_index (st->frames, Frame, st->frames_done);
    if (head->ready) {
      mkv_append_ready (st, rec);
      if (rec->failed)
        break;
      continue;
    }
    track_release (st, rec, g_ptr_array_index (st->tracks, head->track));
    if (!head->ready)
      break;   /* never expected: a frame not ready belongs to a track waiting to commit */
  }
}

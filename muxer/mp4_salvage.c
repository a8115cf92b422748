/* mp4_salvage.c — the walk of a moov-less MP4's mdat (mp4_salvage.h).
 *
 * One walker serves the probe (no recording: it only learns whether the
 * stream can be walked) and the indexer, which resumes where the last feed
 * stopped: the position of the next unit, and the access unit in progress
 * (its start and what ts_video_access_unit() needs of its NAL units).
 * Samples found in a feed are appended together at its end, in source
 * order, which is the walk's order.
 */
#include "mp4_salvage.h"

#include <string.h>

#include "codecs.h"
#include "mp4.h"
#include "mp4_private.h"
#include "ts_audio.h"
#include "ts_nal.h"

#define READ_AHEAD (64u * 1024)
/* Parameter sets and SEI larger than this are not looked into. */
#define MAX_KEPT_NAL (64u * 1024)
G_STATIC_ASSERT (MAX_KEPT_NAL <= READ_AHEAD);   /* peek holds what it is asked for */
/* Bytes kept of other NAL units: a slice header's first fields. */
#define SLICE_HEAD 32u
/* Samples held while video frames wait for their presentation place, at
 * most: beyond, the waiting frames are placed as if the video had ended (a
 * frame that then comes before them fails the recording). */
#define MAX_PENDING 8192
/* Frames the probe checks for presentation order after the first key frame. */
#define PROBE_FRAMES 16

typedef enum {
  UNIT_NAL,
  UNIT_AUDIO,
  UNIT_NEED_MORE,   /* the unit is not on disk whole (yet) */
  UNIT_END,         /* the end of a sized mdat */
  UNIT_BAD,
} UnitKind;

typedef struct {
  Track *track;
  guint64 offset;
  SampleInfo info;
  gboolean ready;                /* video: its composition offset is known */
  guint64 number;                /* video: in decode order */
} Pending;

typedef struct {
  gint64 poc;
  guint64 number;
} Unplaced;

typedef struct {
  guint64 payload;               /* the mdat's first payload byte; 0 until found */
  guint64 mdat_end;              /* G_MAXUINT64: to the end of the file */
  guint64 pos;                   /* the next unit */
  TsReader window;                /* read-ahead over the source (ts_packet.h) */
  /* the access unit in progress */
  gboolean in_au, au_has_slice;
  guint64 au_start;
  GByteArray *au_bytes;          /* its parameter sets and SEI whole, two bytes of other NAL units */
  GArray *au_nals;               /* TsNal into au_bytes */
  TsVideoConfig vconfig;
  TsH264Sps sps;                 /* the first SPS's, once the video is configured */
  guint32 frame_ticks, video_timescale;
  gint64 poc_msb;                /* pic_order_cnt_type 0: the last reference picture's */
  guint32 poc_lsb;
  gboolean period_placed;        /* a frame since the last IDR was placed, at last_placed_poc */
  gint64 last_placed_poc;
  guint64 frames;                /* shown (or, in the probe, checked) */
  TsAudioCodec audio_codec;
  gboolean audio_known;
  guint32 sample_rate, frame_samples;
  Track *video, *audio;
  guint64 dropped;               /* access units before the first key frame */
  GArray *pending;               /* Pending, in source order; appended while ready */
  GArray *unplaced;              /* Unplaced: video frames whose presentation place is unknown */
  guint reorder;                 /* max_num_reorder_frames */
  guint64 placed;                /* video frames placed in presentation order */
  /* probe: what was seen */
  gboolean walkable;             /* a key frame with acceptable parameter sets */
  const char *why;               /* why not, if the walk stopped on a problem */
  guint64 why_at;
} Salvage;

static gpointer
salvage_new (void)
{
  Salvage *st = g_new0 (Salvage, 1);
  st->mdat_end = G_MAXUINT64;
  /* The source is given at each read: a feed's Source lives for that feed. */
  ts_reader_init (&st->window, NULL, READ_AHEAD);
  st->window.back = 0;   /* the walk only moves forward */
  st->au_bytes = g_byte_array_new ();
  st->au_nals = g_array_new (FALSE, FALSE, sizeof (TsNal));
  st->pending = g_array_new (FALSE, FALSE, sizeof (Pending));
  st->unplaced = g_array_new (FALSE, FALSE, sizeof (Unplaced));
  ts_video_config_init (&st->vconfig, TS_VIDEO_H264);
  return st;
}

static void
salvage_free (gpointer data)
{
  Salvage *st = data;
  ts_reader_clear (&st->window);
  g_byte_array_unref (st->au_bytes);
  g_array_unref (st->au_nals);
  g_array_unref (st->pending);
  g_array_unref (st->unplaced);
  ts_video_config_clear (&st->vconfig);
  g_free (st);
}

/* Up to n bytes at pos, n <= READ_AHEAD (fewer where the file ends; *got
 * says how many), or NULL if the read failed. */
static const guint8 *
peek (Salvage *st, const Source *src, guint64 pos, gsize n, gsize *got)
{
  *got = 0;
  if (pos >= src->size)
    return (const guint8 *) "";
  gsize want = (gsize) MIN ((guint64) n, src->size - pos);
  st->window.src = src;
  const guint8 *p = ts_reader_get (&st->window, pos, want);
  if (p)
    *got = want;
  return p;
}

/* Finds the mdat: the first one, which must be the last top-level box.
 * *after is set when bytes follow a sized mdat (the recorder finished it).
 * FALSE (with *why, or *why NULL for "not yet") if there is none such. */
static gboolean
locate (const Source *src, guint64 *payload, guint64 *end, gboolean *after, const char **why)
{
  guint64 pos = 0;
  *why = NULL;
  for (guint n = 0; n < MP4_MAX_TOP_BOXES; n++) {
    BoxHeader h;
    if (mp4_read_box_header (src, pos, &h, why) != WALK_MOOV)
      return FALSE;
    if (pos == 0 && h.type != FOURCC ('f', 't', 'y', 'p')) {
      *why = "no ftyp";
      return FALSE;
    }
    if (h.type == FOURCC ('m', 'd', 'a', 't')) {
      *payload = pos + h.header_size;
      *end = h.size == 0 ? G_MAXUINT64 : pos + h.size;
      *after = h.size != 0 && pos + h.size < src->size;
      return TRUE;
    }
    if (h.type != FOURCC ('f', 't', 'y', 'p') && h.type != FOURCC ('f', 'r', 'e', 'e') &&
        h.type != FOURCC ('s', 'k', 'i', 'p') && h.type != FOURCC ('w', 'i', 'd', 'e') &&
        h.type != FOURCC ('u', 'u', 'i', 'd')) {
      *why = "a box other than ftyp, free, skip, wide or uuid before the mdat";
      return FALSE;
    }
    if (h.size == 0) {
      *why = "a box before the mdat has no size";
      return FALSE;
    }
    pos += h.size;
  }
  *why = "too many boxes before the mdat";
  return FALSE;
}

/* What begins at st->pos: its size in *size, its first bytes in *head. */
static UnitKind
read_unit (Salvage *st, const Source *src, guint64 *size, const guint8 **head, gsize *head_len)
{
  guint64 pos = st->pos;
  if (pos >= st->mdat_end)
    return UNIT_END;
  gsize got;
  const guint8 *p = peek (st, src, pos, TS_AUDIO_HEADER_MAX + 16, &got);
  if (!p) {
    st->why = "cannot read the mdat";
    return UNIT_BAD;
  }
  *head = p;
  *head_len = got;
  if (got < 5 && pos + got >= src->size)
    return UNIT_NEED_MORE;
  if (p[0] == 0) {
    guint32 len = (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
    guint type = p[4] & 0x1f;
    if (len == 0 || len > MP4_SALVAGE_MAX_NAL || (p[4] & 0x80) || type == 0 || type >= 24) {
      st->why = "a NAL unit length or header that is not H.264's";
      return UNIT_BAD;
    }
    *size = 4 + (guint64) len;
  } else {
    TsAudioFrame f;
    int r = 0;
    if (st->audio_known) {
      r = ts_audio_frame_parse (st->audio_codec, p, got, &f);
    } else {
      static const TsAudioCodec tried[] = { TS_AUDIO_MPEG, TS_AUDIO_AC3 };
      for (guint i = 0; i < G_N_ELEMENTS (tried) && r == 0; i++)
        if ((r = ts_audio_frame_parse (tried[i], p, got, &f)) == 1)
          st->audio_codec = tried[i];
    }
    if (r < 0)
      return UNIT_NEED_MORE;
    if (r == 0 || f.frame_len < 4) {
      st->why = "neither an H.264 NAL unit nor an MP3 or AC-3 frame (AAC and other audio without frame headers, "
                "and other codecs, cannot be walked exactly)";
      return UNIT_BAD;
    }
    if (st->audio_known && (f.sample_rate != st->sample_rate || f.samples != st->frame_samples)) {
      st->why = "the audio's sample rate or frame length changes";
      return UNIT_BAD;
    }
    st->audio_known = TRUE;
    st->sample_rate = f.sample_rate;
    st->frame_samples = f.samples;
    *size = f.frame_len;
  }
  if (*size > st->mdat_end - pos) {
    st->why = "a unit runs past the end of the mdat";
    return UNIT_BAD;
  }
  if (*size > src->size - pos)
    return UNIT_NEED_MORE;
  return p[0] == 0 ? UNIT_NAL : UNIT_AUDIO;
}

/* The video's timing from the SPS, or FALSE with st->why. */
static gboolean
video_timing (Salvage *st)
{
  TsH264Sps sps;
  if (!st->vconfig.sps || !ts_h264_sps_parse (st->vconfig.sps->data, st->vconfig.sps->len, &sps)) {
    st->why = "no usable SPS";
    return FALSE;
  }
  st->sps = sps;
  if (sps.poc_type == 1) {
    st->why = "pic_order_cnt_type 1 is not walked";
    return FALSE;
  }
  if (sps.poc_type == 0 && !sps.has_reorder) {
    st->why = "B-frames? pic_order_cnt_type 0 without max_num_reorder_frames (VUI bitstream_restriction): how "
              "far frames are reordered is not in the stream";
    return FALSE;
  }
  st->reorder = sps.poc_type == 0 ? sps.max_num_reorder_frames : 0;
  if (!sps.frame_mbs_only) {
    st->why = "interlaced video (frame_mbs_only_flag 0) is not walked";
    return FALSE;
  }
  if (!sps.time_scale || sps.num_units_in_tick > G_MAXUINT32 / 2) {
    st->why = "the SPS has no timing_info: the video's frame rate is not in the stream";
    return FALSE;
  }
  st->frame_ticks = 2 * sps.num_units_in_tick;
  st->video_timescale = sps.time_scale;
  return TRUE;
}

static Track *
add_track (Recording *rec, guint32 handler, guint32 timescale, ByteWriter *entry, guint width, guint height)
{
  GBytes *entries = byte_writer_free_to_bytes (entry);
  const guint8 *e = g_bytes_get_data (entries, NULL);
  recording_begin_append (rec);
  Track *t = recording_add_track (rec);
  if (t) {
    t->id = rec->tracks->len;
    t->handler = handler;
    t->timescale = timescale;
    t->codec = (guint32) e[8] << 24 | (guint32) e[9] << 16 | (guint32) e[10] << 8 | e[11];
    t->sample_descriptions = entries;
    t->width = MIN (width, 0xffffu) << 16;
    t->height = MIN (height, 0xffffu) << 16;
    if (handler == FOURCC ('s', 'o', 'u', 'n'))
      t->volume = 0x100;
  } else {
    g_bytes_unref (entries);
  }
  recording_end_append (rec);
  return t;
}

static void
queue (Salvage *st, Track *t, guint64 offset, guint64 size, guint32 duration, gboolean sync)
{
  Pending p = { .track = t, .offset = offset, .ready = TRUE,
                .info = { .size = (guint32) size, .duration = duration, .sync = sync, .description_index = 1 } };
  g_array_append_val (st->pending, p);
}

/* The picture order count of the access unit just ended (in st->au_nals),
 * 8.2.1: pic_order_cnt_type 2 is decode order; type 0 from the slice's
 * pic_order_cnt_lsb and the last reference picture's (8.2.1.1; memory
 * management operation 5 is not looked for).  FALSE with st->why. */
static gboolean
frame_poc (Salvage *st, gint64 *poc, gboolean *idr)
{
  const guint8 *slice = NULL;
  gsize len = 0;
  for (guint i = 0; i < st->au_nals->len && !slice; i++) {
    const TsNal *n = &g_array_index (st->au_nals, TsNal, i);
    guint type = st->au_bytes->data[n->start] & 0x1f;
    if (type == 1 || type == 5)
      slice = st->au_bytes->data + n->start, len = n->len;
  }
  *idr = slice && (slice[0] & 0x1f) == 5;
  if (st->sps.poc_type == 2) {
    *poc = (gint64) st->frames;
    return TRUE;
  }
  guint32 lsb;
  if (!slice || !ts_h264_slice_poc_lsb (&st->sps, slice, len, &lsb)) {
    st->why = "a slice header without pic_order_cnt_lsb (a field, or cut short)";
    return FALSE;
  }
  guint32 max = 1u << st->sps.log2_max_poc_lsb;
  gint64 msb = st->poc_msb;
  if (*idr) {
    msb = 0;
    st->poc_lsb = 0;
  } else if (lsb < st->poc_lsb && st->poc_lsb - lsb >= max / 2) {
    msb += max;
  } else if (lsb > st->poc_lsb && lsb - st->poc_lsb > max / 2) {
    msb -= max;
  }
  *poc = msb + lsb;
  if (slice[0] & 0x60) {   /* nal_ref_idc: a reference picture is the next one's base */
    st->poc_msb = msb;
    st->poc_lsb = lsb;
  }
  return TRUE;
}

/* Frames are presented in picture order count order within the pictures
 * between two IDRs.  A frame's place is known once max_num_reorder_frames
 * frames have followed it in decode order (C.4.5.3, "bumping"): with R of
 * them, the frames not placed yet are at most R, and the one of lowest
 * count is placed next.  Its composition offset is (place - decode number
 * + R) frames, so offsets are never negative, and the edit list starts the
 * track at R frames. */
static gboolean
place_frames (Salvage *st, guint keep)
{
  while (st->unplaced->len > keep) {
    guint best = 0;
    for (guint i = 1; i < st->unplaced->len; i++)
      if (g_array_index (st->unplaced, Unplaced, i).poc < g_array_index (st->unplaced, Unplaced, best).poc)
        best = i;
    Unplaced u = g_array_index (st->unplaced, Unplaced, best);
    g_array_remove_index (st->unplaced, best);
    if (st->period_placed && u.poc <= st->last_placed_poc) {
      st->why = "a frame is reordered further than max_num_reorder_frames says";
      return FALSE;
    }
    st->period_placed = TRUE;
    st->last_placed_poc = u.poc;
    gint64 offset = ((gint64) st->placed - (gint64) u.number + st->reorder) * st->frame_ticks;
    st->placed++;
    for (guint i = 0; i < st->pending->len; i++) {
      Pending *p = &g_array_index (st->pending, Pending, i);
      if (p->track == st->video && !p->ready && p->number == u.number) {
        p->info.composition_offset = (gint32) CLAMP (offset, 0, G_MAXINT32);
        p->ready = TRUE;
        break;
      }
    }
  }
  return TRUE;
}

/* The access unit in progress, which ends at end, is shown. */
static gboolean
show_access_unit (Salvage *st, Recording *rec, guint64 end)
{
  gboolean key = ts_video_access_unit (&st->vconfig, st->au_bytes->data, st->au_nals);
  if (!st->au_has_slice)
    return TRUE;   /* nothing to show (a stream's end of sequence) */
  if (!st->video && !st->walkable) {
    if (!key || !st->vconfig.sps || !st->vconfig.pps) {
      st->dropped++;   /* nothing decodes before the first key frame with its parameter sets */
      return TRUE;
    }
    if (!video_timing (st))
      return FALSE;
    st->walkable = TRUE;
    if (rec) {
      ByteWriter w;
      byte_writer_init (&w);
      byte_writer_u32 (&w, 1);
      if (!ts_video_write_entry (&st->vconfig, &w)) {
        byte_writer_clear (&w);
        st->why = "no sample entry can be built from the SPS and PPS";
        return FALSE;
      }
      st->video = add_track (rec, FOURCC ('v', 'i', 'd', 'e'), st->video_timescale, &w, st->vconfig.width,
                             st->vconfig.height);
      if (!st->video)
        return FALSE;
      recording_begin_append (rec);
      st->video->edit_base = -(gint64) st->reorder * st->frame_ticks;   /* place_frames */
      recording_end_append (rec);
      recording_note (rec, "no moov: recovered from the mdat; video at %u/%u frames per second (SPS timing_info), "
                      "audio timed by its frame lengths, both tracks taken to start together",
                      st->video_timescale, st->frame_ticks);
      if (st->dropped)
        recording_note (rec, "%" G_GUINT64_FORMAT " video frames before the first key frame are left out",
                        st->dropped);
    }
  }
  gint64 poc;
  gboolean idr;
  if (!frame_poc (st, &poc, &idr))
    return FALSE;
  if (idr) {
    if (!place_frames (st, 0))   /* the pictures before an IDR are all shown before it */
      return FALSE;
    st->period_placed = FALSE;
  }
  Unplaced u = { .poc = poc, .number = st->frames++ };
  if (st->video && end - st->au_start <= G_MAXUINT32) {
    queue (st, st->video, st->au_start, end - st->au_start, st->frame_ticks, key);
    g_array_index (st->pending, Pending, st->pending->len - 1).number = u.number;
    g_array_index (st->pending, Pending, st->pending->len - 1).ready = FALSE;
  }
  g_array_append_val (st->unplaced, u);
  return place_frames (st, st->reorder);
}

/* The access unit in progress ends at end. */
static gboolean
end_access_unit (Salvage *st, Recording *rec, guint64 end)
{
  if (!st->in_au)
    return TRUE;
  st->in_au = FALSE;
  gboolean ok = show_access_unit (st, rec, end);
  g_byte_array_set_size (st->au_bytes, 0);
  g_array_set_size (st->au_nals, 0);
  return ok;
}

/* Adds the NAL unit of size bytes at st->pos (head: its first bytes) to the
 * access unit in progress, ending that one first if it begins another. */
static gboolean
take_nal (Salvage *st, const Source *src, Recording *rec, guint64 size, const guint8 *head, gsize head_len)
{
  guint8 hdr[2] = { head[4], head_len > 5 && size > 5 ? head[5] : 0 };
  gboolean is_slice;
  if (ts_nal_starts_au (TS_VIDEO_H264, hdr, sizeof hdr, st->au_has_slice, &is_slice) == 1 &&
      !end_access_unit (st, rec, st->pos))
    return FALSE;
  if (!st->in_au) {
    st->in_au = TRUE;
    st->au_has_slice = FALSE;
    st->au_start = st->pos;
  }
  st->au_has_slice |= is_slice;
  guint type = hdr[0] & 0x1f;
  gsize len = (gsize) size - 4;
  TsNal nal = { .start = st->au_bytes->len, .len = 2 };
  if ((type == 6 || type == 7 || type == 8) && len <= MAX_KEPT_NAL) {
    gsize got;
    const guint8 *p = peek (st, src, st->pos + 4, len, &got);
    if (!p || got < len) {
      st->why = "cannot read the mdat";
      return FALSE;
    }
    g_byte_array_append (st->au_bytes, p, (guint) len);
    nal.len = len;
  } else {
    gsize keep = (gsize) MIN ((guint64) len, SLICE_HEAD), got;
    const guint8 *p = keep > 2 ? peek (st, src, st->pos + 4, keep, &got) : NULL;
    if (p && got == keep) {
      g_byte_array_append (st->au_bytes, p, (guint) keep);
      nal.len = keep;
    } else {
      g_byte_array_append (st->au_bytes, hdr, 2);
    }
  }
  g_array_append_val (st->au_nals, nal);
  return TRUE;
}

/* Walks units from st->pos until the bytes run out, the mdat ends, the walk
 * meets something it cannot read (FALSE, st->why) or passes limit. */
static gboolean
walk (Salvage *st, const Source *src, Recording *rec, guint64 limit)
{
  while (st->pos < limit && !(rec == NULL && st->walkable && st->frames > PROBE_FRAMES)) {
    guint64 size = 0;
    const guint8 *head = NULL;
    gsize head_len = 0;
    switch (read_unit (st, src, &size, &head, &head_len)) {
    case UNIT_NEED_MORE:
      return TRUE;
    case UNIT_END:
      return end_access_unit (st, rec, st->pos) && place_frames (st, 0);
    case UNIT_BAD:
      st->why_at = st->pos;
      return FALSE;
    case UNIT_NAL:
      if (!take_nal (st, src, rec, size, head, head_len)) {
        st->why_at = st->pos;
        return FALSE;
      }
      break;
    case UNIT_AUDIO:
      if (!end_access_unit (st, rec, st->pos)) {
        st->why_at = st->pos;
        return FALSE;
      }
      if (rec && !st->audio) {
        ByteWriter w;
        byte_writer_init (&w);
        byte_writer_u32 (&w, 1);
        gboolean ok;
        if (st->audio_codec == TS_AUDIO_MPEG) {
          MpegAudioInfo info;
          ok = codecs_mpeg_audio_parse (head, head_len, &info) &&
               codecs_write_mp4a_mpeg_audio (&w, (guint16) (rec->tracks->len + 1), &info);
        } else {
          Ac3Info info;
          ok = codecs_ac3_parse (head, head_len, &info) && codecs_write_ac3 (&w, &info);
        }
        if (!ok) {
          byte_writer_clear (&w);
          st->why = "no sample entry can be built from the first audio frame";
          st->why_at = st->pos;
          return FALSE;
        }
        st->audio = add_track (rec, FOURCC ('s', 'o', 'u', 'n'), st->sample_rate, &w, 0, 0);
        if (!st->audio)
          return FALSE;
      }
      if (st->audio)
        queue (st, st->audio, st->pos, size, st->frame_samples, TRUE);
      if (st->pending->len > MAX_PENDING && !place_frames (st, 0)) {
        st->why_at = st->pos;
        return FALSE;
      }
      break;
    }
    st->pos += size;
  }
  return TRUE;
}

/* Appends the samples queued, in source order, up to the first video frame
 * whose presentation place is not known yet. */
static void
flush (Salvage *st, Recording *rec)
{
  guint n = 0;
  while (n < st->pending->len && g_array_index (st->pending, Pending, n).ready)
    n++;
  if (!n)
    return;
  recording_begin_append (rec);
  for (guint i = 0; i < n; i++) {
    Pending *p = &g_array_index (st->pending, Pending, i);
    if (!recording_append_sample (rec, p->track, p->offset, &p->info))
      break;
  }
  recording_end_append (rec);
  g_array_remove_range (st->pending, 0, n);
}

/* The probe's walk: a key frame with acceptable parameter sets within the
 * first MP4_SALVAGE_PROBE_BYTES of the mdat, every unit before it readable.
 * Returns st for the caller to free; *found whether an mdat was found. */
static Salvage *
probe_walk (const Source *src, gboolean *found, gboolean *not_mp4)
{
  Salvage *st = salvage_new ();
  gboolean after;
  const char *why;
  *found = locate (src, &st->payload, &st->mdat_end, &after, &why);
  *not_mp4 = !*found && why && (strcmp (why, "no ftyp") == 0 || strstr (why, "damaged"));
  if (!*found || after)
    return st;
  st->pos = st->payload;
  guint64 limit = st->payload + MIN (MP4_SALVAGE_PROBE_BYTES, G_MAXUINT64 - st->payload);
  if (!walk (st, src, NULL, limit))
    st->walkable = FALSE;
  *found = !after;
  return st;
}

static ProbeResult
salvage_probe (const Source *src)
{
  gboolean found, not_mp4;
  Salvage *st = probe_walk (src, &found, &not_mp4);
  gboolean yes = found && st->walkable;
  salvage_free (st);
  /* A file that cannot be walked now may still get its moov (mp4.c). */
  return yes ? PROBE_YES : not_mp4 ? PROBE_NO : PROBE_NEED_MORE;
}

char *
mp4_salvage_why_not (const Source *src)
{
  gboolean found, not_mp4;
  Salvage *st = probe_walk (src, &found, &not_mp4);
  char *why = NULL;
  if (found && !st->walkable) {
    if (st->why)
      why = g_strdup_printf ("no moov, and the mdat cannot be walked: %s (at byte %" G_GUINT64_FORMAT ")", st->why,
                             st->why_at);
    else if (st->pos >= st->payload + MP4_SALVAGE_PROBE_BYTES)
      why = g_strdup_printf ("no moov, and no H.264 key frame with its SPS and PPS in the first %u MiB of the mdat",
                             MP4_SALVAGE_PROBE_BYTES >> 20);
    else
      why = g_strdup ("no moov yet, and no H.264 key frame with its SPS and PPS in the mdat yet");
  }
  salvage_free (st);
  return why;
}

static gboolean
salvage_feed (gpointer data, Recording *rec, const Source *src)
{
  Salvage *st = data;
  guint64 payload, end;
  gboolean after;
  const char *why;
  if (!locate (src, &payload, &end, &after, &why)) {
    if (why)
      recording_fail (rec, "%s", why);
    return why == NULL;
  }
  if (st->payload == 0)
    st->pos = st->payload = payload;
  else if (payload != st->payload) {
    recording_fail (rec, "the mdat moved from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, st->payload, payload);
    return FALSE;
  }
  st->mdat_end = end;
  gboolean ok = walk (st, src, rec, G_MAXUINT64);
  flush (st, rec);
  if (!ok) {
    if (!rec->failed)
      recording_fail (rec, "at byte %" G_GUINT64_FORMAT " of the mdat: %s", st->why_at, st->why);
    return FALSE;
  }
  if (after)
    recording_finalise (rec);   /* the recorder finished: mp4.c reads its moov (recording_successor) */
  return TRUE;
}

/* The writer is done: the access unit in progress is made of whole NAL
 * units up to where the file ends, and it has a slice.  (A picture of
 * several slices cut between them would be shown with some missing: the
 * recorders here write one slice per picture.) */
static gboolean
salvage_finish (gpointer data, Recording *rec, const Source *src)
{
  Salvage *st = data;
  (void) src;
  if ((!st->unplaced->len && !(st->in_au && st->au_has_slice)) || rec->failed)
    return FALSE;
  guint64 before = rec->total_samples;
  gboolean ok = (!st->in_au || !st->au_has_slice || end_access_unit (st, rec, st->pos)) && place_frames (st, 0);
  flush (st, rec);
  gboolean made = rec->total_samples > before;
  if (!ok)
    recording_fail (rec, "at byte %" G_GUINT64_FORMAT " of the mdat: %s", st->pos, st->why);
  return made;
}

const IndexerClass mp4_salvage_indexer = {
  .name = "mp4-salvage",
  .probe = salvage_probe,
  .state_new = salvage_new,
  .state_free = salvage_free,
  .feed = salvage_feed,
  .finish = salvage_finish,
};

/* mkv_blocks.c — Matroska blocks: reads a SimpleBlock's or BlockGroup's
 * header and lacing (of a frame's payload, only the few bytes that give an
 * audio frame's duration) and queues each frame with its presentation time. */
#include "mkv_private.h"

#include <errno.h>
#include <string.h>

#define BLOCK_PREFIX 256          /* block bytes read at first: header, lacing, codec peeks */
/* Presentation times beyond this (in track ticks: 3000 years at 90 kHz) are
 * refused, so that no sum or difference of times can overflow. */
#define MAX_TICKS (G_GINT64_CONSTANT (1) << 53)

/* Copies n bytes at file offset `at` from the block buffer when they are in
 * it, else from the source. */
static gsize
peek (const Source *src, const guint8 *buf, gsize buf_len, guint64 buf_offset, guint64 at, guint8 *out, gsize n)
{
  if (at >= buf_offset && at - buf_offset + n <= buf_len) {
    memcpy (out, buf + (at - buf_offset), n);
    return n;
  }
  return source_read (src, at, out, n) ? n : 0;
}

gboolean
mkv_handle_block (MkvState *st, Recording *rec, const Source *src, guint64 body, guint64 size,
                  gboolean simple, gboolean referenced, gint64 duration_ticks_raw, gint64 discard_ns)
{
  guint8 prefix[BLOCK_PREFIX];
  gsize prefix_len = (gsize) MIN (size, sizeof prefix);
  g_autofree guint8 *whole = NULL;
  const guint8 *buf = prefix;
  gsize buf_len = prefix_len;
  ByteReader r;
  guint64 number;
  guint index;

  if (!source_read (src, body, prefix, prefix_len)) {
    recording_fail (rec, "cannot read block at %" G_GUINT64_FORMAT ": %s", body, g_strerror (errno));
    return FALSE;
  }
  byte_reader_init (&r, prefix, prefix_len);
  if (matroska_block_track (r, &number) != EBML_OK) {
    recording_fail (rec, "malformed block at %" G_GUINT64_FORMAT, body);
    return FALSE;
  }
  MkvTrack *t = mkv_find_track (st, number, &index);
  if (!t || t->left_out)
    return TRUE;

  MatroskaBlock block;
  EbmlStatus s = matroska_block_parse (r, size, &block);
  if (s == EBML_NEED_MORE) {
    /* A long lacing header: read the whole block once. */
    whole = source_read_alloc (src, body, size, RECORDING_MAX_HEADER_BOX);
    if (!whole) {
      recording_fail (rec, "cannot read block at %" G_GUINT64_FORMAT ": %s", body, g_strerror (errno));
      return FALSE;
    }
    buf = whole;
    buf_len = size;
    byte_reader_init (&r, whole, size);
    s = matroska_block_parse (r, size, &block);
  }
  if (s != EBML_OK) {
    recording_fail (rec, "malformed block at %" G_GUINT64_FORMAT, body);
    return FALSE;
  }

  guint64 offset = body + block.header_len;
  if (!t->configured) {
    guint8 first[64];
    gsize n = peek (src, buf, buf_len, body, offset, first, MIN (block.frame_sizes[0], sizeof first));
    mkv_track_configure (st, rec, t, first, n);
    if (!t->configured)
      return TRUE;
  }

  /* Matroska ticks to the track's timescale; laced frames follow each other. */
  gint64 ticks = st->cluster_timestamp + block.timestamp;
  if (ticks > G_MAXINT64 / (gint64) st->timestamp_scale || ticks < G_MININT64 / (gint64) st->timestamp_scale) {
    recording_fail (rec, "block timestamp at %" G_GUINT64_FORMAT " out of range", body);
    return FALSE;
  }
  gint64 pts = mkv_ns_to_ticks (ticks * (gint64) st->timestamp_scale, t->timescale) - t->codec_delay;
  if (pts > MAX_TICKS || pts < -MAX_TICKS) {
    recording_fail (rec, "block timestamp at %" G_GUINT64_FORMAT " out of range", body);
    return FALSE;
  }
  gint64 block_duration = duration_ticks_raw >= 0 && duration_ticks_raw <= G_MAXINT64 / (gint64) st->timestamp_scale
                          ? mkv_ns_to_ticks (duration_ticks_raw * (gint64) st->timestamp_scale, t->timescale) : -1;
  block_duration = MIN (block_duration, (gint64) G_MAXUINT32);
  gboolean sync = simple ? (block.flags & MATROSKA_BLOCK_KEYFRAME) != 0 : !referenced;
  if (t->type == TRACK_TYPE_AUDIO)
    sync = TRUE;

  for (guint i = 0; i < block.n_frames; i++) {
    Frame f = {
      .offset = offset,
      .size = block.frame_sizes[i],
      .pts = pts,
      .block_duration = block.n_frames == 1 ? block_duration : -1,
      .codec_duration = t->frame_samples,
      .sync = sync,
    };
    guint8 head[16];
    gsize n;
    if (t->codec == CODEC_OPUS && (n = peek (src, buf, buf_len, body, offset, head, MIN (f.size, 2))) > 0)
      f.codec_duration = codecs_opus_packet_samples (head, n);
    else if (t->codec == CODEC_FLAC && (n = peek (src, buf, buf_len, body, offset, head, MIN (f.size, 16))) > 0)
      f.codec_duration = codecs_flac_frame_samples (head, n);
    if (i + 1 == block.n_frames && discard_ns > 0 && f.codec_duration) {
      /* DiscardPadding: the end of the last frame is not played (Opus end
       * trimming); a shorter duration ends the track's edit there. */
      gint64 cut = mkv_ns_to_ticks (discard_ns, t->timescale);
      f.codec_duration = cut < f.codec_duration ? (guint32) (f.codec_duration - cut) : 1;
    }
    if (f.size > 0)
      mkv_queue_frame (st, rec, t, index, &f);
    if (rec->failed)
      return FALSE;
    offset += f.size;
    gint64 step = f.codec_duration ? f.codec_duration : t->default_duration > 0 ? t->default_duration
                  : block_duration > 0 ? block_duration / block.n_frames : 0;
    pts += step;
  }
  return TRUE;
}

gboolean
mkv_handle_block_group (MkvState *st, Recording *rec, const Source *src, guint64 body, guint64 size)
{
  guint64 p = body, end = body + size, block = 0, block_size = 0, duration = 0;
  gint64 discard = 0;
  gboolean has_block = FALSE, referenced = FALSE, has_duration = FALSE;
  while (p < end) {
    EbmlHeader h;
    if (mkv_read_header_at (src, p, end, &h) != EBML_OK || h.size == EBML_UNKNOWN_SIZE ||
        h.size > end - p - h.header_len) {
      recording_fail (rec, "malformed BlockGroup at %" G_GUINT64_FORMAT, body);
      return FALSE;
    }
    guint64 child = p + h.header_len;
    if (h.id == ID_BLOCK && !has_block) {
      has_block = TRUE;
      block = child;
      block_size = h.size;
    } else if (h.id == ID_BLOCK_DURATION) {
      has_duration = mkv_read_uint_at (src, child, h.size, &duration);
    } else if (h.id == ID_REFERENCE_BLOCK) {
      referenced = TRUE;
    } else if (h.id == ID_DISCARD_PADDING && !mkv_read_sint_at (src, child, h.size, &discard)) {
      discard = 0;
    }
    p = child + h.size;
  }
  if (!has_block)
    return TRUE;
  return mkv_handle_block (st, rec, src, block, block_size, FALSE, referenced,
                           has_duration && duration <= G_MAXINT64 ? (gint64) duration : -1, discard);
}

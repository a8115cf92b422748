/* mp4.c — plain MP4/MOV indexer: the top-level walk to the moov, by box
 * header only; the moov's tracks and samples, appended in source order.
 *
 * Samples are appended in source offset order across tracks, which is the
 * order recording_append_sample() needs and the payload keeps.  Within a
 * track that order must be decode order too: a track whose samples are not
 * stored in decode order (an edited file that reuses or reorders chunks),
 * and samples that overlap, fail the recording with the reason.  Recorders
 * never write either.
 */
#include "mp4.h"

#include <string.h>

#include <errno.h>

#include "mp4_private.h"
#include "mp4_robust.h"
#include "stbl.h"
#include "trak.h"

static void
queue_clear (Mp4Queue *q)
{
  g_clear_pointer (&q->samples, g_array_unref);
}

static gpointer
mp4_state_new (void)
{
  Mp4State *st = g_new0 (Mp4State, 1);
  st->queues = g_array_new (FALSE, TRUE, sizeof (Mp4Queue));
  g_array_set_clear_func (st->queues, (GDestroyNotify) queue_clear);
  return st;
}

static void
mp4_state_free (gpointer data)
{
  Mp4State *st = data;
  g_array_unref (st->queues);
  g_clear_pointer (&st->moov_bytes, g_bytes_unref);
  g_free (st);
}

static gboolean
fourcc_printable (guint32 type)
{
  for (int i = 0; i < 4; i++) {
    guint8 c = type >> (24 - 8 * i);
    if (c < 0x20 || c > 0x7e)
      return FALSE;
  }
  return TRUE;
}

/* Reads the box header at pos; WALK_NEED_MORE if it is not on disk whole. */
static WalkResult
read_header (const Source *src, guint64 pos, BoxHeader *h, const char **why)
{
  guint8 buf[16];
  if (pos > src->size || src->size - pos < 8)
    return WALK_NEED_MORE;
  gsize avail = (gsize) MIN (src->size - pos, sizeof buf);
  if (!source_read (src, pos, buf, avail)) {
    *why = "cannot read a box header";
    return WALK_NOT_MP4;
  }
  guint32 size32 = (guint32) buf[0] << 24 | (guint32) buf[1] << 16 | (guint32) buf[2] << 8 | buf[3];
  h->type = (guint32) buf[4] << 24 | (guint32) buf[5] << 16 | (guint32) buf[6] << 8 | buf[7];
  if (!fourcc_printable (h->type)) {
    *why = "damaged box header";
    return WALK_NOT_MP4;
  }
  if (size32 == 1 && avail < 16)
    return WALK_NEED_MORE;
  if (size32 == 0) {
    h->size = 0;       /* to the end of the file */
    h->header_size = 8;
    return WALK_MOOV;
  }
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  if (!box_header_read (&r, h) || h->size > G_MAXUINT64 - pos) {
    *why = "damaged box header";
    return WALK_NOT_MP4;
  }
  return WALK_MOOV;
}

WalkResult
mp4_read_box_header (const Source *src, guint64 pos, BoxHeader *h, const char **why)
{
  return read_header (src, pos, h, why);
}

WalkResult
mp4_walk_to_moov (const Source *src, guint64 *pos, guint *boxes, BoxHeader *moov, const char **why)
{
  for (;;) {
    BoxHeader h;
    WalkResult r = read_header (src, *pos, &h, why);
    if (r != WALK_MOOV)
      return r;
    if (*pos == 0 && h.type != FOURCC ('f', 't', 'y', 'p') && h.type != FOURCC ('s', 't', 'y', 'p')) {
      *why = "no ftyp";
      return WALK_NOT_MP4;
    }
    if (h.type == FOURCC ('m', 'o', 'o', 'f')) {
      *why = "a moof: fragmented";
      return WALK_NOT_MP4;
    }
    if (h.size == 0) {
      /* A box to the end of the file: an mdat or moov whose size a
       * recorder has not written yet (FFmpeg patches both at the end), or
       * that a crash left so.  No moov can follow an mdat of size 0. */
      if (h.type != FOURCC ('m', 'd', 'a', 't') && h.type != FOURCC ('m', 'o', 'o', 'v')) {
        *why = "a box before the moov has no size";
        return WALK_NOT_MP4;
      }
      return WALK_NEED_MORE;
    }
    if (h.type == FOURCC ('m', 'o', 'o', 'v')) {
      if (h.size > RECORDING_MAX_HEADER_BOX) {
        *why = "the moov is too large";
        return WALK_NOT_MP4;
      }
      if (h.size > src->size - *pos)
        return WALK_NEED_MORE;
      *moov = h;
      return WALK_MOOV;
    }
    if (++*boxes > MP4_MAX_TOP_BOXES) {
      *why = "too many boxes before the moov";
      return WALK_NOT_MP4;
    }
    *pos += h.size;   /* read_header checked that this does not overflow */
  }
}

/* The type of every direct child of the box whose body is [start, end), by
 * header: TRUE if one of them is `type`.  Bounded like the top-level walk. */
static gboolean
has_child (const Source *src, guint64 start, guint64 end, guint32 type)
{
  guint64 pos = start;
  for (guint n = 0; pos < end && end - pos >= 8 && n < MP4_MAX_TOP_BOXES; n++) {
    BoxHeader h;
    const char *why;
    Source bounded = { .fd = src->fd, .data = src->data, .size = end };
    if (read_header (&bounded, pos, &h, &why) != WALK_MOOV || h.size == 0 || h.size > end - pos)
      return FALSE;
    if (h.type == type)
      return TRUE;
    pos += h.size;
  }
  return FALSE;
}

/* TRUE if the ftyp's major brand is QuickTime's. */
static gboolean
is_quicktime (const Source *src)
{
  guint8 b[12];
  return source_read (src, 0, b, sizeof b) && memcmp (b + 4, "ftyp", 4) == 0 && memcmp (b + 8, "qt  ", 4) == 0;
}

/* TRUE if the top-level boxes from pos on are all sized and end exactly at
 * the end of the file. */
static gboolean
complete_after (const Source *src, guint64 pos)
{
  for (guint n = 0; pos < src->size && n < MP4_MAX_TOP_BOXES; n++) {
    BoxHeader h;
    const char *why;
    if (read_header (src, pos, &h, &why) != WALK_MOOV || h.size == 0 || h.size > src->size - pos)
      return FALSE;
    pos += h.size;
  }
  return pos == src->size;
}

/* TRUE if a top-level mdat lies before end (the moov's position). */
static gboolean
mdat_before (const Source *src, guint64 end)
{
  guint64 pos = 0;
  for (guint n = 0; pos < end && n < MP4_MAX_TOP_BOXES; n++) {
    BoxHeader h;
    const char *why;
    if (read_header (src, pos, &h, &why) != WALK_MOOV || h.size == 0)
      return FALSE;
    if (h.type == FOURCC ('m', 'd', 'a', 't'))
      return TRUE;
    pos += h.size;
  }
  return FALSE;
}

static ProbeResult
mp4_probe (const Source *src)
{
  guint64 pos = 0;
  guint boxes = 0;
  BoxHeader moov;
  const char *why;
  switch (mp4_walk_to_moov (src, &pos, &boxes, &moov, &why)) {
  case WALK_NOT_MP4:
    return PROBE_NO;
  case WALK_NEED_MORE:
    /* A recording whose moov is not written yet; looked at again when it
     * changes (a PROBE_NO is remembered for as long as the file lives). */
    return PROBE_NEED_MORE;
  case WALK_MOOV:
    break;
  }
  /* A moov with mvex is a fragmented recording (fmp4.c). */
  if (has_child (src, pos + moov.header_size, pos + moov.size, FOURCC ('m', 'v', 'e', 'x')))
    return PROBE_NO;
  /* A finished ISO file that is fast-start already (its moov before every
   * mdat, every box sized, the last ending at the end of the file) is
   * mirrored as it is: it keeps its own bytes, so its checksum and a backup
   * of it are the original's, and a livemp4fs mount of another's virtual
   * files shows them unchanged.  A QuickTime file is still shown as an MP4,
   * and a fast-start file whose mdat is still being written is indexed. */
  return mdat_before (src, pos) || is_quicktime (src) || !complete_after (src, pos) ? PROBE_YES : PROBE_NO;
}

/* The queue whose next sample comes first in the source (ties, samples of
 * no bytes: the first track), or NULL when every queue is done.  Tracks are
 * few (RECORDING_MAX_TRACKS): a scan is cheaper than a heap. */
static Mp4Queue *
next_queue (GArray *queues)
{
  Mp4Queue *best = NULL;
  guint64 best_offset = 0;
  for (guint i = 0; i < queues->len; i++) {
    Mp4Queue *q = &g_array_index (queues, Mp4Queue, i);
    if (q->next == q->samples->len)
      continue;
    guint64 offset = g_array_index (q->samples, StblSample, q->next).source_offset;
    if (!best || offset < best_offset) {
      best = q;
      best_offset = offset;
    }
  }
  return best;
}

/* An edit list that ends inside the last sample shows only part of it
 * (GStreamer cuts the encoder's padding off the last AAC frame so): that
 * sample lasts until the edit ends, as FFmpeg's remux writes it.  Only for
 * tracks presented in decode order (no composition offsets). */
void
mp4_trim_last_sample (GArray *samples, guint64 edit_end)
{
  StblSample *s = (StblSample *) samples->data;
  guint n = samples->len;
  if (n == 0 || edit_end == G_MAXUINT64)
    return;
  guint64 start = 0;
  for (guint i = 0; i < n; i++) {
    if (s[i].info.composition_offset != 0)
      return;
    if (i + 1 < n)
      start += s[i].info.duration;
  }
  guint32 last = s[n - 1].info.duration;
  if (edit_end > start && edit_end - start < last)
    s[n - 1].info.duration = (guint32) (edit_end - start);
}

/* Reads one trak: its track is added and its samples queued.  FALSE when the
 * recording failed; a track that cannot be shown is left out with a note. */
static gboolean
parse_trak (Mp4State *st, Recording *rec, ByteReader trak, guint32 movie_timescale, guint32 *budget)
{
  TrakBoxes boxes;
  Track desc;
  if (!trak_find_boxes (trak, &boxes)) {
    recording_note (rec, "a track without tkhd, mdhd, hdlr or stsd is left out");
    return TRUE;
  }
  guint64 edit_end;
  if (!trak_describe (trak, &boxes, movie_timescale, rec, &desc, &edit_end))
    return TRUE;
  for (guint i = 0; i < rec->tracks->len; i++)
    if (((Track *) g_ptr_array_index (rec->tracks, i))->id == desc.id) {
      recording_note (rec, "a second track with ID %u is left out", desc.id);
      return TRUE;
    }

  g_autoptr (GArray) samples = g_array_new (FALSE, FALSE, sizeof (StblSample));
  const char *why = NULL;
  if (!stbl_read_samples (boxes.stbl, *budget, samples, &why)) {
    recording_fail (rec, "track %u's sample table: %s", desc.id, why);
    return FALSE;
  }
  *budget -= samples->len;
  const StblSample *s = (const StblSample *) samples->data;
  for (guint32 i = 1; i < samples->len; i++)
    if (s[i].source_offset < s[i - 1].source_offset + s[i - 1].info.size) {
      recording_fail (rec, "track %u: sample %u lies before the end of sample %u in the file "
                      "(samples not stored in decode order are not supported)", desc.id, i + 1, i);
      return FALSE;
    }

  mp4_trim_last_sample (samples, edit_end);

  ByteReader stsd = boxes.stsd;
  const guint8 *entries;
  byte_reader_skip (&stsd, 4);
  gsize len = byte_reader_remaining (&stsd);
  byte_reader_bytes (&stsd, len, &entries);
  Track *t = trak_add_track (rec, &desc, &boxes, g_bytes_new (entries, len));
  if (!t)
    return FALSE;
  Mp4Queue q = { .track = t, .samples = g_steal_pointer (&samples) };
  g_array_append_val (st->queues, q);
  return TRUE;
}

/* Keeps the moov's udta and meta boxes (whole) for the writer.  A size of 0
 * ("to the end of the moov") is written out: in the synthesised moov the box
 * is followed by others. */
static void
keep_user_data (Recording *rec, GByteArray *user_data, const guint8 *box, guint64 size)
{
  if (user_data->len + size > MP4_MAX_USER_DATA) {
    recording_note (rec, "user data beyond %u MiB is left out", MP4_MAX_USER_DATA >> 20);
    return;
  }
  guint at = user_data->len;
  g_byte_array_append (user_data, box, (guint) size);
  if (box[0] == 0 && box[1] == 0 && box[2] == 0 && box[3] == 0) {
    guint8 *p = user_data->data + at;
    p[0] = (guint8) (size >> 24);   /* below RECORDING_MAX_HEADER_BOX */
    p[1] = (guint8) (size >> 16);
    p[2] = (guint8) (size >> 8);
    p[3] = (guint8) size;
  }
}

static gboolean
parse_moov (Mp4State *st, Recording *rec, ByteReader moov, guint64 moov_end)
{
  ByteReader b;
  BoxHeader h;
  guint32 movie_timescale;

  if (box_find_child (moov, FOURCC ('c', 'm', 'o', 'v'), &b)) {
    recording_fail (rec, "compressed moov (cmov) is not supported");
    return FALSE;
  }
  if (box_find_child (moov, FOURCC ('m', 'v', 'e', 'x'), &b)) {
    recording_fail (rec, "moov has mvex: a fragmented recording");
    return FALSE;
  }
  if (!trak_movie_timescale (moov, &movie_timescale))
    recording_note (rec, "moov has no usable mvhd; edit lists are ignored");
  /* Samples the moov may list: what its bytes can describe, or the file
   * before it holds (constant-size tables of small audio samples). */
  guint64 allowed = 16 * (guint64) moov.len + moov_end + 4096;
  guint32 budget = (guint32) MIN (allowed, (guint64) RECORDING_MAX_SAMPLES);

  /* The user data first: a snapshot that has a track has it too (moov.c
   * writes it for snapshots with tracks), so a snapshot's bytes never
   * change. */
  g_autoptr (GByteArray) user_data = g_byte_array_new ();
  ByteReader r = moov;
  while (byte_reader_remaining (&r) > 0) {
    gsize start = r.pos;
    if (!byte_reader_box (&r, &h, &b)) {
      recording_fail (rec, "malformed box inside moov");
      return FALSE;
    }
    if (h.type == FOURCC ('u', 'd', 't', 'a') || h.type == FOURCC ('m', 'e', 't', 'a'))
      keep_user_data (rec, user_data, moov.data + start, h.size);
  }
  if (user_data->len) {
    recording_begin_append (rec);
    rec->user_data = g_byte_array_free_to_bytes (g_steal_pointer (&user_data));
    recording_end_append (rec);
  }
  r = moov;
  while (byte_reader_remaining (&r) > 0) {
    byte_reader_box (&r, &h, &b);   /* all checked above */
    if (h.type == FOURCC ('t', 'r', 'a', 'k') && !parse_trak (st, rec, b, movie_timescale, &budget))
      return FALSE;
  }
  if (rec->tracks->len == 0) {
    recording_fail (rec, "no track can be shown");
    return FALSE;
  }

  /* Samples of two tracks must not overlap either: checked in a dry run of
   * the merge, before anything is appended. */
  const StblSample *previous = NULL;
  Mp4Queue *q, *previous_queue = NULL;
  while ((q = next_queue (st->queues))) {
    const StblSample *s = &g_array_index (q->samples, StblSample, q->next++);
    if (previous && s->source_offset < previous->source_offset + previous->info.size) {
      recording_fail (rec, "samples of tracks %u and %u overlap at %" G_GUINT64_FORMAT, previous_queue->track->id,
                      q->track->id, s->source_offset);
      g_array_set_size (st->queues, 0);
      return FALSE;
    }
    previous = s;
    previous_queue = q;
  }
  for (guint i = 0; i < st->queues->len; i++)
    g_array_index (st->queues, Mp4Queue, i).next = 0;
  return TRUE;
}

/* Appends, in source order, the queued samples whose bytes are on disk.
 * Samples do not overlap, so their ends increase in source order: the first
 * one not on disk ends the run. */
static void
flush_queues (Mp4State *st, Recording *rec, const Source *src)
{
  Mp4Queue *q = next_queue (st->queues);
  if (!q)
    return;
  recording_begin_append (rec);
  for (; q; q = next_queue (st->queues)) {
    const StblSample *s = &g_array_index (q->samples, StblSample, q->next);
    if (s->source_offset > src->size || s->info.size > src->size - s->source_offset ||
        !recording_append_sample (rec, q->track, s->source_offset, &s->info))
      break;
    q->next++;
  }
  recording_end_append (rec);
  if (!q && !st->follow)
    g_array_set_size (st->queues, 0);   /* every sample is in: the tables go */
}

static gboolean
mp4_feed (gpointer data, Recording *rec, const Source *src)
{
  Mp4State *st = data;
  if (st->indexed) {
    if (st->follow) {
      if (!mp4_robust_follow (st, rec, src))
        return FALSE;
    } else if (st->queues->len == 0 && src->size > st->indexed_size) {
      /* Finished files do not change; hybrid and finalised recordings are
       * not followed (yet).  A fast-start pass (FFmpeg's +faststart) moves
       * the payload over the old moov as the file grows: the samples shown
       * are then stale, which is an error, not a note. */
      BoxHeader now;
      const char *why;
      if (read_header (src, st->pos, &now, &why) != WALK_MOOV || now.type != st->moov.type ||
          now.size != st->moov.size) {
        recording_fail (rec, "the moov at %" G_GUINT64_FORMAT " is gone: the file was rewritten in place "
                        "(a fast-start pass?) after it was indexed", st->pos);
        return FALSE;
      }
      if (!st->noted_growth)
        recording_note (rec, "the file grew after its moov was indexed; the bytes added are not shown");
      st->noted_growth = TRUE;
    }
  } else {
    BoxHeader h;
    const char *why = NULL;
    switch (mp4_walk_to_moov (src, &st->pos, &st->boxes, &h, &why)) {
    case WALK_NOT_MP4:
      recording_fail (rec, "%s at %" G_GUINT64_FORMAT, why, st->pos);
      return FALSE;
    case WALK_NEED_MORE:
      return TRUE;
    case WALK_MOOV:
      break;
    }
    guint64 body_len = h.size - h.header_size;
    g_autofree guint8 *body = NULL;
    /* A moov in front of an mdat still being written may be rewritten in
     * place as it grows (mp4_robust.h): read safely, then followed. */
    gboolean follow = !mdat_before (src, st->pos) && !complete_after (src, st->pos);
    if (!follow)
      body = source_read_alloc (src, st->pos + h.header_size, body_len, RECORDING_MAX_HEADER_BOX);
    else if (mp4_robust_read_moov (src, st->pos, &h, &body) == MP4_MOOV_CHANGING) {
      st->pos = 0;   /* walked again next time: the moov may move */
      st->boxes = 0;
      return TRUE;
    }
    if (!body) {
      recording_fail (rec, "cannot read the moov at %" G_GUINT64_FORMAT ": %s", st->pos, g_strerror (errno));
      return FALSE;
    }
    ByteReader moov;
    byte_reader_init (&moov, body, body_len);
    st->indexed = TRUE;
    st->moov = h;
    st->follow = follow;
    if (!parse_moov (st, rec, moov, st->pos + h.size))
      return FALSE;
    if (follow)
      mp4_robust_start (st, g_bytes_new_take (g_steal_pointer (&body), body_len));
  }
  flush_queues (st, rec, src);
  if (st->queues->len == 0 && st->indexed_size == 0)
    st->indexed_size = src->size;   /* every sample is in */
  return !rec->failed;
}

const IndexerClass mp4_indexer = {
  .name = "mp4",
  .probe = mp4_probe,
  .state_new = mp4_state_new,
  .state_free = mp4_state_free,
  .feed = mp4_feed,
  .rewrites_in_place = TRUE,
};

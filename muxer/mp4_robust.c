/* mp4_robust.c — following a moov rewritten in place in front of a growing
 * mdat (GStreamer's robust muxing): see mp4_robust.h.
 *
 * Per track, only the samples not appended yet are kept, with a hash of
 * every sample the last moov listed: the next moov must list the same ones
 * first (the last one's duration may change: qtmux writes a sample once the
 * next one's time is known, but an edit list may have cut the last one), and
 * its new samples must all lie after them in the file.
 */
#include "mp4_robust.h"

#include <errno.h>
#include <string.h>

#include "stbl.h"
#include "trak.h"

/* Reads of a moov that keeps changing before one is given up until the next
 * change of the file. */
#define READ_ATTEMPTS 3

Mp4MoovRead
mp4_robust_read_moov (const Source *src, guint64 pos, const BoxHeader *moov, guint8 **body)
{
  guint64 len = moov->size - moov->header_size;
  for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    g_autofree guint8 *first = source_read_alloc (src, pos + moov->header_size, len, RECORDING_MAX_HEADER_BOX);
    if (!first)
      return MP4_MOOV_FAILED;
    /* The writer resizes the free box in front of the slots last: a walk
     * after the read that lands on the same moov, whose bytes read again
     * are the same, saw no rewrite under way. */
    guint64 again = 0;
    guint boxes = 0;
    BoxHeader h;
    const char *why;
    if (mp4_walk_to_moov (src, &again, &boxes, &h, &why) != WALK_MOOV || again != pos || h.size != moov->size ||
        h.header_size != moov->header_size)
      return MP4_MOOV_CHANGING;
    g_autofree guint8 *second = source_read_alloc (src, pos + moov->header_size, len, RECORDING_MAX_HEADER_BOX);
    if (!second)
      return MP4_MOOV_FAILED;
    if (memcmp (first, second, len) == 0) {
      *body = g_steal_pointer (&first);
      return MP4_MOOV_READ;
    }
  }
  return MP4_MOOV_CHANGING;
}

/* FNV-1a over the fields of samples [0, n), the last one's duration left
 * out. */
static guint64
prefix_hash (const GArray *samples, guint32 n)
{
  guint64 h = 0xcbf29ce484222325ull;
  for (guint32 i = 0; i < n; i++) {
    const StblSample *s = &g_array_index (samples, StblSample, i);
    guint64 fields[5] = { s->source_offset, s->info.size, i + 1 < n ? s->info.duration : 0,
                          (guint32) s->info.composition_offset, (guint64) (s->info.sync != 0) << 32 |
                          s->info.description_index };
    const guint8 *b = (const guint8 *) fields;
    for (gsize k = 0; k < sizeof fields; k++) {
      h ^= b[k];
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

/* Marks in mask the bitrate fields of an esds at type (the offset of its
 * type field in d): the DecoderConfigDescriptor's bufferSizeDB, maxBitrate
 * and avgBitrate (ISO/IEC 14496-1 7.2.6.6). */
static void
mask_esds (const guint8 *d, gsize len, gsize type, guint8 *mask)
{
  ByteReader r;
  guint8 tag, flags, b;
  byte_reader_init (&r, d, len);
  if (!byte_reader_skip (&r, type + 4 + 4) || !byte_reader_u8 (&r, &tag) || tag != 0x03)
    return;
  for (int i = 0; i < 4 && byte_reader_u8 (&r, &b) && (b & 0x80); i++)
    ;
  if (!byte_reader_skip (&r, 2) || !byte_reader_u8 (&r, &flags) || !byte_reader_skip (&r, (flags & 0x80) ? 2 : 0))
    return;
  if (flags & 0x40) {
    guint8 url;
    if (!byte_reader_u8 (&r, &url) || !byte_reader_skip (&r, url))
      return;
  }
  if (!byte_reader_skip (&r, (flags & 0x20) ? 2 : 0) || !byte_reader_u8 (&r, &tag) || tag != 0x04)
    return;
  for (int i = 0; i < 4 && byte_reader_u8 (&r, &b) && (b & 0x80); i++)
    ;
  gsize at = r.pos + 2;   /* after objectTypeIndication and streamType */
  if (at <= len && len - at >= 11)
    memset (mask + at, 1, 11);
}

/* TRUE if the sample descriptions a and b differ at most in the bitrates
 * qtmux updates with each moov (esds, btrt): the track keeps a's. */
static gboolean
same_descriptions (const guint8 *a, gsize a_len, const guint8 *b, gsize b_len)
{
  if (a_len != b_len)
    return FALSE;
  if (memcmp (a, b, a_len) == 0)
    return TRUE;
  g_autofree guint8 *mask = g_malloc0 (a_len);
  for (gsize i = 4; i + 4 <= a_len; i++) {
    if (memcmp (a + i, "btrt", 4) == 0 && a_len - i >= 16)
      memset (mask + i + 4, 1, 12);
    else if (memcmp (a + i, "esds", 4) == 0)
      mask_esds (a, a_len, i, mask);
  }
  for (gsize i = 0; i < a_len; i++)
    if (a[i] != b[i] && !mask[i])
      return FALSE;
  return TRUE;
}

static guint64
samples_end (const GArray *samples)
{
  if (samples->len == 0)
    return 0;
  const StblSample *s = &g_array_index (samples, StblSample, samples->len - 1);
  return s->source_offset + s->info.size;   /* stbl.c checked the sum */
}

void
mp4_robust_start (Mp4State *st, GBytes *moov_body)
{
  g_clear_pointer (&st->moov_bytes, g_bytes_unref);
  st->moov_bytes = moov_body;
  st->listed_end = 0;
  ByteReader moov;
  byte_reader_init (&moov, g_bytes_get_data (moov_body, NULL), g_bytes_get_size (moov_body));
  trak_movie_timescale (moov, &st->movie_timescale);
  for (guint i = 0; i < st->queues->len; i++) {
    Mp4Queue *q = &g_array_index (st->queues, Mp4Queue, i);
    q->base = 0;
    q->listed = q->samples->len;
    q->prefix_hash = prefix_hash (q->samples, q->listed);
    st->listed_end = MAX (st->listed_end, samples_end (q->samples));
  }
}

static void
stop_following (Mp4State *st, Recording *rec, guint64 pos, const char *why)
{
  recording_note (rec, "the moov rewritten at %" G_GUINT64_FORMAT " %s: the recording is shown as of the "
                  "moov before, and not followed further", pos, why);
  st->follow = FALSE;
  st->indexed_size = G_MAXUINT64;   /* mp4.c notes no growth after this */
}

static gint
by_offset (gconstpointer a, gconstpointer b)
{
  guint64 x = ((const StblSample *) a)->source_offset, y = ((const StblSample *) b)->source_offset;
  return x < y ? -1 : x > y;
}

/* What a new moov changes of a track besides its samples, applied once
 * the whole moov is taken. */
typedef struct {
  gint64 edit_base;
  GBytes *descriptions;          /* new bitrates, or NULL */
} TrackChange;

/* The samples of the new moov's trak for queue q, or NULL with *why set. */
static GArray *
read_trak (const TrakBoxes *boxes, const Track *desc, guint64 edit_end, Mp4Queue *q, guint32 movie_timescale,
           guint32 *budget, TrackChange *change, const char **why)
{
  const Track *t = q->track;
  ByteReader stsd = boxes->stsd;
  const guint8 *entries;
  byte_reader_skip (&stsd, 4);
  gsize len = byte_reader_remaining (&stsd);
  byte_reader_bytes (&stsd, len, &entries);
  gsize old_len;
  const guint8 *old = g_bytes_get_data (t->sample_descriptions, &old_len);
  /* The track's start may move while nothing of it is shown (qtmux's first
   * moov may list a track before its first sample, with no edit yet), or
   * by the rounding of an empty edit to the movie timescale (qtmux's last
   * moov has another one). */
  guint64 tick = movie_timescale ? (t->timescale + movie_timescale - 1) / movie_timescale : 0;
  gint64 moved = desc->edit_base - t->edit_base;
  if (desc->timescale != t->timescale || desc->handler != t->handler ||
      (t->table.count > 0 && (guint64) ABS (moved) > tick) || !same_descriptions (old, old_len, entries, len)) {
    *why = "changes a track's description";
    return NULL;
  }
  change->edit_base = desc->edit_base;
  /* New bitrates: new snapshots show them, as an index of the file now
   * would (a snapshot's header has its own copy). */
  if (len != old_len || memcmp (entries, old, len) != 0)
    change->descriptions = g_bytes_new (entries, len);
  g_autoptr (GArray) samples = g_array_new (FALSE, FALSE, sizeof (StblSample));
  if (!stbl_read_samples (boxes->stbl, *budget, samples, why))
    return NULL;
  *budget -= samples->len;
  const StblSample *s = (const StblSample *) samples->data;
  for (guint32 i = 1; i < samples->len; i++)
    if (s[i].source_offset < s[i - 1].source_offset + s[i - 1].info.size) {
      *why = "lists samples out of decode order";
      return NULL;
    }
  mp4_trim_last_sample (samples, edit_end);
  if (samples->len < q->listed || prefix_hash (samples, q->listed) != q->prefix_hash) {
    *why = "changes samples listed before";
    return NULL;
  }
  return g_steal_pointer (&samples);
}

static void
free_samples (gpointer samples)
{
  if (samples)
    g_array_unref (samples);
}

/* Checks the new moov against the queues: TRUE if it only adds samples,
 * with each track's samples in news, its changes in changes, and where the
 * last sample listed ends in *end; FALSE with *why set if it does not. */
static gboolean
check_update (Mp4State *st, Recording *rec, ByteReader moov, guint64 moov_end, GPtrArray *news,
              TrackChange *changes, guint32 *movie_timescale_out, guint64 *end_out, const char **why)
{
  ByteReader b;
  BoxHeader h;
  if (box_find_child (moov, FOURCC ('c', 'm', 'o', 'v'), &b) || box_find_child (moov, FOURCC ('m', 'v', 'e', 'x'), &b)) {
    *why = "is compressed or fragmented";
    return FALSE;
  }
  guint32 movie_timescale;
  trak_movie_timescale (moov, &movie_timescale);
  guint64 allowed = 16 * (guint64) moov.len + moov_end + 4096;
  guint32 budget = (guint32) MIN (allowed, (guint64) RECORDING_MAX_SAMPLES);

  guint n = st->queues->len;
  *movie_timescale_out = movie_timescale;
  ByteReader r = moov;
  while (byte_reader_remaining (&r) > 0) {
    if (!byte_reader_box (&r, &h, &b)) {
      *why = "is malformed";
      return FALSE;
    }
    if (h.type != FOURCC ('t', 'r', 'a', 'k'))
      continue;
    TrakBoxes boxes;
    Track desc;
    guint64 edit_end;
    /* A trak left out when the recording was indexed is left out again
     * (its note is given once). */
    if (!trak_find_boxes (b, &boxes) || !trak_describe (b, &boxes, movie_timescale, rec, &desc, &edit_end))
      continue;
    guint i = 0;
    while (i < n && g_array_index (st->queues, Mp4Queue, i).track->id != desc.id)
      i++;
    if (i == n) {
      *why = "adds a track";
      return FALSE;
    }
    if (g_ptr_array_index (news, i))
      continue;   /* a second trak with that ID, left out as mp4.c does */
    GArray *samples = read_trak (&boxes, &desc, edit_end, &g_array_index (st->queues, Mp4Queue, i),
                                 MIN (movie_timescale, st->movie_timescale), &budget, &changes[i], why);
    if (!samples)
      return FALSE;
    news->pdata[i] = samples;
  }

  /* Every track still there; the new samples after every old one, and not
   * overlapping each other (a dry run of mp4.c's merge). */
  g_autoptr (GArray) added = g_array_new (FALSE, FALSE, sizeof (StblSample));
  for (guint i = 0; i < n; i++) {
    GArray *samples = g_ptr_array_index (news, i);
    if (!samples) {
      *why = "drops a track";
      return FALSE;
    }
    Mp4Queue *q = &g_array_index (st->queues, Mp4Queue, i);
    if (samples->len > q->listed)
      g_array_append_vals (added, &g_array_index (samples, StblSample, q->listed), samples->len - q->listed);
  }
  g_array_sort (added, by_offset);
  guint64 end = st->listed_end;
  for (guint k = 0; k < added->len; k++) {
    const StblSample *s = &g_array_index (added, StblSample, k);
    if (s->source_offset < end) {
      *why = "adds samples before the end of those listed before";
      return FALSE;
    }
    end = s->source_offset + s->info.size;
  }
  *end_out = end;
  return TRUE;
}

/* Takes the new moov if check_update() finds that it only adds samples:
 * each queue then keeps the samples not appended yet.  FALSE with *why set
 * if it does not. */
static gboolean
take_update (Mp4State *st, Recording *rec, ByteReader moov, guint64 moov_end, const char **why)
{
  guint n = st->queues->len;
  g_autoptr (GPtrArray) news = g_ptr_array_new_full (n, free_samples);
  g_ptr_array_set_size (news, (gint) n);
  TrackChange changes[RECORDING_MAX_TRACKS] = { { 0 } };
  guint32 movie_timescale;
  guint64 end;
  gboolean ok = check_update (st, rec, moov, moov_end, news, changes, &movie_timescale, &end, why);
  for (guint i = 0; ok && i < n; i++) {
    Track *t = g_array_index (st->queues, Mp4Queue, i).track;
    if (changes[i].edit_base == t->edit_base && !changes[i].descriptions)
      continue;
    /* A new generation: no snapshot is taken as equal to one before. */
    recording_begin_append (rec);
    t->edit_base = changes[i].edit_base;
    if (changes[i].descriptions) {
      GBytes *before = t->sample_descriptions;
      t->sample_descriptions = g_steal_pointer (&changes[i].descriptions);
      changes[i].descriptions = before;   /* unreferenced below, outside the lock */
    }
    rec->generation++;
    recording_end_append (rec);
  }
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&changes[i].descriptions, g_bytes_unref);
  if (!ok)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    Mp4Queue *q = &g_array_index (st->queues, Mp4Queue, i);
    GArray *samples = g_steal_pointer (&news->pdata[i]);
    guint32 appended = q->base + q->next;
    if (q->listed > 0 && appended == q->listed) {
      /* The last sample shown may take the duration the new moov gives it. */
      const StblSample *last = &g_array_index (samples, StblSample, q->listed - 1);
      recording_begin_append (rec);
      recording_set_last_duration (rec, q->track, last->info.duration);
      recording_end_append (rec);
    }
    q->listed = samples->len;
    q->prefix_hash = prefix_hash (samples, q->listed);
    g_array_remove_range (samples, 0, appended);
    g_array_unref (q->samples);
    q->samples = samples;
    q->base = appended;
    q->next = 0;
  }
  st->listed_end = end;
  st->movie_timescale = movie_timescale;
  return TRUE;
}

gboolean
mp4_robust_follow (Mp4State *st, Recording *rec, const Source *src)
{
  guint64 pos = 0;
  guint boxes = 0;
  BoxHeader h;
  const char *why = NULL;
  /* No moov where the walk ends: the head is between two states, or the
   * file is being replaced (classified again by the daemon).  What is shown
   * stays. */
  if (mp4_walk_to_moov (src, &pos, &boxes, &h, &why) != WALK_MOOV)
    return TRUE;
  gsize len = h.size - h.header_size;
  gsize old_len;
  const guint8 *old = g_bytes_get_data (st->moov_bytes, &old_len);
  if (pos == st->pos && len == old_len) {
    /* The same place and size: most often the same moov, which one read
     * tells (bytes equal to the last moov are that moov, torn or not). */
    g_autofree guint8 *now = source_read_alloc (src, pos + h.header_size, len, RECORDING_MAX_HEADER_BOX);
    if (now && memcmp (now, old, len) == 0)
      return TRUE;
  }
  g_autofree guint8 *body = NULL;
  switch (mp4_robust_read_moov (src, pos, &h, &body)) {
  case MP4_MOOV_CHANGING:
    return TRUE;
  case MP4_MOOV_FAILED:
    recording_fail (rec, "cannot read the moov at %" G_GUINT64_FORMAT ": %s", pos, g_strerror (errno));
    return FALSE;
  case MP4_MOOV_READ:
    break;
  }
  if (len == old_len && memcmp (body, old, len) == 0)
    return TRUE;
  ByteReader moov;
  byte_reader_init (&moov, body, len);
  if (!take_update (st, rec, moov, pos + h.size, &why)) {
    stop_following (st, rec, pos, why);
    return TRUE;
  }
  g_bytes_unref (st->moov_bytes);
  st->moov_bytes = g_bytes_new_take (g_steal_pointer (&body), len);
  st->pos = pos;
  st->moov = h;
  return TRUE;
}

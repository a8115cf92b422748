/* mkv.c — Matroska / WebM indexer: the IndexerClass, its state, and the walk
 * over the element tree (EBML header, Segment, Info, Tracks, Clusters), which
 * hands Tracks to mkv_tracks.c and blocks to mkv_blocks.c. */
#include "mkv_private.h"

#include <errno.h>
#include <string.h>

#define EBML_HEADER_MAX (64u * 1024)

typedef enum { STEP_CONTINUE, STEP_WAIT } Step;

/* ---- state ----------------------------------------------------------------- */

static gpointer
mkv_state_new (void)
{
  MkvState *st = g_new0 (MkvState, 1);
  st->segment_end = UNKNOWN_END;
  st->cluster_end = UNKNOWN_END;
  st->timestamp_scale = 1000000;
  st->tracks = g_ptr_array_new_with_free_func ((GDestroyNotify) mkv_track_free);
  st->frames = g_array_new (FALSE, FALSE, sizeof (Frame));
  return st;
}

static void
mkv_state_free (gpointer data)
{
  MkvState *st = data;
  g_ptr_array_unref (st->tracks);
  g_array_unref (st->frames);
  g_free (st);
}

/* ---- header elements ---------------------------------------------------------- */

static void
parse_info (MkvState *st, ByteReader r)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad;
  guint64 v;
  while (ebml_next_child (&r, &h, &b, &bad))
    if (h.id == ID_TIMESTAMP_SCALE && ebml_uint (b, &v) && v > 0 && v <= 1000000000)
      st->timestamp_scale = v;
}

/* DocType "matroska" or "webm", and lengths this reader handles. */
static gboolean
ebml_header_ok (ByteReader r)
{
  EbmlHeader h;
  ByteReader b;
  gboolean bad, doctype_ok = FALSE;
  guint64 v;
  while (ebml_next_child (&r, &h, &b, &bad)) {
    if (h.id == ID_DOCTYPE) {
      g_autofree char *doctype = ebml_string (b);
      doctype_ok = strcmp (doctype, "matroska") == 0 || strcmp (doctype, "webm") == 0;
    } else if (h.id == ID_EBML_MAX_ID_LENGTH && ebml_uint (b, &v) && v > EBML_MAX_ID_LENGTH) {
      return FALSE;
    } else if (h.id == ID_EBML_MAX_SIZE_LENGTH && ebml_uint (b, &v) && v > EBML_MAX_SIZE_LENGTH) {
      return FALSE;
    }
  }
  return doctype_ok && !bad;
}

/* ---- reading elements at file offsets ------------------------------------------ */

/* Reads an element header at pos, within [pos, limit).  EBML_NEED_MORE too
 * when the read fails: recording_update sees the I/O error and has the
 * source indexed again. */
EbmlStatus
mkv_read_header_at (const Source *src, guint64 pos, guint64 limit, EbmlHeader *h)
{
  guint8 buf[EBML_MAX_HEADER_LENGTH];
  if (pos >= src->size)
    return EBML_NEED_MORE;
  gsize avail = (gsize) MIN (src->size - pos, sizeof buf);
  if (limit != UNKNOWN_END)
    avail = (gsize) MIN (avail, limit - pos);
  if (!source_read (src, pos, buf, avail))
    return EBML_NEED_MORE;
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  EbmlStatus s = ebml_read_header (&r, h);
  if (s == EBML_NEED_MORE && limit != UNKNOWN_END && pos + avail >= limit && avail < sizeof buf)
    return EBML_INVALID;   /* cut by its parent's end */
  return s;
}

/* A reader over the size (at most 8) bytes of an element's value at pos. */
static gboolean
read_value_at (const Source *src, guint64 pos, guint64 size, guint8 buf[8], ByteReader *r)
{
  if (size > 8 || !source_read (src, pos, buf, (gsize) size))
    return FALSE;
  byte_reader_init (r, buf, (gsize) size);
  return TRUE;
}

gboolean
mkv_read_uint_at (const Source *src, guint64 pos, guint64 size, guint64 *out)
{
  guint8 buf[8];
  ByteReader r;
  return read_value_at (src, pos, size, buf, &r) && ebml_uint (r, out);
}

gboolean
mkv_read_sint_at (const Source *src, guint64 pos, guint64 size, gint64 *out)
{
  guint8 buf[8];
  ByteReader r;
  return read_value_at (src, pos, size, buf, &r) && ebml_sint (r, out);
}

/* ---- the element walk -------------------------------------------------------- */

static void
segment_ended (MkvState *st, Recording *rec)
{
  mkv_release_held_frames (st, rec);
}

/* Reads a whole element body of a header element (EBML header, Info, Tracks). */
static guint8 *
read_body (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h, guint64 max)
{
  if (h->size == EBML_UNKNOWN_SIZE || h->size > max) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " is too large or has no size", h->id, st->pos);
    return NULL;
  }
  guint8 *body = source_read_alloc (src, st->pos + h->header_len, h->size, max);
  if (!body)
    recording_fail (rec, "cannot read element at %" G_GUINT64_FORMAT ": %s", st->pos, g_strerror (errno));
  return body;
}

static gboolean
is_segment_child (guint32 id)
{
  switch (id) {
  case ID_CLUSTER: case ID_CUES: case ID_TAGS: case ID_INFO: case ID_TRACKS: case ID_SEEK_HEAD:
  case ID_CHAPTERS: case ID_ATTACHMENTS: case ID_EBML: case ID_SEGMENT:
    return TRUE;
  default:
    return FALSE;
  }
}

static Step
step_top (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h)
{
  guint64 end = st->pos + h->header_len + (h->size == EBML_UNKNOWN_SIZE ? 0 : h->size);
  if (h->id == ID_EBML) {
    if (h->size != EBML_UNKNOWN_SIZE && end > src->size)
      return STEP_WAIT;
    g_autofree guint8 *body = read_body (st, rec, src, h, EBML_HEADER_MAX);
    if (!body)
      return STEP_CONTINUE;
    ByteReader r;
    byte_reader_init (&r, body, h->size);
    if (!ebml_header_ok (r)) {
      recording_fail (rec, "EBML header is not one of a Matroska or WebM file");
      return STEP_CONTINUE;
    }
    st->seen_ebml = TRUE;
    st->pos = end;
  } else if (h->id == ID_SEGMENT) {
    if (!st->seen_ebml) {
      recording_fail (rec, "Segment before the EBML header");
      return STEP_CONTINUE;
    }
    st->pos += h->header_len;
    st->segment_end = h->size == EBML_UNKNOWN_SIZE ? UNKNOWN_END : end;
    st->level = LEVEL_SEGMENT;
  } else if (h->size == EBML_UNKNOWN_SIZE) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " has an unknown size", h->id, st->pos);
  } else {
    st->pos = end;   /* Void, CRC-32, padding */
  }
  return STEP_CONTINUE;
}

static Step
step_segment (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h)
{
  if (h->id == ID_EBML || h->id == ID_SEGMENT) {
    /* A second (chained) Segment: only the first is shown. */
    recording_note (rec, "a second Segment at %" G_GUINT64_FORMAT " is ignored", st->pos);
    segment_ended (st, rec);
    st->level = LEVEL_DONE;
    return STEP_CONTINUE;
  }
  if (h->id == ID_CLUSTER) {
    if (!st->seen_tracks) {
      recording_fail (rec, "Cluster at %" G_GUINT64_FORMAT " before any Tracks", st->pos);
      return STEP_CONTINUE;
    }
    if (h->size != EBML_UNKNOWN_SIZE && h->size > st->segment_end - st->pos - h->header_len) {
      recording_fail (rec, "Cluster at %" G_GUINT64_FORMAT " overruns its Segment", st->pos);
      return STEP_CONTINUE;
    }
    st->seen_cluster = TRUE;
    st->pos += h->header_len;
    st->cluster_end = h->size == EBML_UNKNOWN_SIZE ? UNKNOWN_END : st->pos + h->size;
    st->cluster_timestamp = 0;
    st->level = LEVEL_CLUSTER;
    return STEP_CONTINUE;
  }
  if (h->size == EBML_UNKNOWN_SIZE) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " has an unknown size", h->id, st->pos);
    return STEP_CONTINUE;
  }
  if (h->size > st->segment_end - st->pos - h->header_len) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " overruns its Segment", h->id, st->pos);
    return STEP_CONTINUE;
  }
  guint64 end = st->pos + h->header_len + h->size;
  if (h->id == ID_INFO || h->id == ID_TRACKS) {
    if (end > src->size)
      return STEP_WAIT;
    g_autofree guint8 *body = read_body (st, rec, src, h, RECORDING_MAX_HEADER_BOX);
    if (!body)
      return STEP_CONTINUE;
    ByteReader r;
    byte_reader_init (&r, body, h->size);
    if (h->id == ID_TRACKS) {
      if (!mkv_parse_tracks (st, rec, r))
        return STEP_CONTINUE;
    } else if (!st->seen_cluster) {
      parse_info (st, r);
    }
  } else if (st->seen_cluster && (h->id == ID_CUES || h->id == ID_TAGS || h->id == ID_CHAPTERS ||
                                  h->id == ID_ATTACHMENTS)) {
    /* Written when the recording is finished: the held frames are final. */
    segment_ended (st, rec);
  }
  st->pos = end;   /* SeekHead, Cues, Tags, Chapters, Attachments, Void, CRC-32 */
  return STEP_CONTINUE;
}

static Step
step_cluster (MkvState *st, Recording *rec, const Source *src, const EbmlHeader *h)
{
  if (st->cluster_end == UNKNOWN_END && is_segment_child (h->id)) {
    st->level = LEVEL_SEGMENT;   /* the element ends an unknown-size Cluster */
    return STEP_CONTINUE;
  }
  guint64 limit = MIN (st->cluster_end, st->segment_end);
  if (h->size == EBML_UNKNOWN_SIZE || (limit != UNKNOWN_END && h->size > limit - st->pos - h->header_len)) {
    recording_fail (rec, "element 0x%X at %" G_GUINT64_FORMAT " overruns its Cluster", h->id, st->pos);
    return STEP_CONTINUE;
  }
  guint64 body = st->pos + h->header_len;
  guint64 end = body + h->size;
  switch (h->id) {
  case ID_CLUSTER_TIMESTAMP: {
    guint64 v;
    if (end > src->size)
      return STEP_WAIT;
    if (!mkv_read_uint_at (src, body, h->size, &v) || v > G_MAXINT64 / 2) {
      recording_fail (rec, "malformed Cluster Timestamp at %" G_GUINT64_FORMAT, st->pos);
      return STEP_CONTINUE;
    }
    st->cluster_timestamp = (gint64) v;
    break;
  }
  case ID_SIMPLE_BLOCK:
  case ID_BLOCK_GROUP:
    if (end > src->size)
      return STEP_WAIT;   /* a frame is shown only once all of its bytes are there */
    if (h->id == ID_SIMPLE_BLOCK ? !mkv_handle_block (st, rec, src, body, h->size, TRUE, FALSE, -1, 0)
                                 : !mkv_handle_block_group (st, rec, src, body, h->size))
      return STEP_CONTINUE;
    break;
  default:
    break;   /* Position, PrevSize, Void, CRC-32, ... */
  }
  st->pos = end;
  return STEP_CONTINUE;
}

static Step
step (MkvState *st, Recording *rec, const Source *src)
{
  if (st->level == LEVEL_CLUSTER && st->cluster_end != UNKNOWN_END && st->pos >= st->cluster_end) {
    st->level = LEVEL_SEGMENT;
    return STEP_CONTINUE;
  }
  if (st->level != LEVEL_TOP && st->segment_end != UNKNOWN_END && st->pos >= st->segment_end) {
    segment_ended (st, rec);
    st->level = LEVEL_DONE;
    return STEP_CONTINUE;
  }
  guint64 limit = st->level == LEVEL_CLUSTER ? MIN (st->cluster_end, st->segment_end)
                  : st->level == LEVEL_SEGMENT ? st->segment_end : UNKNOWN_END;
  EbmlHeader h;
  switch (mkv_read_header_at (src, st->pos, limit, &h)) {
  case EBML_NEED_MORE:
    return STEP_WAIT;
  case EBML_INVALID:
    recording_fail (rec, "damaged element header at %" G_GUINT64_FORMAT, st->pos);
    return STEP_CONTINUE;
  case EBML_OK:
    break;
  }
  switch (st->level) {
  case LEVEL_TOP: return step_top (st, rec, src, &h);
  case LEVEL_SEGMENT: return step_segment (st, rec, src, &h);
  case LEVEL_CLUSTER: return step_cluster (st, rec, src, &h);
  case LEVEL_DONE: break;
  }
  return STEP_WAIT;
}

static gboolean
mkv_feed (gpointer data, Recording *rec, const Source *src)
{
  MkvState *st = data;
  while (!rec->failed && st->level != LEVEL_DONE) {
    if (step (st, rec, src) == STEP_WAIT)
      break;
    if (st->frames->len - st->frames_done >= 1024)
      mkv_append_ready (st, rec);
  }
  if (rec->failed)
    mkv_release_held_frames (st, rec);   /* everything before the damage is good: show it */
  mkv_append_ready (st, rec);
  return !rec->failed;
}

/* The writer is done: H.264/HEVC frames still waiting to learn the reorder
 * depth from the first 16 (a recording shorter than that, or a live one
 * whose Segment has no size) are placed with what the frames there show. */
static gboolean
mkv_finish (gpointer data, Recording *rec, const Source *src)
{
  MkvState *st = data;
  (void) src;
  gboolean held = FALSE;
  for (guint i = 0; i < st->tracks->len; i++) {
    MkvTrack *t = g_ptr_array_index (st->tracks, i);
    held |= t->held && t->held->len > 0 && !t->committed;
  }
  if (!held || rec->failed)
    return FALSE;
  mkv_release_held_frames (st, rec);
  mkv_append_ready (st, rec);
  return TRUE;
}

static ProbeResult
mkv_probe (const Source *src)
{
  static const guint8 magic[4] = { 0x1a, 0x45, 0xdf, 0xa3 };
  guint8 buf[4096];
  gsize avail = (gsize) MIN (src->size, sizeof buf);
  if (!source_read (src, 0, buf, avail))
    return PROBE_NO;
  if (memcmp (buf, magic, MIN (avail, 4)) != 0)
    return PROBE_NO;
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  EbmlHeader h;
  EbmlStatus s = ebml_read_header (&r, &h);
  if (s == EBML_NEED_MORE)
    return PROBE_NEED_MORE;
  if (s != EBML_OK || h.size == EBML_UNKNOWN_SIZE || h.size > sizeof buf - h.header_len)
    return PROBE_NO;
  ByteReader body;
  if (!byte_reader_sub (&r, h.size, &body))
    return PROBE_NEED_MORE;
  return ebml_header_ok (body) ? PROBE_YES : PROBE_NO;
}

const IndexerClass mkv_indexer = {
  .name = "matroska",
  .probe = mkv_probe,
  .state_new = mkv_state_new,
  .state_free = mkv_state_free,
  .feed = mkv_feed,
  .finish = mkv_finish,
};

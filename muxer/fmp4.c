/* fmp4.c — fragmented MP4 indexer: the top-level box walk, resumed where it
 * stopped on every feed; samples become visible as their bytes arrive. */
#include "fmp4_private.h"

#include <errno.h>
#include <string.h>

#include "stbl.h"

static gpointer
fmp4_state_new (void)
{
  Fmp4State *st = g_new0 (Fmp4State, 1);
  st->tracks = g_array_new (FALSE, TRUE, sizeof (Fmp4Track));
  st->hidden_trex = g_array_new (FALSE, TRUE, sizeof (Fmp4Track));
  st->pending = g_array_new (FALSE, FALSE, sizeof (PendingSample));
  st->moov_samples = g_array_new (FALSE, FALSE, sizeof (StblSample));
  return st;
}

static void
fmp4_state_free (gpointer data)
{
  Fmp4State *st = data;
  g_array_unref (st->tracks);
  g_array_unref (st->hidden_trex);
  g_array_unref (st->pending);
  g_array_unref (st->moov_samples);
  g_free (st);
}

static gboolean
fourcc_is_printable (guint32 type)
{
  for (int i = 0; i < 4; i++) {
    guint8 c = type >> (24 - 8 * i);
    if (c < 0x20 || c > 0x7e)
      return FALSE;
  }
  return TRUE;
}

/* The top-level walk reads a box header, a moof, the next mdat header, and
 * then jumps over the payload.  A moof is read together with the header
 * after it, and a box header where a moof is expected together with as many
 * bytes as the largest of the last moofs and its mdat header took: a steady
 * stream's fragment costs one read, and the few payload bytes read with it
 * (the difference in size between moofs) are in the page the mdat header is
 * in anyway. */
#define NEXT_HEADER 16

typedef struct {
  const Source *src;
  guint8 *buf;
  gsize cap;
  guint64 start;
  gsize len;
} ReadAhead;

static void
read_ahead_init (ReadAhead *ra, const Source *src)
{
  *ra = (ReadAhead) { .src = src };
}

static void
read_ahead_clear (ReadAhead *ra)
{
  g_clear_pointer (&ra->buf, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ReadAhead, read_ahead_clear)

/* Points at the n bytes at off (reading up to extra bytes more with them
 * when it must read), or NULL if they are not all on disk.  n is bounded by
 * the callers (a box header, or a header box below RECORDING_MAX_HEADER_BOX). */
static const guint8 *
read_ahead_peek (ReadAhead *ra, guint64 off, gsize n, gsize extra)
{
  if (ra->buf && off >= ra->start && off - ra->start <= ra->len && n <= ra->len - (off - ra->start))
    return ra->buf + (off - ra->start);
  if (off > ra->src->size || n > ra->src->size - off)
    return NULL;
  gsize want = n + (gsize) MIN ((guint64) extra, ra->src->size - off - n);
  if (want > ra->cap) {
    ra->buf = g_realloc (ra->buf, want);
    ra->cap = want;
  }
  if (!source_read (ra->src, off, ra->buf, want)) {
    ra->len = 0;
    return NULL;
  }
  ra->start = off;
  ra->len = want;
  return ra->buf;
}

/* Reads the top-level box header at pos.  Returns FALSE if the header is not
 * all on disk yet, or could not be read (recording_update sees the I/O error
 * and has the source indexed again); *damaged is set if it can never be valid. */
static gboolean
read_top_header (ReadAhead *ra, guint64 pos, gsize extra, BoxHeader *hdr, gboolean *damaged)
{
  const Source *src = ra->src;
  *damaged = FALSE;
  if (pos >= src->size || src->size - pos < 8)
    return FALSE;
  gsize avail = MIN (src->size - pos, 16);
  const guint8 *buf = read_ahead_peek (ra, pos, avail, extra);
  if (!buf)
    return FALSE;
  ByteReader r;
  byte_reader_init (&r, buf, avail);
  guint32 size32 = (guint32) buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
  if (size32 == 1 && avail < 16)
    return FALSE;
  if (size32 == 0) {
    /* Extends to the end of the file: only the last mdat does that. */
    hdr->type = (guint32) buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7];
    hdr->size = 0;
    hdr->header_size = 8;
    *damaged = !fourcc_is_printable (hdr->type);
    return !*damaged;
  }
  if (!box_header_read (&r, hdr) || !fourcc_is_printable (hdr->type) ||
      hdr->size > G_MAXUINT64 - pos) {
    *damaged = TRUE;
    return FALSE;
  }
  return TRUE;
}

/* Whether GStreamer finalised a first-moov-then-finalise recording: it
 * renames the moov it wrote first ('hoov', inside the mdat it then extends
 * over every fragment) before it writes the full moov at the end. */
static gboolean
gst_finalised (ReadAhead *ra, guint64 moov_pos)
{
  guint8 type[4];
  return source_read (ra->src, moov_pos + 4, type, sizeof type) && memcmp (type, "moov", 4) != 0;
}

static void
flush_pending (Fmp4State *st, Recording *rec, const Source *src)
{
  if (st->pending_done == st->pending->len)
    return;
  recording_begin_append (rec);
  while (st->pending_done < st->pending->len && !rec->failed) {
    PendingSample *ps = &g_array_index (st->pending, PendingSample, st->pending_done);
    if (ps->source_offset + ps->info.size > src->size)
      break;
    if (!recording_append_sample (rec, ps->track->track, ps->source_offset, &ps->info))
      break;
    st->pending_done++;
  }
  recording_end_append (rec);
  if (st->pending_done == st->pending->len) {
    g_array_set_size (st->pending, 0);
    st->pending_done = 0;
  }
}

static gboolean
fmp4_feed (gpointer data, Recording *rec, const Source *src)
{
  Fmp4State *st = data;
  ReadAhead ra;
  read_ahead_init (&ra, src);

  while (!rec->failed) {
    flush_pending (st, rec, src);
    /* Samples already parsed wait for their bytes before any later box is
     * looked at: a damaged box after them must not fail the recording
     * before they are shown, or what is shown would depend on how the file
     * grew (seen whole, they would be).  In order, they come first anyway. */
    if (st->phase == PHASE_TAIL || st->pending_done < st->pending->len)
      break;

    BoxHeader h;
    gboolean damaged;
    /* Where an mdat ended a moof is expected; read it with its header, if
     * it is on disk whole: a growing file's incomplete moof is not read
     * again on every look. */
    gsize extra = 0;
    if (st->moof_expected) {
      guint64 guess = 0;
      for (guint i = 0; i < G_N_ELEMENTS (st->recent_moofs); i++)
        guess = MAX (guess, st->recent_moofs[i]);
      if (guess >= 16 && st->pos <= src->size && src->size - st->pos >= guess + NEXT_HEADER)
        extra = guess + NEXT_HEADER - 16;
    }
    if (!read_top_header (&ra, st->pos, extra, &h, &damaged)) {
      if (damaged)
        recording_fail (rec, "damaged box header at %" G_GUINT64_FORMAT, st->pos);
      break;
    }
    if (h.size == 0 && h.type == FOURCC ('m', 'd', 'a', 't') && (st->phase == PHASE_HEAD || st->mdat_first)) {
      /* GStreamer's first-moov-then-finalise: an mdat gets its size when
       * its fragment is flushed; until then its samples have no moof. */
      if (st->phase == PHASE_FRAGMENTS && gst_finalised (&ra, st->moov_pos)) {
        recording_finalise (rec);
        st->phase = PHASE_TAIL;
      }
      break;
    }
    if (h.size == 0) {
      /* A box that runs to the end of the file ends the structure. */
      if (h.type != FOURCC ('m', 'd', 'a', 't') || st->phase != PHASE_FRAGMENTS)
        recording_fail (rec, "box at %" G_GUINT64_FORMAT " has no size", st->pos);
      st->phase = PHASE_TAIL;
      continue;
    }
    if (h.type == FOURCC ('m', 'o', 'o', 'v') && st->phase == PHASE_FRAGMENTS) {
      /* A moov after the fragments: the recorder is finalising a hybrid MP4
       * (OBS, FFmpeg's hybrid_fragmented).  The fragments end here; the
       * finished file is another indexer's (recording_successor). */
      recording_finalise (rec);
      st->phase = PHASE_TAIL;
      break;
    }
    guint64 end = st->pos + h.size;
    gboolean needs_body = h.type == FOURCC ('m', 'o', 'o', 'v') || h.type == FOURCC ('m', 'o', 'o', 'f');
    if (end > src->size)
      break;   /* not all on disk yet; payload inside is handled by pending */

    if (needs_body) {
      if (h.size > RECORDING_MAX_HEADER_BOX) {
        recording_fail (rec, "box of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT " is too large",
                        h.size, st->pos);
        break;
      }
      guint64 body_len = h.size - h.header_size;
      const guint8 *body = read_ahead_peek (&ra, st->pos + h.header_size, body_len, NEXT_HEADER);
      if (!body) {
        /* After an I/O error recording_update has it indexed again. */
        recording_fail (rec, "cannot read box at %" G_GUINT64_FORMAT ": %s", st->pos, g_strerror (errno));
        break;
      }
      ByteReader r;
      byte_reader_init (&r, body, body_len);
      if (h.type == FOURCC ('m', 'o', 'o', 'v')) {
        if (st->phase != PHASE_HEAD) {
          recording_fail (rec, "second moov at %" G_GUINT64_FORMAT, st->pos);
          break;
        }
        ByteReader mvex;
        if (st->mdat_first && !box_find_child (r, FOURCC ('m', 'v', 'e', 'x'), &mvex)) {
          /* A finished first-moov-then-finalise or hybrid file (ftyp mdat
           * moov), indexed as fragmented because it was one when probed. */
          recording_finalise (rec);
          st->phase = PHASE_TAIL;
          break;
        }
        if (!fmp4_parse_moov (st, rec, r))
          break;
        st->moov_pos = st->pos;
        if (st->mdat_first)   /* renamed 'hoov' when GStreamer finalises */
          recording_mask_source (rec, st->pos + 4, 4);
        st->phase = PHASE_FRAGMENTS;
      } else {
        if (st->phase != PHASE_FRAGMENTS) {
          recording_fail (rec, "moof before the moov");
          break;
        }
        if (!fmp4_parse_moof (st, rec, r, st->pos))
          break;
        st->recent_moofs[st->n_moofs++ % G_N_ELEMENTS (st->recent_moofs)] = (guint32) h.size;
      }
    } else if (h.type == FOURCC ('m', 'd', 'a', 't') && st->phase == PHASE_HEAD) {
      st->mdat_first = TRUE;   /* first-moov-then-finalise: the moov lists its samples */
    }
    st->moof_expected = h.type == FOURCC ('m', 'd', 'a', 't');
    st->pos = end;
  }
  read_ahead_clear (&ra);
  return !rec->failed;
}

/* Whether the moov whose body is [start, end) has an mvex, by its
 * children's headers; at most 1024 of them. */
static gboolean
has_mvex (const Source *src, guint64 start, guint64 end)
{
  guint64 pos = start;
  for (guint n = 0; n < 1024 && pos <= end && end - pos >= 8; n++) {
    guint8 b[8];
    if (!source_read (src, pos, b, sizeof b))
      return FALSE;
    guint32 size = (guint32) b[0] << 24 | (guint32) b[1] << 16 | (guint32) b[2] << 8 | b[3];
    if (memcmp (b + 4, "mvex", 4) == 0)
      return TRUE;
    if (size < 8 || size > end - pos)
      return FALSE;   /* 64-bit sizes do not occur inside a moov of this size */
    pos += size;
  }
  return FALSE;
}

static ProbeResult
fmp4_probe (const Source *src)
{
  g_auto (ReadAhead) ra;
  read_ahead_init (&ra, src);
  guint64 pos = 0;
  gboolean mdat_seen = FALSE;
  for (int boxes = 0; boxes < 16; boxes++) {
    BoxHeader h;
    gboolean damaged;
    if (!read_top_header (&ra, pos, 0, &h, &damaged))
      return damaged || src->size - pos >= 16 ? PROBE_NO : PROBE_NEED_MORE;
    if (pos == 0 && h.type != FOURCC ('f', 't', 'y', 'p') && h.type != FOURCC ('s', 't', 'y', 'p'))
      return PROBE_NO;
    if (h.size == 0 || h.type == FOURCC ('m', 'o', 'o', 'f'))
      return PROBE_NO;
    /* An mdat before the moov: GStreamer's first-moov-then-finalise, if a
     * moov with mvex follows it (else a plain MP4, mp4.c's, whose moov is
     * not read here: its children's headers tell). */
    mdat_seen |= h.type == FOURCC ('m', 'd', 'a', 't');
    if (mdat_seen && h.type == FOURCC ('h', 'o', 'o', 'v'))
      return PROBE_NEED_MORE;   /* GStreamer is finalising: the full moov comes */
    if (h.type == FOURCC ('m', 'o', 'o', 'v')) {
      if (h.size > RECORDING_MAX_HEADER_BOX)
        return PROBE_NO;
      if (pos + h.size > src->size)
        return PROBE_NEED_MORE;
      if (mdat_seen)
        return has_mvex (src, pos + h.header_size, pos + h.size) ? PROBE_YES : PROBE_NO;
      g_autofree guint8 *body = source_read_alloc (src, pos + h.header_size, h.size - h.header_size,
                                                   RECORDING_MAX_HEADER_BOX);
      ByteReader moov, mvex;
      if (!body)
        return PROBE_NO;
      byte_reader_init (&moov, body, h.size - h.header_size);
      if (!box_find_child (moov, FOURCC ('m', 'v', 'e', 'x'), &mvex))
        return PROBE_NO;
      return PROBE_YES;
    }
    if (pos + h.size > src->size)
      return PROBE_NEED_MORE;
    pos += h.size;
  }
  return PROBE_NO;
}

const IndexerClass fmp4_indexer = {
  .name = "fmp4",
  .probe = fmp4_probe,
  .state_new = fmp4_state_new,
  .state_free = fmp4_state_free,
  .feed = fmp4_feed,
};

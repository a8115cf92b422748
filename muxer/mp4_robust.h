/* mp4_robust.h — a plain MP4 whose moov lies in front of an mdat that is
 * still being written, and is rewritten in place as the mdat grows:
 * GStreamer's robust muxing (qtmux `reserved-max-duration` with
 * `reserved-moov-update-period`) writes each new moov into the inactive one
 * of two reserved slots, then resizes the free box in front of them so that
 * the walk from the ftyp lands on the new one (gstqtmux.c,
 * gst_qt_mux_robust_recording_rewrite_moov).
 *
 * A moov is used only once two reads of it, each after its own walk from
 * the start of the file, give the same position and the same bytes: a moov
 * read while it is rewritten is read again at the next change, never
 * indexed torn.  Each new moov may only add samples after the ones the last
 * one listed; one that changes a sample already shown (or a track) is noted
 * and not followed further, so snapshots never change.
 */
#pragma once

#include "mp4_private.h"

G_BEGIN_DECLS

typedef enum {
  MP4_MOOV_READ,       /* *body holds the moov's body, read twice alike */
  MP4_MOOV_CHANGING,   /* the moov moved or changed while it was read: later */
  MP4_MOOV_FAILED,     /* a read failed (errno) */
} Mp4MoovRead;

/* Reads the body of the moov *moov found at pos by the walk from the start
 * of src, checking it as above. */
Mp4MoovRead mp4_robust_read_moov (const Source *src, guint64 pos, const BoxHeader *moov, guint8 **body);

/* Starts following the moov just indexed (mp4.c), whose body is taken. */
void mp4_robust_start (Mp4State *st, GBytes *moov_body);

/* Follows the moov of a recording indexed with st->follow set: if the walk
 * now finds another moov, its new samples are queued (mp4.c appends them
 * once their bytes are on disk).  FALSE if the recording failed. */
gboolean mp4_robust_follow (Mp4State *st, Recording *rec, const Source *src);

G_END_DECLS

/* mp4.h — indexer for plain (unfragmented) MP4 and QuickTime recordings
 * (ISO/IEC 14496-12 8.1-8.7): `ftyp [free|skip|wide|uuid|mdat ...] moov
 * [mdat ...]`, the moov at the end as recorders write it when they finish
 * (FFmpeg, OBS, GStreamer's mp4mux/qtmux, phones) or in front (fast-start).
 *
 * Only box headers are read up to the moov, never the payload.  Once the
 * whole moov is on disk its tracks are read (trak.c) and its samples
 * (stbl.c) are appended in source offset order, each once its bytes are on
 * disk.  A file whose moov is not on disk yet is not this indexer's (probe:
 * PROBE_NEED_MORE, so it is looked at again when it changes); a file that
 * grows after its moov was indexed is noted and not indexed further.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

extern const IndexerClass mp4_indexer;

/* Top-level boxes walked before the moov, at most. */
#define MP4_MAX_TOP_BOXES 1024
/* The source moov's udta and meta boxes carried over, at most. */
#define MP4_MAX_USER_DATA (4u * 1024 * 1024)

G_END_DECLS

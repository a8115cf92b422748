/* fmp4.h — indexer for fragmented MP4 / CMAF recordings (ISO/IEC 14496-12 8.8).
 *
 * A recording is ftyp, a moov whose stbl are empty and which carries mvex,
 * then moof+mdat pairs (optionally styp, sidx, prft, emsg, free, and an mfra at
 * the end).  Only box headers and moof boxes are read, never the payload.  On
 * each feed the indexer resumes at the first box it has not finished; samples
 * of a complete moof become visible one by one as their bytes reach the disk.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

extern const IndexerClass fmp4_indexer;

/* Sample flags (8.8.3.1): a sample is sync unless it is marked non-sync or
 * as depending on others. */
#define FMP4_SAMPLE_IS_NON_SYNC 0x00010000u
#define FMP4_SAMPLE_DEPENDS_YES 0x01000000u

G_END_DECLS

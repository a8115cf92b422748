/* ts.h — indexer for MPEG transport streams (.ts, .m2ts, .mts; ISO/IEC 13818-1).
 *
 * Detection is by content: sync bytes at a 188, 192 (M2TS) or 204-byte
 * stride.  The first PMT of the first program declares the tracks; H.264,
 * HEVC, AAC (ADTS), AC-3 and MPEG audio are carried, other streams are left
 * out with the reason.
 *
 * A sample's bytes are spread over packets and must be rewritten (start
 * codes to lengths, ADTS headers dropped), so the payload is produced, not
 * spliced (IndexerClass.read_payload): samples are laid out in the order
 * they complete, which depends on the bytes alone (not on how the source was
 * fed), and each has a 5-byte locator — the source offset of its first
 * elementary stream byte, whose packet follows from the packet grid — from
 * which the read walks that PID's packets and rewrites the bytes to exactly
 * the size the tables promise.  The sample holding a payload offset is found
 * through the tracks' chunks.
 *
 * Timing: PTS/DTS (33-bit, unwrapped wherever they wrap) are the authority.
 * A sample is placed at its DTS with a provisional duration that the next
 * sample of the track corrects; audio frames after the first of a PES follow
 * by their codec length.  A step back, or a jump of more than a minute (an
 * HLS segment join), continues the track where it was.  Presentation time 0
 * is the earliest first timestamp of the tracks, as FFmpeg's remux has it.
 *
 * Completion: an access unit is complete when the next one begins (or its
 * bounded PES ends), a frame when all its bytes are there; so the last video
 * frame waits for the one after it.  A missing or damaged packet (continuity
 * counter) drops the sample being assembled on its PID, and that PID waits
 * for its next PES.
 */
#pragma once

#include "recording.h"

G_BEGIN_DECLS

extern const IndexerClass ts_indexer;

G_END_DECLS

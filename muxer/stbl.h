/* stbl.h — the samples a moov's own sample table lists (ISO/IEC 14496-12
 * 8.5-8.7).  Fragmented recordings may carry their first fragment in the
 * init segment (FFmpeg's frag_keyframe without empty_moov); this turns that
 * table into samples with their source offsets, in decode order.
 */
#pragma once

#include "bytes.h"
#include "table.h"

G_BEGIN_DECLS

typedef struct {
  guint64 source_offset;
  SampleInfo info;             /* payload_offset unused */
} StblSample;

/* Appends the samples of stbl to out (StblSample), at most max of them.
 * Returns FALSE with *error set to a static reason if the tables are
 * malformed or list more than max samples. */
gboolean stbl_read_samples (ByteReader stbl, guint32 max, GArray *out, const char **error);

G_END_DECLS

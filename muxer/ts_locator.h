/* ts_locator.h — where each sample of an MPEG-TS stream begins in the source,
 * kept compact (issue 13: at most 16 bytes a sample with the sample tables).
 *
 * A locator is the source offset of a sample's first elementary stream byte
 * (its packet follows from the packet grid, ts.c).  A stream's samples begin
 * in source order, so each locator is stored as its distance from the one
 * before, a LEB128 varint of delta + 1 (two bytes for most samples); 0 escapes
 * an absolute 5-byte offset, for the step back only hostile input makes.
 * Every TS_LOCATOR_CHECKPOINT samples an absolute checkpoint (offset and
 * varint position) bounds a lookup, and a cursor carries a walk from one
 * sample to the next.  Appends take the recording's write lock, lookups its
 * read lock (ts.c).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TS_LOCATOR_CHECKPOINT 64

typedef struct {
  guint64 offset;
  guint32 pos;              /* in TsLocators.deltas */
} TsLocatorCheckpoint;

typedef struct {
  GByteArray *deltas;
  GArray *checkpoints;      /* TsLocatorCheckpoint, one per TS_LOCATOR_CHECKPOINT samples */
  guint32 count;
  guint64 last;
} TsLocators;

/* Where a lookup stands: locator index has offset, and the next one's
 * varint begins at pos.  Zeroed, it stands nowhere. */
typedef struct {
  gboolean valid;
  guint32 index;
  guint32 pos;
  guint64 offset;
} TsLocatorCursor;

void ts_locators_init (TsLocators *l);
void ts_locators_clear (TsLocators *l);
/* Appends a locator (below 2^40); FALSE past the encodable size (2^32 bytes
 * of deltas, far beyond the sample limit). */
gboolean ts_locators_append (TsLocators *l, guint64 offset);
/* Locator i (< count), through c when it stands at or shortly before i. */
gboolean ts_locators_get (const TsLocators *l, guint32 i, TsLocatorCursor *c, guint64 *offset);
gsize ts_locators_memory (const TsLocators *l);

G_END_DECLS

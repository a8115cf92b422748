/* fuzz-ts.c — the MPEG-TS indexer and its gathering read: one-shot vs.
 * growing, and the produced payload of both, see fuzz-indexer.h. */
#include "fuzz-indexer.h"

FUZZ_INDEXER_TARGET (ts_indexer)

/* fuzz-fmp4.c — the fragmented MP4 indexer: one-shot vs. growing, see fuzz-indexer.h. */
#include "fuzz-indexer.h"

FUZZ_INDEXER_TARGET (fmp4_indexer)

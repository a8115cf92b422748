/* fuzz-mkv.c — the Matroska/WebM indexer: one-shot vs. growing, see fuzz-indexer.h. */
#include "fuzz-indexer.h"

FUZZ_INDEXER_TARGET (mkv_indexer)

/* fuzz-mp4.c — the plain MP4/MOV indexer (moov at the end or in front): one-shot vs. growing, see fuzz-indexer.h. */
#include "fuzz-indexer.h"

FUZZ_INDEXER_TARGET (mp4_indexer)

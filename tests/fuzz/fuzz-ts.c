/* fuzz-ts.c — the MPEG-TS indexer and its gathering read: one-shot vs.
 * growing, and the produced payload of both, see fuzz-indexer.h. */
#include "fuzz-indexer.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_indexer_input (&ts_indexer, data, size);
  return 0;
}

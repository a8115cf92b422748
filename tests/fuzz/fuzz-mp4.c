/* fuzz-mp4.c — the plain MP4/MOV indexer (moov at the end or in front): one-shot vs. growing, see fuzz-indexer.h. */
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
  fuzz_indexer_input (&mp4_indexer, data, size);
  return 0;
}

// Entry point of the `bulwark` binary; everything else lives in cli/app.cc.
#include <malloc.h>

#include <cstdlib>

#include "cli/app.h"

int main(int argc, char** argv) {
  // glibc gives every thread that contends for malloc its own arena (up to 8 per core), and
  // memory freed into one arena is not reused by the others. The backup pipeline hands
  // buffers between many threads, so with the default a million-file backup holds ~15% more
  // resident memory for nothing. Two arenas are plenty for its mostly large, mmapped buffers.
  // An explicit MALLOC_ARENA_MAX from the environment wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  return bulwark::cli::RunCli(argc, argv);
}

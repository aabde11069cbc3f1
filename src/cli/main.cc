// Entry point of the `bulwark` binary; everything else lives in cli/app.cc.
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "cli/app.h"

namespace {

constexpr char kTunables[] = "GLIBC_TUNABLES";
constexpr char kHugeMalloc[] = "glibc.malloc.hugetlb=1";
// Set for the re-executed process: the caller's GLIBC_TUNABLES ("-" when it had none).
constexpr char kSavedTunables[] = "BULWARK_SAVED_GLIBC_TUNABLES";

// Large buffers (pack ranges, blobs, the index) come from malloc, and every 4 KiB page of them
// is a page fault when first touched: on virtual machines a fault costs tens of microseconds,
// which made a quarter of a restore's CPU time. glibc advises its memory into transparent huge
// pages when GLIBC_TUNABLES asks for it, and reads that only at start-up, so the process runs
// itself once more with it set (a few milliseconds). The caller's value is put back before any
// command runs, so the programs Bulwark starts see their own environment.
// BULWARK_HUGE_PAGES=0 turns this off.
void UseHugePagesForMalloc(char** argv) {
  if (const char* saved = std::getenv(kSavedTunables)) {
    const std::string original = saved;
    if (original == "-") {
      ::unsetenv(kTunables);
    } else {
      ::setenv(kTunables, original.c_str(), 1);
    }
    ::unsetenv(kSavedTunables);
    return;
  }
  if (const char* off = std::getenv("BULWARK_HUGE_PAGES");
      off != nullptr && std::string(off) == "0")
    return;
  const char* current = std::getenv(kTunables);
  const std::string original = current == nullptr ? "" : current;
  if (original.find("glibc.malloc.hugetlb") != std::string::npos) return;  // the caller chose
  const std::string wanted = original.empty() ? kHugeMalloc : original + ":" + kHugeMalloc;
  ::setenv(kSavedTunables, original.empty() ? "-" : original.c_str(), 1);
  ::setenv(kTunables, wanted.c_str(), 1);
  ::execv("/proc/self/exe", argv);
  // Not possible here (no /proc): carry on with ordinary pages.
  ::unsetenv(kSavedTunables);
  if (original.empty()) {
    ::unsetenv(kTunables);
  } else {
    ::setenv(kTunables, original.c_str(), 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  UseHugePagesForMalloc(argv);
  // glibc gives every thread that contends for malloc its own arena (up to 8 per core), and
  // memory freed into one arena is not reused by the others. The backup pipeline hands
  // buffers between many threads, so with the default a million-file backup holds ~15% more
  // resident memory for nothing. Two arenas are plenty for its mostly large, mmapped buffers.
  // An explicit MALLOC_ARENA_MAX from the environment wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  return bulwark::cli::RunCli(argc, argv);
}

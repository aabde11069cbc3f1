// libFuzzer target: DecodeDeletionRecord; what decodes must round-trip.
#include <cstdlib>

#include "repo/deletion.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bulwark;
  auto r = repo::DecodeDeletionRecord(ByteView(data, size));
  if (!r.ok()) return 0;
  auto again = repo::DecodeDeletionRecord(repo::EncodeDeletionRecord(*r));
  if (!again.ok() || again->packs != r->packs || again->index_files != r->index_files ||
      again->pid != r->pid)
    std::abort();
  return 0;
}

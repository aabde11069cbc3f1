// libFuzzer target: DecodeIndexFile on arbitrary bytes; what decodes must round-trip and be
// loadable into an Index.
#include <cstdlib>
#include <set>

#include "repo/index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulwark::ByteView input(data, size);
  auto packs = bulwark::repo::DecodeIndexFile(input);
  if (packs.ok()) {
    bulwark::Bytes again = bulwark::repo::EncodeIndexFile(*packs);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
    // A pack named twice is taken once (packs are immutable, so a second listing adds
    // nothing); every blob of a first listing must then be findable.
    bulwark::repo::Index index;
    std::set<bulwark::Id> seen;
    for (const auto& p : *packs) {
      if (!seen.insert(p.pack).second) continue;
      index.AddPack(p);
      for (const auto& b : p.blobs)
        if (!index.Find(b.type, b.id)) std::abort();
    }
  }
  return 0;
}

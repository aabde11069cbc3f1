// libFuzzer target: DecodeTree on arbitrary bytes. Whatever decodes must re-encode to the
// same bytes (the encoding is canonical).
#include <cstdlib>

#include "repo/tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulwark::ByteView input(data, size);
  auto tree = bulwark::repo::DecodeTree(input);
  if (tree.ok()) {
    bulwark::Bytes again = bulwark::repo::EncodeTree(*tree);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  return 0;
}

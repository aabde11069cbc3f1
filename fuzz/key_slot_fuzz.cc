// libFuzzer target: key slot JSON (ParseKeySlot) and lock JSON (DecodeLock), the two
// plaintext-or-sealed JSON objects read from keys/ and locks/.
#include <cstdlib>

#include "repo/key_slots.h"
#include "repo/lock.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bulwark;
  ByteView input(data, size);
  auto slot = repo::ParseKeySlot(input);
  if (slot.ok()) {
    if (slot->salt.size() != 16 || slot->kdf.mem_limit > (4ull << 30)) std::abort();
    auto again = repo::ParseKeySlot(repo::EncodeKeySlot(*slot));
    if (!again.ok() || again->wrapped != slot->wrapped) std::abort();
  }
  (void)repo::DecodeLock(input);
  return 0;
}

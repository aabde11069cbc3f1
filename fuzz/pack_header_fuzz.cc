// libFuzzer target: ParsePackHeader with a fixed key. Inputs are treated as a whole pack; the
// first 4 bytes optionally choose a larger claimed pack size (a tail read). To get past the
// AEAD, inputs starting with 0xff are instead a header *plaintext* that is sealed here first,
// so the entry validation behind decryption is exercised too.
#include <cstring>

#include "crypto/aead.h"
#include "repo/pack.h"

namespace {

const bulwark::crypto::SecretKey& Key() {
  static bulwark::crypto::SecretKey key = [] {
    bulwark::crypto::SecretKey k;
    k.bytes.fill(0x42);
    return k;
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bulwark;
  if (size >= 1 && data[0] == 0xff) {
    // [0xff][u16 data length][header plaintext...]: data bytes are zeros before the header.
    if (size < 3) return 0;
    size_t data_len = data[1] | (size_t{data[2]} << 8);
    ByteView plain(data + 3, size - 3);
    Bytes pack(data_len, 0);
    crypto::SealAppend(Key(), plain, AsBytes("bulwark-pack-header"), pack);
    PutU32(pack, static_cast<uint32_t>(pack.size() - data_len));
    auto r = repo::ParsePackHeader(Key(), pack, pack.size());
    if (r.ok()) {
      uint64_t sum = 0;
      for (const auto& b : *r) sum += b.length;
      if (sum != data_len) __builtin_trap();
    }
    return 0;
  }
  uint64_t claimed = size;
  if (size >= 4) {
    uint32_t extra;
    std::memcpy(&extra, data, 4);
    claimed += extra % 4096;
  }
  (void)repo::ParsePackHeader(Key(), ByteView(data, size), claimed);
  return 0;
}

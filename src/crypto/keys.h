// Key material and key derivation: the repository master key (random), and Argon2id
// (libsodium) to derive a key-encryption key from a passphrase. Pure functions and value
// types; safe from any thread. Secret buffers are wiped on destruction.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::crypto {

// Fixed-size secret that zeroes itself (sodium_memzero) when destroyed.
struct SecretKey {
  std::array<uint8_t, 32> bytes{};
  SecretKey() = default;
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey();
  ByteView view() const { return ByteView(bytes.data(), bytes.size()); }
};

// The repository's master key: encryption key for the AEAD, MAC key for chunk IDs, and a
// seed for the chunker's gear table (so chunk boundaries do not leak content).
struct MasterKey {
  SecretKey encryption;
  SecretKey mac;
  SecretKey chunker_seed;

  static MasterKey Random();
  Bytes Serialize() const;  // 96 bytes
  static Result<MasterKey> Parse(ByteView data);
};

struct Argon2Params {
  uint64_t ops_limit = 3;            // iterations
  uint64_t mem_limit = 64ull << 20;  // bytes
  // Parallel lanes (RFC 9106's p), each filled by its own thread. Slots without the field are
  // p = 1, the form libsodium's crypto_pwhash computes; new slots use 2.
  uint32_t lanes = 1;
};
inline constexpr uint32_t kMaxArgonLanes = 16;

// Fills `out` with Argon2id v1.3 (passphrase, salt) (libargon2, `lanes` threads, its working
// memory in transparent huge pages where the kernel allows: on virtual machines where every
// 4 KiB page fault is expensive, that is most of the cost). salt must be 16 bytes.
Status DeriveKeyArgon2id(std::string_view passphrase, ByteView salt, const Argon2Params& params,
                         SecretKey& out);

// Cryptographically secure random bytes (libsodium randombytes_buf).
void RandomBytes(MutableByteView out);
Bytes RandomBytes(size_t n);

// Constant-time comparison.
bool ConstantTimeEqual(ByteView a, ByteView b);

}  // namespace bulwark::crypto

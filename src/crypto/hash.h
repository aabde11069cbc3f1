// Hashes: SHA-256 (object names, integrity of stored bytes) and HMAC-SHA-256 keyed chunk IDs.
// OpenSSL EVP uses the CPU's SHA extensions when present. Stateless functions and a
// streaming hasher object (one per thread).
#pragma once

#include <memory>

#include "core/bytes.h"
#include "crypto/keys.h"

namespace bulwark::crypto {

Id Sha256(ByteView data);

// Chunk ID: HMAC-SHA-256(mac_key, plaintext).
Id KeyedHash(const SecretKey& mac_key, ByteView data);

// Incremental SHA-256, for hashing data that arrives in pieces (packs, streams).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;
  void Update(ByteView data);
  // Returns the digest of everything since construction or the previous Finish, and resets.
  Id Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bulwark::crypto

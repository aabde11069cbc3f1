#include "crypto/keys.h"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

namespace bulwark::crypto {

namespace {

// sodium_init is itself idempotent, but call_once also makes the failure path (an
// unusable RNG) a single, early abort instead of undefined behaviour later.
void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

// Upper bounds for parameters read from a key slot: a tampered slot must not be able to make
// us allocate terabytes or spin for hours before the passphrase check fails.
constexpr uint64_t kMaxArgonMem = 4ull << 30;
constexpr uint64_t kMaxArgonOps = 64;

}  // namespace

SecretKey::~SecretKey() { sodium_memzero(bytes.data(), bytes.size()); }

MasterKey MasterKey::Random() {
  MasterKey k;
  RandomBytes(MutableByteView(k.encryption.bytes));
  RandomBytes(MutableByteView(k.mac.bytes));
  RandomBytes(MutableByteView(k.chunker_seed.bytes));
  return k;
}

Bytes MasterKey::Serialize() const {
  Bytes out;
  out.reserve(96);
  out.insert(out.end(), encryption.bytes.begin(), encryption.bytes.end());
  out.insert(out.end(), mac.bytes.begin(), mac.bytes.end());
  out.insert(out.end(), chunker_seed.bytes.begin(), chunker_seed.bytes.end());
  return out;
}

Result<MasterKey> MasterKey::Parse(ByteView data) {
  if (data.size() != 96) {
    return Error(ErrorCode::kIntegrity,
                 "master key has " + std::to_string(data.size()) + " bytes, expected 96");
  }
  MasterKey k;
  std::memcpy(k.encryption.bytes.data(), data.data(), 32);
  std::memcpy(k.mac.bytes.data(), data.data() + 32, 32);
  std::memcpy(k.chunker_seed.bytes.data(), data.data() + 64, 32);
  return k;
}

Status DeriveKeyArgon2id(std::string_view passphrase, ByteView salt, const Argon2Params& params,
                         SecretKey& out) {
  EnsureSodium();
  if (salt.size() != crypto_pwhash_SALTBYTES) {
    return Error(ErrorCode::kUsage,
                 "Argon2id salt must be " + std::to_string(crypto_pwhash_SALTBYTES) + " bytes");
  }
  if (params.ops_limit < crypto_pwhash_argon2id_OPSLIMIT_MIN || params.ops_limit > kMaxArgonOps ||
      params.mem_limit < crypto_pwhash_argon2id_MEMLIMIT_MIN || params.mem_limit > kMaxArgonMem) {
    return Error(ErrorCode::kUsage, "Argon2id parameters out of range (ops " +
                                        std::to_string(params.ops_limit) + ", memory " +
                                        std::to_string(params.mem_limit) + " bytes)");
  }
  if (crypto_pwhash(out.bytes.data(), out.bytes.size(), passphrase.data(), passphrase.size(),
                    salt.data(), params.ops_limit, static_cast<size_t>(params.mem_limit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Error(ErrorCode::kFailure, "Argon2id key derivation failed (out of memory?)");
  }
  return Status::Ok();
}

void RandomBytes(MutableByteView out) {
  EnsureSodium();
  randombytes_buf(out.data(), out.size());
}

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  RandomBytes(MutableByteView(out));
  return out;
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace bulwark::crypto

#include "crypto/keys.h"

#include <argon2.h>
#include <sodium.h>
#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <string>

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

// libargon2's working memory: an anonymous mapping advised into huge pages (a 64 MiB working
// set is 32 faults instead of 16,384). libargon2 wipes it before handing it back.
int AllocateArgonMemory(uint8_t** memory, size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return ARGON2_MEMORY_ALLOCATION_ERROR;
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP it is ordinary memory
  ::madvise(p, bytes, MADV_DONTDUMP);  // never in a core dump
  *memory = static_cast<uint8_t*>(p);
  return ARGON2_OK;
}

void FreeArgonMemory(uint8_t* memory, size_t bytes) { ::munmap(memory, bytes); }

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
  if (params.lanes < 1 || params.lanes > kMaxArgonLanes) {
    return Error(ErrorCode::kUsage,
                 "Argon2id lanes out of range (" + std::to_string(params.lanes) + ")");
  }
  argon2_context ctx{};
  ctx.out = out.bytes.data();
  ctx.outlen = static_cast<uint32_t>(out.bytes.size());
  // libargon2 takes a non-const pointer but only reads the password (no clear flag is set).
  ctx.pwd = reinterpret_cast<uint8_t*>(const_cast<char*>(passphrase.data()));
  ctx.pwdlen = static_cast<uint32_t>(passphrase.size());
  ctx.salt = const_cast<uint8_t*>(salt.data());
  ctx.saltlen = static_cast<uint32_t>(salt.size());
  ctx.t_cost = static_cast<uint32_t>(params.ops_limit);
  ctx.m_cost = static_cast<uint32_t>(params.mem_limit >> 10);  // KiB
  ctx.lanes = params.lanes;
  ctx.threads = params.lanes;
  ctx.version = ARGON2_VERSION_13;
  ctx.allocate_cbk = AllocateArgonMemory;
  ctx.free_cbk = FreeArgonMemory;
  ctx.flags = ARGON2_DEFAULT_FLAGS;
  const int rc = argon2_ctx(&ctx, Argon2_id);
  if (rc != ARGON2_OK) {
    return Error(ErrorCode::kFailure,
                 std::string("Argon2id key derivation failed: ") + argon2_error_message(rc));
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

#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>

namespace bulwark::crypto {

namespace {

// OpenSSL failing here means allocation failure or a broken installation; there is no
// meaningful way to continue hashing, and these functions are infallible by contract.
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "bulwark: fatal OpenSSL error: %s\n", what);
  std::abort();
}

// Algorithm objects are fetched once per process (provider lookups take a global lock and
// cost more than hashing a small object); function-local statics initialise thread-safely.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) Fatal("SHA256 unavailable");
    return m;
  }();
  return md;
}

EVP_MAC* HmacMac() {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) Fatal("HMAC unavailable");
    return m;
  }();
  return mac;
}

// One reusable context per thread: creating contexts per call would dominate small inputs.
struct ThreadMdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ThreadMdCtx() {
    if (ctx == nullptr) Fatal("EVP_MD_CTX_new");
  }
  ~ThreadMdCtx() { EVP_MD_CTX_free(ctx); }
};

struct ThreadMacCtx {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(HmacMac());
  ThreadMacCtx() {
    if (ctx == nullptr) Fatal("EVP_MAC_CTX_new");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) Fatal("HMAC digest");
  }
  ~ThreadMacCtx() { EVP_MAC_CTX_free(ctx); }
};

}  // namespace

Id Sha256(ByteView data) {
  thread_local ThreadMdCtx tl;
  Id id;
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(tl.ctx, Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(tl.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(tl.ctx, id.bytes.data(), &len) != 1 || len != 32) {
    Fatal("SHA256");
  }
  return id;
}

Id KeyedHash(const SecretKey& mac_key, ByteView data) {
  thread_local ThreadMacCtx tl;
  Id id;
  size_t len = 0;
  if (EVP_MAC_init(tl.ctx, mac_key.bytes.data(), mac_key.bytes.size(), nullptr) != 1 ||
      EVP_MAC_update(tl.ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(tl.ctx, id.bytes.data(), &len, id.bytes.size()) != 1 || len != 32) {
    Fatal("HMAC-SHA256");
  }
  return id;
}

struct Sha256Stream::Impl {
  EVP_MD_CTX* ctx = nullptr;
  Impl() {
    ctx = EVP_MD_CTX_new();
    if (ctx == nullptr || EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) Fatal("SHA256 init");
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256Stream::Sha256Stream() : impl_(std::make_unique<Impl>()) {}
Sha256Stream::~Sha256Stream() = default;
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;

void Sha256Stream::Update(ByteView data) {
  if (EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) != 1) Fatal("SHA256 update");
}

// Finish also re-arms the stream, so one object can hash several messages in turn.
Id Sha256Stream::Finish() {
  Id id;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, id.bytes.data(), &len) != 1 || len != 32 ||
      EVP_DigestInit_ex2(impl_->ctx, Sha256Md(), nullptr) != 1) {
    Fatal("SHA256 final");
  }
  return id;
}

}  // namespace bulwark::crypto

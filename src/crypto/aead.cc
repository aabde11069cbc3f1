#include "crypto/aead.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "crypto/hash.h"

namespace bulwark::crypto {

namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kSaltSize = 32;
constexpr size_t kTagSize = 16;
constexpr size_t kNonceSize = 12;
constexpr std::string_view kSubkeyLabel = "bulwark-aead-v1";
// Every subkey encrypts exactly one message, so a constant nonce never repeats for a key.
constexpr uint8_t kZeroNonce[kNonceSize] = {};

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "bulwark: fatal OpenSSL error: %s\n", what);
  std::abort();
}

const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (c == nullptr) Fatal("AES-256-GCM unavailable");
    return c;
  }();
  return cipher;
}

struct ThreadCipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ThreadCipherCtx() {
    if (ctx == nullptr) Fatal("EVP_CIPHER_CTX_new");
  }
  ~ThreadCipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

EVP_CIPHER_CTX* CipherCtx() {
  thread_local ThreadCipherCtx tl;
  return tl.ctx;
}

SecretKey DeriveSubkey(const SecretKey& key, const uint8_t* salt) {
  uint8_t input[kSubkeyLabel.size() + kSaltSize];
  std::memcpy(input, kSubkeyLabel.data(), kSubkeyLabel.size());
  std::memcpy(input + kSubkeyLabel.size(), salt, kSaltSize);
  Id mac = KeyedHash(key, ByteView(input, sizeof(input)));
  SecretKey sub;
  sub.bytes = mac.bytes;
  sodium_memzero(mac.bytes.data(), mac.bytes.size());
  return sub;
}

// GCM's associated data is the version byte followed by the caller's associated data; the
// salt needs no separate binding because it selects the subkey.
bool SetAad(EVP_CIPHER_CTX* ctx, ByteView associated_data, bool encrypt) {
  int outl = 0;
  auto update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  if (update(ctx, nullptr, &outl, &kVersion, 1) != 1) return false;
  if (!associated_data.empty() && update(ctx, nullptr, &outl, associated_data.data(),
                                         static_cast<int>(associated_data.size())) != 1) {
    return false;
  }
  return true;
}

// EVP takes int lengths; feed large buffers in pieces.
constexpr size_t kMaxPiece = 1u << 30;

}  // namespace

void SealAppend(const SecretKey& key, ByteView plaintext, ByteView associated_data, Bytes& out) {
  const size_t base = out.size();
  out.resize(base + kSealOverhead + plaintext.size());
  uint8_t* p = out.data() + base;
  p[0] = kVersion;
  RandomBytes(MutableByteView(p + 1, kSaltSize));
  SecretKey sub = DeriveSubkey(key, p + 1);

  EVP_CIPHER_CTX* ctx = CipherCtx();
  if (EVP_EncryptInit_ex2(ctx, Aes256Gcm(), sub.bytes.data(), kZeroNonce, nullptr) != 1) {
    Fatal("GCM encrypt init");
  }
  if (!SetAad(ctx, associated_data, true)) Fatal("GCM aad");
  uint8_t* ct = p + 1 + kSaltSize;
  size_t done = 0;
  while (done < plaintext.size()) {
    size_t n = std::min(kMaxPiece, plaintext.size() - done);
    int outl = 0;
    if (EVP_EncryptUpdate(ctx, ct + done, &outl, plaintext.data() + done, static_cast<int>(n)) !=
            1 ||
        static_cast<size_t>(outl) != n) {
      Fatal("GCM encrypt");
    }
    done += n;
  }
  int outl = 0;
  if (EVP_EncryptFinal_ex(ctx, ct + done, &outl) != 1 || outl != 0) Fatal("GCM final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, ct + done) != 1) Fatal("GCM tag");
}

Bytes Seal(const SecretKey& key, ByteView plaintext, ByteView associated_data) {
  Bytes out;
  SealAppend(key, plaintext, associated_data, out);
  return out;
}

Result<Bytes> Open(const SecretKey& key, ByteView sealed, ByteView associated_data) {
  Bytes plain;
  BW_ASSIGN_OR_RETURN(ByteView view, OpenInto(key, sealed, associated_data, plain));
  plain.resize(view.size());
  return plain;
}

Result<ByteView> OpenInto(const SecretKey& key, ByteView sealed, ByteView associated_data,
                          Bytes& buffer) {
  if (sealed.size() < kSealOverhead) {
    return Error(ErrorCode::kIntegrity,
                 "encrypted object truncated (" + std::to_string(sealed.size()) + " bytes)");
  }
  if (sealed[0] != kVersion) {
    return Error(ErrorCode::kIntegrity,
                 "encrypted object has unknown version " + std::to_string(sealed[0]));
  }
  SecretKey sub = DeriveSubkey(key, sealed.data() + 1);
  const size_t ct_len = sealed.size() - kSealOverhead;
  const uint8_t* ct = sealed.data() + 1 + kSaltSize;
  const uint8_t* tag = ct + ct_len;

  EVP_CIPHER_CTX* ctx = CipherCtx();
  if (EVP_DecryptInit_ex2(ctx, Aes256Gcm(), sub.bytes.data(), kZeroNonce, nullptr) != 1) {
    Fatal("GCM decrypt init");
  }
  if (!SetAad(ctx, associated_data, false)) Fatal("GCM aad");
  if (buffer.size() < ct_len) buffer.resize(ct_len);
  uint8_t* plain = buffer.data();
  size_t done = 0;
  while (done < ct_len) {
    size_t n = std::min(kMaxPiece, ct_len - done);
    int outl = 0;
    if (EVP_DecryptUpdate(ctx, plain + done, &outl, ct + done, static_cast<int>(n)) != 1) {
      Fatal("GCM decrypt");
    }
    done += n;
  }
  // The tag ctrl takes a non-const pointer but only reads it.
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, const_cast<uint8_t*>(tag)) != 1) {
    Fatal("GCM set tag");
  }
  int outl = 0;
  if (EVP_DecryptFinal_ex(ctx, plain + done, &outl) != 1) {
    sodium_memzero(plain, ct_len);
    return Error(ErrorCode::kIntegrity,
                 "authentication failed (wrong key, or the object was modified or truncated)");
  }
  return ByteView(plain, ct_len);
}

}  // namespace bulwark::crypto

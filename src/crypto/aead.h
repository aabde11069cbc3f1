// Authenticated encryption of repository objects with AES-256-GCM (OpenSSL EVP).
// Each sealed message uses a fresh 32-byte random salt to derive a one-time subkey
// (HMAC-SHA-256(key, "bulwark-aead-v1" || salt)), so a (key, nonce) pair is never reused no
// matter how many messages a repository holds. Stateless functions; safe from any thread.
#pragma once

#include "core/bytes.h"
#include "core/result.h"
#include "crypto/keys.h"

namespace bulwark::crypto {

// Sealed layout: version (1 byte, = 1) | salt (32) | ciphertext | GCM tag (16).
// GCM runs under the subkey with a 12-byte all-zero nonce (each subkey encrypts one message)
// and GCM associated data = version byte || associated_data.
inline constexpr size_t kSealOverhead = 1 + 32 + 16;

// Encrypts `plaintext`, binding `associated_data` (not stored) into the tag.
Bytes Seal(const SecretKey& key, ByteView plaintext, ByteView associated_data = {});
// Appends the sealed form to `out` (avoids a copy when building packs). `plaintext` must not
// point into `out`, which may reallocate.
void SealAppend(const SecretKey& key, ByteView plaintext, ByteView associated_data, Bytes& out);

// Decrypts and authenticates. Any modification, truncation or wrong key gives kIntegrity.
Result<Bytes> Open(const SecretKey& key, ByteView sealed, ByteView associated_data = {});
// Open into `buffer`, which is grown when too small and never shrunk, so a buffer a thread
// keeps is reused without reallocating or zero-filling; returns the plaintext as a view into
// it (valid until the buffer is next changed).
Result<ByteView> OpenInto(const SecretKey& key, ByteView sealed, ByteView associated_data,
                          Bytes& buffer);

}  // namespace bulwark::crypto

// Pack format: many sealed blobs followed by a sealed header and its length, stored under
// data/xx/<sha256 of the pack>. PackBuilder assembles one pack in memory (one thread);
// the parse functions are pure and safe from any thread.
#pragma once

#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "crypto/keys.h"
#include "repo/index.h"
#include "storage/backend.h"

namespace bulwark::repo {

// Blob plaintext framing before sealing: 1 byte (0 = raw, 1 = zstd) + payload.
// Associated data binds each sealed blob to its type and ID.
Bytes BlobAssociatedData(BlobType type, const Id& id);

// Compresses (when it pays) and seals one blob, appending to `out`. Returns sealed length.
size_t EncodeBlob(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView plaintext,
                  int zstd_level, Bytes& out);
// Opens, decompresses and length-checks one sealed blob (kIntegrity on any mismatch).
// raw_length = kUnknownRawLength skips the length check (the caller checks the hash).
// Does not verify the keyed hash (Repository::LoadBlob/DecodeBlob do).
inline constexpr uint32_t kUnknownRawLength = UINT32_MAX;
Result<Bytes> DecodeBlob(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView sealed,
                         uint32_t raw_length);
// Buffers one thread reuses across DecodeBlobInto calls (grown as needed, never shrunk), so
// a restore decodes without allocating or zero-filling per blob.
struct DecodeBuffers {
  Bytes opened;    // decrypted frame
  Bytes inflated;  // decompressed payload
};
// DecodeBlob into `buffers`; the returned view points into them and stays valid until they
// are next used.
Result<ByteView> DecodeBlobInto(const crypto::SecretKey& key, BlobType type, const Id& id,
                                ByteView sealed, uint32_t raw_length, DecodeBuffers& buffers);
// DecodeBlob straight into `dest`, whose size is the blob's indexed raw length (a restore
// assembles consecutive blobs of a file in one buffer and writes them with one call).
Status DecodeBlobTo(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView sealed,
                    MutableByteView dest, DecodeBuffers& buffers);

class PackBuilder {
 public:
  // `buffer`: memory of a pack already stored, reused (its contents are dropped). Fresh
  // memory costs a page fault per 4 KiB on first touch, a noticeable part of a backup.
  explicit PackBuilder(const crypto::SecretKey* key, Bytes buffer = {})
      : key_(key), data_(std::move(buffer)) {
    data_.clear();
  }
  // Appends an already sealed blob.
  void AddSealed(BlobType type, const Id& id, ByteView sealed, uint32_t raw_length);
  void Reserve(size_t bytes) { data_.reserve(bytes); }
  size_t size() const { return data_.size(); }
  size_t count() const { return blobs_.size(); }
  // Appends the sealed header; returns the pack bytes and its entries (pack ID filled in).
  std::pair<Bytes, IndexedPack> Finish();

 private:
  const crypto::SecretKey* key_;
  Bytes data_;
  std::vector<IndexedBlob> blobs_;
};

// Reads the header from the last bytes of a pack (the whole pack, or a tail that contains
// the header): checks lengths, decrypts, and validates every entry against pack_size.
Result<std::vector<IndexedBlob>> ParsePackHeader(const crypto::SecretKey& key, ByteView tail,
                                                 uint64_t pack_size);
// How many trailing bytes to fetch to be likely to get the whole header in one read.
inline constexpr size_t kPackTailGuess = 64 * 1024;

// Fetches and parses the header of a stored pack (Stat, a tail read, and a second read if the
// header is larger than kPackTailGuess). Errors name the pack.
Result<std::vector<IndexedBlob>> ReadPackHeader(storage::Backend& backend,
                                                const crypto::SecretKey& key, const Id& pack);

}  // namespace bulwark::repo

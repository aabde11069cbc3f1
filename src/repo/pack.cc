#include "repo/pack.h"

#include <zstd.h>

#include <cstring>
#include <memory>

#include "crypto/aead.h"
#include "crypto/hash.h"

namespace bulwark::repo {

namespace {

constexpr std::string_view kHeaderAad = "bulwark-pack-header";
constexpr uint8_t kHeaderVersion = 1;
constexpr uint8_t kFrameRaw = 0;
constexpr uint8_t kFrameZstd = 1;
// Without a known length, refuse to inflate a blob beyond this (a forged frame header could
// otherwise ask for any size). Real blobs are chunks (a few MiB) and trees.
constexpr uint64_t kMaxUnknownRawLength = 1ull << 30;
// Per-entry minimum in the header plaintext: type (1) + ID (32) + two 1-byte varints.
constexpr size_t kMinHeaderEntry = 1 + 32 + 1 + 1;

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// One compression context and scratch buffer per thread: contexts are expensive to create
// (hundreds of KiB of tables) and the pipeline calls EncodeBlob from a fixed set of workers.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

Error Corrupt(const std::string& what) { return Error(ErrorCode::kIntegrity, what); }

}  // namespace

Bytes BlobAssociatedData(BlobType type, const Id& id) {
  Bytes aad = ToBytes("bulwark-blob");
  aad.push_back(static_cast<uint8_t>(type));
  aad.insert(aad.end(), id.bytes.begin(), id.bytes.end());
  return aad;
}

size_t EncodeBlob(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView plaintext,
                  int zstd_level, Bytes& out) {
  thread_local Bytes framed;
  const size_t n = plaintext.size();
  framed.resize(1 + n);
  bool compressed = false;
  // Compressing into a buffer 3% smaller than the input makes zstd give up early on data that
  // does not compress, instead of producing output we would throw away.
  const size_t limit = n - n / 32;
  if (n >= 64) {
    ZSTD_CCtx* cctx = ThreadCCtx();
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, zstd_level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    // 4 bytes of XXH64 of the plaintext, checked by every decompression: restores, which
    // rely on the authentication tag instead of rehashing, still check what zstd produced.
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    size_t c = ZSTD_compress2(cctx, framed.data() + 1, limit, plaintext.data(), n);
    if (!ZSTD_isError(c) && c < limit) {
      framed[0] = kFrameZstd;
      framed.resize(1 + c);
      compressed = true;
    }
  }
  if (!compressed) {
    framed[0] = kFrameRaw;
    if (n > 0) std::memcpy(framed.data() + 1, plaintext.data(), n);
  }
  const size_t before = out.size();
  crypto::SealAppend(key, framed, BlobAssociatedData(type, id), out);
  if (framed.capacity() > (16u << 20)) Bytes().swap(framed);  // a huge tree blob passed by
  return out.size() - before;
}

namespace {

// Decrypts and inflates a blob. With `dest` (exactly raw_length bytes) the plaintext is
// written there, so a caller assembling a larger buffer needs no extra copy; otherwise it
// goes to `buffers`. The returned view points at the plaintext.
Result<ByteView> Decode(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView sealed,
                        uint32_t raw_length, DecodeBuffers& buffers, MutableByteView* dest) {
  BW_ASSIGN_OR_RETURN(ByteView plain,
                      crypto::OpenInto(key, sealed, BlobAssociatedData(type, id), buffers.opened));
  if (plain.empty()) return Corrupt("empty blob frame");
  if (plain[0] == kFrameRaw) {
    if (raw_length != kUnknownRawLength && plain.size() - 1 != raw_length)
      return Corrupt("blob length " + std::to_string(plain.size() - 1) + " != indexed " +
                     std::to_string(raw_length));
    if (dest == nullptr) return plain.subspan(1);
    if (raw_length > 0) std::memcpy(dest->data(), plain.data() + 1, raw_length);
    return ByteView(dest->data(), raw_length);
  }
  if (plain[0] != kFrameZstd) return Corrupt("unknown blob frame type");
  ByteView z = plain.subspan(1);
  unsigned long long size = ZSTD_getFrameContentSize(z.data(), z.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
    return Corrupt("bad compressed frame");
  if (raw_length != kUnknownRawLength ? size != raw_length : size > kMaxUnknownRawLength)
    return Corrupt("compressed blob size " + std::to_string(size) + " is not the indexed " +
                   std::to_string(raw_length));
  uint8_t* out = dest != nullptr ? dest->data() : nullptr;
  if (out == nullptr) {
    if (buffers.inflated.size() < size) buffers.inflated.resize(size);
    out = buffers.inflated.data();
  }
  size_t got = ZSTD_decompressDCtx(ThreadDCtx(), out, size, z.data(), z.size());
  if (ZSTD_isError(got) || got != size)
    return Corrupt(std::string("decompression failed: ") +
                   (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output"));
  return ByteView(out, size);
}

}  // namespace

Result<ByteView> DecodeBlobInto(const crypto::SecretKey& key, BlobType type, const Id& id,
                                ByteView sealed, uint32_t raw_length, DecodeBuffers& buffers) {
  return Decode(key, type, id, sealed, raw_length, buffers, nullptr);
}

Status DecodeBlobTo(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView sealed,
                    MutableByteView dest, DecodeBuffers& buffers) {
  if (dest.size() >= kUnknownRawLength) return Corrupt("blob destination too large");
  auto plain = Decode(key, type, id, sealed, static_cast<uint32_t>(dest.size()), buffers, &dest);
  if (!plain.ok()) return plain.error();
  return Status::Ok();
}

Result<Bytes> DecodeBlob(const crypto::SecretKey& key, BlobType type, const Id& id, ByteView sealed,
                         uint32_t raw_length) {
  DecodeBuffers buffers;
  BW_ASSIGN_OR_RETURN(ByteView plain, DecodeBlobInto(key, type, id, sealed, raw_length, buffers));
  if (!plain.empty() && plain.data() == buffers.inflated.data()) {
    buffers.inflated.resize(plain.size());
    return std::move(buffers.inflated);
  }
  return Bytes(plain.begin(), plain.end());
}

void PackBuilder::AddSealed(BlobType type, const Id& id, ByteView sealed, uint32_t raw_length) {
  IndexedBlob b{type, id, static_cast<uint32_t>(data_.size()), static_cast<uint32_t>(sealed.size()),
                raw_length};
  data_.insert(data_.end(), sealed.begin(), sealed.end());
  blobs_.push_back(b);
}

std::pair<Bytes, IndexedPack> PackBuilder::Finish() {
  Bytes header;
  header.reserve(2 + blobs_.size() * 42);
  header.push_back(kHeaderVersion);
  PutVarint(header, blobs_.size());
  for (const auto& b : blobs_) {
    header.push_back(static_cast<uint8_t>(b.type));
    header.insert(header.end(), b.id.bytes.begin(), b.id.bytes.end());
    PutVarint(header, b.length);
    PutVarint(header, b.raw_length);
  }
  const size_t before = data_.size();
  crypto::SealAppend(*key_, header, AsBytes(kHeaderAad), data_);
  PutU32(data_, static_cast<uint32_t>(data_.size() - before));
  IndexedPack pack{crypto::Sha256(data_), std::move(blobs_)};
  blobs_.clear();
  Bytes data = std::move(data_);
  data_.clear();
  return {std::move(data), std::move(pack)};
}

Result<std::vector<IndexedBlob>> ParsePackHeader(const crypto::SecretKey& key, ByteView tail,
                                                 uint64_t pack_size) {
  if (tail.size() > pack_size) return Corrupt("pack tail longer than the pack");
  if (tail.size() < 4) return Corrupt("pack too short for a header");
  ByteReader len_reader(tail.subspan(tail.size() - 4));
  uint32_t hlen = 0;
  (void)len_reader.ReadU32(hlen);
  if (hlen < crypto::kSealOverhead || uint64_t{hlen} + 4 > pack_size)
    return Corrupt("pack header length " + std::to_string(hlen) + " out of range");
  if (uint64_t{hlen} + 4 > tail.size())
    return Corrupt("pack header (" + std::to_string(hlen) + " bytes) not within the given tail");
  ByteView sealed = tail.subspan(tail.size() - 4 - hlen, hlen);
  auto plain = crypto::Open(key, sealed, AsBytes(kHeaderAad));
  if (!plain.ok()) return plain.error().Wrap("pack header");
  ByteReader r(*plain);
  uint8_t version = 0;
  uint64_t count = 0;
  if (!r.ReadU8(version) || version != kHeaderVersion) return Corrupt("pack header version");
  if (!r.ReadVarint(count) || count > r.remaining() / kMinHeaderEntry)
    return Corrupt("pack header blob count");
  const uint64_t data_size = pack_size - 4 - hlen;
  std::vector<IndexedBlob> blobs;
  blobs.reserve(count);
  uint64_t offset = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    IndexedBlob b{};
    uint64_t length = 0, raw = 0;
    if (!r.ReadU8(type) || !r.ReadId(b.id) || !r.ReadVarint(length) || !r.ReadVarint(raw))
      return Corrupt("pack header truncated");
    if (type > static_cast<uint8_t>(BlobType::kTree)) return Corrupt("pack header blob type");
    if (length < crypto::kSealOverhead + 1 || raw > UINT32_MAX || length > data_size - offset)
      return Corrupt("pack header entry " + std::to_string(i) + " out of range");
    b.type = static_cast<BlobType>(type);
    b.offset = static_cast<uint32_t>(offset);
    b.length = static_cast<uint32_t>(length);
    b.raw_length = static_cast<uint32_t>(raw);
    offset += length;
    if (offset > UINT32_MAX) return Corrupt("pack larger than 4 GiB");
    blobs.push_back(b);
  }
  if (!r.AtEnd()) return Corrupt("trailing bytes in pack header");
  if (offset != data_size) return Corrupt("pack header does not cover the pack's data");
  return blobs;
}

Result<std::vector<IndexedBlob>> ReadPackHeader(storage::Backend& backend,
                                                const crypto::SecretKey& key, const Id& pack) {
  const std::string name = PackKey(pack);
  auto wrap = [&](const Error& e) { return e.Wrap("pack " + pack.ShortHex()); };
  auto info = backend.Stat(name);
  if (!info.ok()) return wrap(info.error());
  const uint64_t size = info->size;
  uint64_t want = std::min<uint64_t>(size, kPackTailGuess);
  auto tail = backend.GetRange(name, size - want, want);
  if (!tail.ok()) return wrap(tail.error());
  if (tail->size() >= 4) {
    ByteReader len_reader(ByteView(*tail).subspan(tail->size() - 4));
    uint32_t hlen = 0;
    (void)len_reader.ReadU32(hlen);
    if (uint64_t{hlen} + 4 > want && uint64_t{hlen} + 4 <= size) {
      want = uint64_t{hlen} + 4;
      tail = backend.GetRange(name, size - want, want);
      if (!tail.ok()) return wrap(tail.error());
    }
  }
  auto blobs = ParsePackHeader(key, *tail, size);
  if (!blobs.ok()) return wrap(blobs.error());
  return blobs;
}

}  // namespace bulwark::repo

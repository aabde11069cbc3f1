#include "chunk/chunker.h"

#include <bit>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "crypto/hash.h"

namespace bulwark::chunk {

namespace {

constexpr std::string_view kGearLabel = "bulwark-gear-v1";

// Masks select the top bits of the gear hash: bit 63 depends on the last 64 bytes, so the
// top bits see the widest window. Normalized chunking (FastCDC level 2): two more bits
// before avg_size make early cuts rarer, two fewer after it make late cuts likelier, which
// narrows the size distribution around avg_size.
uint64_t TopBits(int n) {
  if (n <= 0) return 0;
  if (n >= 64) return ~uint64_t{0};
  return ~uint64_t{0} << (64 - n);
}

}  // namespace

GearTable MakeGearTable(ByteView seed) {
  // SHA-256 in counter mode: entry block k = SHA-256(label || seed || u32le(k)); each block
  // gives four 64-bit little-endian entries.
  GearTable table{};
  Bytes input(kGearLabel.size() + seed.size() + 4);
  std::memcpy(input.data(), kGearLabel.data(), kGearLabel.size());
  if (!seed.empty()) std::memcpy(input.data() + kGearLabel.size(), seed.data(), seed.size());
  uint8_t* counter = input.data() + kGearLabel.size() + seed.size();
  for (uint32_t block = 0; block < 256 / 4; ++block) {
    for (int b = 0; b < 4; ++b) counter[b] = static_cast<uint8_t>(block >> (8 * b));
    Id digest = crypto::Sha256(input);
    for (int j = 0; j < 4; ++j) {
      uint64_t v = 0;
      for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(digest.bytes[8 * j + b]) << (8 * b);
      table[block * 4 + j] = v;
    }
  }
  return table;
}

size_t FindBoundary(const GearTable& gear, const ChunkerParams& params, ByteView data) {
  size_t n = data.size();
  if (n <= params.min_size) return n;
  if (n > params.max_size) n = params.max_size;
  const int bits = std::bit_width(params.avg_size) - 1;  // avg_size is a power of two
  const uint64_t mask_small = TopBits(bits + 2);
  const uint64_t mask_large = TopBits(bits - 2);
  size_t normal = params.avg_size;
  if (normal > n) normal = n;

  const uint8_t* p = data.data();
  uint64_t h = 0;
  size_t i = params.min_size;
  // Nothing before min_size can be a cut, so hashing starts there; the hash's 64-byte window
  // fills within the first 64 bytes, well before any cut is likely.
  for (; i < normal; ++i) {
    h = (h << 1) + gear[p[i]];
    if ((h & mask_small) == 0) return i + 1;
  }
  for (; i < n; ++i) {
    h = (h << 1) + gear[p[i]];
    if ((h & mask_large) == 0) return i + 1;
  }
  return n;
}

StreamChunker::StreamChunker(const GearTable* gear, ChunkerParams params, ReadFn read)
    : gear_(gear), params_(params), read_(std::move(read)), buf_(size_t{params.max_size} * 2) {
  assert(params_.min_size <= params_.avg_size && params_.avg_size <= params_.max_size);
  assert(std::has_single_bit(params_.avg_size));
}

// Tops the buffer up so that at least max_size bytes are available (or the stream ended),
// which is what FindBoundary needs to decide a cut the same way regardless of read sizes.
bool StreamChunker::Fill() {
  if (start_ > 0) {
    std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  while (!eof_ && end_ < buf_.size()) {
    ssize_t n = read_(MutableByteView(buf_.data() + end_, buf_.size() - end_));
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = errno != 0 ? errno : EIO;
      return false;
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    end_ += static_cast<size_t>(n);
    if (end_ - start_ >= params_.max_size) break;
  }
  return true;
}

bool StreamChunker::Next(ByteView& chunk) {
  if (error_ != 0) return false;
  if (!eof_ && end_ - start_ < params_.max_size) {
    if (!Fill()) return false;
  }
  if (start_ == end_) return false;
  size_t len = FindBoundary(*gear_, params_, ByteView(buf_.data() + start_, end_ - start_));
  chunk = ByteView(buf_.data() + start_, len);
  start_ += len;
  return true;
}

}  // namespace bulwark::chunk

#include "core/bytes.h"

#include <algorithm>
#include <cassert>

namespace bulwark {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string HexEncode(ByteView data) {
  std::string out(data.size() * 2, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0x0f];
  }
  return out;
}

std::optional<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

std::optional<Id> Id::FromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto bytes = HexDecode(hex);
  if (!bytes) return std::nullopt;
  return FromBytes(*bytes);
}

Id Id::FromBytes(ByteView b) {
  assert(b.size() == 32);
  Id id;
  std::memcpy(id.bytes.data(), b.data(), std::min(b.size(), id.bytes.size()));
  return id;
}

bool Id::IsZero() const {
  uint8_t acc = 0;
  for (uint8_t b : bytes) acc |= b;
  return acc == 0;
}

void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void PutU64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void PutVarint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void PutLengthPrefixed(Bytes& out, ByteView data) {
  PutVarint(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
}

// A failed reader stays failed: callers may check failed() once after a series of reads.
bool ByteReader::ReadU8(uint8_t& v) {
  if (failed_ || remaining() < 1) return failed_ = true, false;
  v = data_[pos_++];
  return true;
}

bool ByteReader::ReadU32(uint32_t& v) {
  if (failed_ || remaining() < 4) return failed_ = true, false;
  v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 4;
  return true;
}

bool ByteReader::ReadU64(uint64_t& v) {
  if (failed_ || remaining() < 8) return failed_ = true, false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 8;
  return true;
}

// Canonical LEB128 only: at most 10 bytes, no bits beyond 64, no redundant trailing zero
// byte. Rejecting non-canonical forms keeps one value = one encoding, so hashed or signed
// encodings cannot be varied by an attacker.
bool ByteReader::ReadVarint(uint64_t& v) {
  if (failed_) return false;
  uint64_t result = 0;
  size_t p = pos_;
  for (int i = 0; i < 10; ++i) {
    if (p >= data_.size()) return failed_ = true, false;
    uint8_t b = data_[p++];
    if (i == 9 && b > 1) return failed_ = true, false;  // would overflow 64 bits
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) return failed_ = true, false;  // overlong encoding
      v = result;
      pos_ = p;
      return true;
    }
  }
  return failed_ = true, false;
}

bool ByteReader::ReadBytes(size_t n, ByteView& out) {
  if (failed_ || remaining() < n) return failed_ = true, false;
  out = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}

bool ByteReader::ReadLengthPrefixed(ByteView& out, size_t max_len) {
  uint64_t len;
  if (!ReadVarint(len)) return false;
  if (len > max_len || len > remaining()) return failed_ = true, false;
  return ReadBytes(static_cast<size_t>(len), out);
}

bool ByteReader::ReadId(Id& id) {
  ByteView b;
  if (!ReadBytes(32, b)) return false;
  std::memcpy(id.bytes.data(), b.data(), 32);
  return true;
}

}  // namespace bulwark

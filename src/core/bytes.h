// Byte buffers and 32-byte identifiers shared by every layer.
// Value types; not synchronised. Hex helpers are pure functions, safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;
using MutableByteView = std::span<uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsString(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string HexEncode(ByteView data);
std::optional<Bytes> HexDecode(std::string_view hex);

// A 256-bit identifier: chunk IDs (keyed hash of plaintext) and object names (SHA-256 of
// stored bytes).
struct Id {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const { return HexEncode(ByteView(bytes.data(), bytes.size())); }
  std::string ShortHex() const { return Hex().substr(0, 8); }
  static std::optional<Id> FromHex(std::string_view hex);
  static Id FromBytes(ByteView b);  // b.size() must be 32
  bool IsZero() const;

  auto operator<=>(const Id&) const = default;
  bool operator==(const Id&) const = default;
};

struct IdHash {
  size_t operator()(const Id& id) const {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof(h));  // IDs are uniformly random already
    return h;
  }
};

// Little-endian fixed-width and LEB128 varint encoding for the binary repository formats.
void PutU32(Bytes& out, uint32_t v);
void PutU64(Bytes& out, uint64_t v);
void PutVarint(Bytes& out, uint64_t v);
void PutLengthPrefixed(Bytes& out, ByteView data);  // varint length + bytes

// Cursor over a byte range for parsing untrusted input: every read is bounds-checked and
// returns false (leaving the reader failed) instead of reading past the end.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}
  bool ReadU8(uint8_t& v);
  bool ReadU32(uint32_t& v);
  bool ReadU64(uint64_t& v);
  bool ReadVarint(uint64_t& v);
  bool ReadBytes(size_t n, ByteView& out);
  bool ReadLengthPrefixed(ByteView& out, size_t max_len = SIZE_MAX);
  bool ReadId(Id& id);
  size_t remaining() const { return data_.size() - pos_; }
  bool failed() const { return failed_; }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  ByteView data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace bulwark

// Streaming structural parser of Redis RDB files (versions 9-11, as written by Redis 5 to
// 7.2): header, every opcode, every value type and string/length encoding (LZF strings are
// decompressed and their length checked), and the trailing CRC-64. It never holds more than
// one value in memory. One parser per stream, used by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::sources::redis {

inline constexpr int kMinRdbVersion = 9;
inline constexpr int kMaxRdbVersion = 11;

// Where the parser pulls bytes from. Read fills up to buf.size() bytes and returns how many
// (0 = end of stream) or an error (which the parser passes on unchanged).
class RdbSource {
 public:
  virtual ~RdbSource() = default;
  virtual Result<size_t> Read(MutableByteView buf) = 0;
};

struct RdbInfo {
  int version = 0;
  std::map<std::string, std::string> aux;    // redis-ver, redis-bits, ctime, used-mem, ...
  std::map<uint64_t, uint64_t> keys_per_db;  // only databases holding keys
  uint64_t keys = 0;
  uint64_t keys_with_expiry = 0;
  uint64_t bytes = 0;     // the whole file, checksum included
  uint64_t checksum = 0;  // as stored; 0 means the server had rdbchecksum off
  bool checksum_verified = false;
};

// Reads one RDB from `source` to its end. Errors (kFailure) name the byte offset and what
// was wrong: bad magic, unsupported version, unknown opcode or type, a malformed encoding, a
// checksum mismatch, bytes after the checksum, or "ends after N bytes" when it is cut short.
Result<RdbInfo> ParseRdb(RdbSource& source);

// Source over a file descriptor (restored files, tests).
class FdRdbSource : public RdbSource {
 public:
  explicit FdRdbSource(int fd) : fd_(fd) {}
  Result<size_t> Read(MutableByteView buf) override;

 private:
  int fd_;
};

// Source over bytes in memory (tests).
class MemoryRdbSource : public RdbSource {
 public:
  explicit MemoryRdbSource(ByteView data) : data_(data) {}
  Result<size_t> Read(MutableByteView buf) override;

 private:
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace bulwark::sources::redis

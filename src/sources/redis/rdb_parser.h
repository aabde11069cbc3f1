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

// One key as the RDB stores it, for a visitor that replays the keyspace (RESTORE takes the
// value in exactly this serialisation, followed by the RDB version and a CRC-64).
struct RdbEntry {
  uint64_t db = 0;
  int64_t expire_ms = -1;     // absolute unix time in ms; -1: no expiry
  int64_t idle_seconds = -1;  // LRU idle time when the RDB has it; -1: none
  int freq = -1;              // LFU frequency when the RDB has it; -1: none
  uint8_t type = 0;           // RDB value type
  std::string key;            // decoded
  ByteView value;             // the value's serialisation (valid during the call)
};

// Receives the keyspace while the parser reads it, one key at a time, from the parser's thread.
// An error stops the parse and is returned by ParseRdb unchanged.
class RdbVisitor {
 public:
  virtual ~RdbVisitor() = default;
  // After the header, before any entry.
  virtual Status OnStart(int rdb_version) = 0;
  virtual Status OnEntry(const RdbEntry& entry) = 0;
  // A function library (Redis 7): the library code in its RDB string serialisation.
  virtual Status OnFunction(ByteView serialized) = 0;
};

// Reads one RDB from `source` to its end. Errors (kFailure) name the byte offset and what
// was wrong: bad magic, unsupported version, unknown opcode or type, a malformed encoding, a
// checksum mismatch, bytes after the checksum, or "ends after N bytes" when it is cut short.
// With a visitor, it is called for every key and function before the checksum is checked (it
// holds one value in memory at a time).
Result<RdbInfo> ParseRdb(RdbSource& source, RdbVisitor* visitor = nullptr);

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

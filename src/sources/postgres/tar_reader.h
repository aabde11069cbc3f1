// TarReader: a streaming (push) parser of tar archives as PostgreSQL's BASE_BACKUP sends them:
// ustar headers of 512 bytes for regular files, directories and symbolic links, file data padded
// to 512 bytes, optionally ended by zero blocks. Long names are understood in the three usual
// encodings (ustar prefix field, GNU 'L'/'K' records, pax 'x' records); sizes in octal or GNU
// base-256. Memory is bounded (one header plus at most kMaxLongName of name) whatever the
// archive's size: file data is handed to the visitor as it arrives. One reader per archive,
// used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::sources::postgres {

struct TarEntry {
  enum class Type { kFile, kDir, kSymlink };
  Type type = Type::kFile;
  std::string path;         // relative, normalised: no "./" prefix, no trailing '/'
  std::string link_target;  // kSymlink
  uint32_t mode = 0;        // permission bits (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string uname;
  std::string gname;
  int64_t mtime = 0;  // seconds since the epoch
  uint64_t size = 0;  // data bytes that follow (kFile only)
};

// Receives the entries of an archive in order. For a kFile entry, OnData is called with its
// data in pieces (none for an empty file) and then OnFileEnd; directories and symlinks get only
// OnEntry. A non-ok Status stops the reader and is returned by Feed.
class TarVisitor {
 public:
  virtual ~TarVisitor() = default;
  virtual Status OnEntry(const TarEntry& entry) = 0;
  virtual Status OnData(ByteView data) = 0;
  virtual Status OnFileEnd() = 0;
};

class TarReader {
 public:
  // Longest name (or link target) accepted from a GNU or pax long-name record.
  static constexpr size_t kMaxLongName = 64 * 1024;

  explicit TarReader(TarVisitor& visitor) : visitor_(visitor) {}

  // Consumes the next bytes of the archive, in pieces of any size. kFailure for a malformed
  // archive (bad header checksum, unsupported entry type, unsafe path); the visitor's errors as
  // they are. After an error the reader must not be fed again.
  Status Feed(ByteView data);
  // The archive ended (the stream moved on): kFailure if it stopped inside an entry.
  Status Finish();

  uint64_t entries() const { return entries_; }

 private:
  enum class State { kHeader, kData, kPadding, kLongName, kPax, kEnd };

  Status ParseHeader();
  Status StartEntry(TarEntry entry);
  Status ApplyPax();

  TarVisitor& visitor_;
  State state_ = State::kHeader;
  uint8_t header_[512] = {};
  size_t header_fill_ = 0;
  uint64_t remaining_ = 0;  // data bytes left in the current record
  uint64_t padding_ = 0;    // padding bytes left after it
  char long_kind_ = 0;      // 'L' or 'K' while reading a GNU long-name record
  std::string long_buf_;    // GNU long name / pax record being read
  std::string next_path_;   // from 'L' or pax, for the next header
  std::string next_link_;   // from 'K' or pax
  bool next_size_set_ = false;
  uint64_t next_size_ = 0;  // pax size
  uint64_t entries_ = 0;
};

}  // namespace bulwark::sources::postgres

// A reader of PostgreSQL WAL (the page and record format of PostgreSQL 15 and 16) that finds
// the records a recovery target can name: transaction commits and aborts (with their xid and
// time) and restore points (pg_create_restore_point). Restore uses it to refuse an --xid or
// --name that recovery would never reach, before anything is written. Segments are fed in
// order; records spanning pages and segments are followed, their CRC-32C checked, and the end
// of valid WAL (a page that does not belong there, a record that does not check) ends the
// scan. One reader per scan, used from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::sources::postgres {

// CRC-32C (Castagnoli), as PostgreSQL checks WAL records with; `crc` chains calls (start at 0).
uint32_t Crc32c(ByteView data, uint32_t crc = 0);

struct WalTargetEvent {
  enum class Kind { kCommit, kAbort, kRestorePoint };
  Kind kind = Kind::kCommit;
  uint64_t lsn = 0;     // where the record starts
  uint32_t xid = 0;     // commits and aborts (of a prepared transaction: its xid)
  int64_t unix_ns = 0;  // commit/abort time, or when the restore point was made
  std::string name;     // restore points
};

class WalTargetReader {
 public:
  using Callback = std::function<void(const WalTargetEvent&)>;
  explicit WalTargetReader(Callback on_event) : on_event_(std::move(on_event)) {}

  // Reads the segment that starts at `segment_lsn` (a multiple of its size). The first segment
  // fed may start inside a record (it is skipped); later ones must follow without a gap. ok
  // with true while the WAL goes on; false once its end was met (nothing more is read); kUsage
  // for a WAL format this reader does not know (another PostgreSQL major version).
  Result<bool> Feed(ByteView segment, uint64_t segment_lsn);
  // The LSN just past the last whole record read.
  uint64_t end_lsn() const { return end_lsn_; }

 private:
  Result<bool> FeedPage(ByteView page, uint64_t page_lsn, bool segment_start);
  // A whole record of interest is in record_; false when it does not check (end of WAL).
  bool FinishRecord();

  Callback on_event_;
  bool started_ = false;
  bool done_ = false;
  uint64_t next_page_lsn_ = 0;
  uint64_t end_lsn_ = 0;
  // The record being read: its first bytes (the header, then the rest when it is of interest).
  Bytes record_;
  uint64_t record_lsn_ = 0;
  uint32_t record_total_ = 0;  // 0 while the header is incomplete
  uint32_t record_read_ = 0;   // bytes of it read so far
  bool record_wanted_ = false;
  bool record_is_switch_ = false;
  bool skipping_to_segment_end_ = false;  // after a WAL switch record
  bool skipping_continuation_ = false;    // the tail of a record begun before the first segment
};

}  // namespace bulwark::sources::postgres

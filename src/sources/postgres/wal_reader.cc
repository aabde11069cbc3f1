#include "sources/postgres/wal_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace bulwark::sources::postgres {

namespace {

// Page header (XLogPageHeaderData): magic u16, info u16, timeline u32, page address u64,
// remaining length of a record continued from the previous page u32; 24 bytes after
// alignment, 40 with the long header of a segment's first page.
constexpr size_t kShortPageHeader = 24;
constexpr size_t kLongPageHeader = 40;
constexpr uint16_t kFirstIsContRecord = 0x0001;
constexpr uint16_t kLongHeader = 0x0002;
constexpr uint16_t kFirstIsOverwriteContRecord = 0x0008;
// WAL page magic of the versions whose record and block header formats this reader knows.
constexpr uint16_t kMagicPg15 = 0xD110;
constexpr uint16_t kMagicPg16 = 0xD113;

// Record header (XLogRecord): total length u32, xid u32, previous record u64, info u8,
// resource manager u8, 2 bytes padding, CRC-32C u32.
constexpr uint32_t kRecordHeader = 24;
constexpr size_t kCrcOffset = 20;
constexpr uint32_t kMaxRecord = 1u << 30;
// A commit record larger than this would need millions of subtransactions: not read.
constexpr uint32_t kMaxWantedRecord = 64u << 20;

constexpr uint8_t kRmgrXlog = 0;
constexpr uint8_t kRmgrXact = 1;
constexpr uint8_t kXlogSwitch = 0x40;
constexpr uint8_t kXlogRestorePoint = 0x70;
constexpr uint8_t kXactOpMask = 0x70;
constexpr uint8_t kXactCommit = 0x00;
constexpr uint8_t kXactAbort = 0x20;
constexpr uint8_t kXactCommitPrepared = 0x30;
constexpr uint8_t kXactAbortPrepared = 0x40;
constexpr uint8_t kXactHasInfo = 0x80;

// Block reference ids and flags (xlogrecord.h).
constexpr uint8_t kMaxBlockId = 32;
constexpr uint8_t kBlockIdDataShort = 255;
constexpr uint8_t kBlockIdDataLong = 254;
constexpr uint8_t kBlockIdOrigin = 253;
constexpr uint8_t kBlockIdToplevelXid = 252;
constexpr uint8_t kBlockHasImage = 0x10;
constexpr uint8_t kBlockSameRel = 0x80;
constexpr uint8_t kImageHasHole = 0x01;
constexpr uint8_t kImageCompressed = 0x04 | 0x08 | 0x10;  // pglz, lz4, zstd

// xinfo bits of commit and abort records, in the order their parts follow.
constexpr uint32_t kXinfoDbInfo = 1u << 0;
constexpr uint32_t kXinfoSubxacts = 1u << 1;
constexpr uint32_t kXinfoRelFileNodes = 1u << 2;
constexpr uint32_t kXinfoInvals = 1u << 3;
constexpr uint32_t kXinfoTwoPhase = 1u << 4;
constexpr uint32_t kXinfoDroppedStats = 1u << 8;

// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
constexpr int64_t kPgEpochUnixUs = int64_t{946684800} * 1000000;

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr uint64_t AlignUp8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

// Reads a count followed by `count` items of `item` bytes at `p`; false when it does not fit.
bool SkipCounted(const uint8_t* data, size_t size, size_t& p, size_t item) {
  if (p + 4 > size) return false;
  const int32_t n = Load<int32_t>(data + p);
  if (n < 0 || static_cast<uint64_t>(n) * item > size - p - 4) return false;
  p += 4 + static_cast<size_t>(n) * item;
  return true;
}

}  // namespace

uint32_t Crc32c(ByteView data, uint32_t crc) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = ~crc;
  for (uint8_t b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return ~c;
}

Result<bool> WalTargetReader::Feed(ByteView segment, uint64_t segment_lsn) {
  if (done_) return false;
  if (started_ && segment_lsn != next_page_lsn_) {
    return Error(ErrorCode::kIntegrity,
                 fmt::format("WAL segment at {:X}/{:X} does not follow the one before",
                             segment_lsn >> 32, segment_lsn & 0xFFFFFFFF));
  }
  if (segment.size() < kLongPageHeader) return false;
  // The long header names the page size; every page of the segment has it.
  const uint32_t page_size = Load<uint32_t>(segment.data() + 36);
  if (page_size < 1024 || page_size > (1u << 16) || segment.size() % page_size != 0 ||
      (page_size & (page_size - 1)) != 0) {
    if (!started_ && Load<uint16_t>(segment.data()) != 0) {
      return Error(ErrorCode::kUsage, "WAL segment has no valid long page header");
    }
    done_ = true;
    return false;
  }
  skipping_to_segment_end_ = false;
  for (size_t off = 0; off < segment.size(); off += page_size) {
    BW_ASSIGN_OR_RETURN(bool more,
                        FeedPage(segment.subspan(off, page_size), segment_lsn + off, off == 0));
    if (!more) {
      done_ = true;
      return false;
    }
  }
  next_page_lsn_ = segment_lsn + segment.size();
  return true;
}

Result<bool> WalTargetReader::FeedPage(ByteView page, uint64_t page_lsn, bool segment_start) {
  // After a switch record the rest of the segment is padding, whatever its pages hold.
  if (skipping_to_segment_end_) return true;
  const uint8_t* p = page.data();
  const uint16_t magic = Load<uint16_t>(p);
  const uint16_t info = Load<uint16_t>(p + 2);
  const uint64_t page_addr = Load<uint64_t>(p + 8);
  const uint32_t rem_len = Load<uint32_t>(p + 16);
  if (magic != kMagicPg15 && magic != kMagicPg16) {
    if (!started_ && magic != 0) {
      return Error(
          ErrorCode::kUsage,
          fmt::format("WAL page magic 0x{:04X}: not the WAL of PostgreSQL 15 or 16", magic));
    }
    return false;  // zeros, or a page from elsewhere: the WAL ends here
  }
  // A recycled segment keeps pages of its former life: their address gives them away.
  if (page_addr != page_lsn) return false;
  if (segment_start != ((info & kLongHeader) != 0)) return false;
  size_t pos = segment_start ? kLongPageHeader : kShortPageHeader;
  const size_t size = page.size();

  if (!started_) {
    started_ = true;
    // The first page may begin inside a record that started earlier: skip to the next one.
    if (info & kFirstIsContRecord) {
      record_total_ = rem_len;
      record_read_ = 0;
      record_wanted_ = false;
      record_is_switch_ = false;
      record_lsn_ = 0;
      record_.clear();
      skipping_continuation_ = true;
    }
  } else if (info & kFirstIsOverwriteContRecord) {
    // The record the previous page began was never finished (its writer crashed): a new one
    // starts here.
    record_read_ = 0;
    record_total_ = 0;
    skipping_continuation_ = false;
  } else if (record_read_ > 0 || skipping_continuation_) {
    if (!(info & kFirstIsContRecord)) return false;
    if (record_total_ > 0 && !skipping_continuation_ && rem_len != record_total_ - record_read_) {
      return false;
    }
  } else if (info & kFirstIsContRecord) {
    return false;
  }

  while (pos < size) {
    if (skipping_continuation_) {
      const size_t n = std::min<size_t>(record_total_ - record_read_, size - pos);
      pos += n;
      record_read_ += static_cast<uint32_t>(n);
      if (record_read_ < record_total_) break;
      skipping_continuation_ = false;
      record_read_ = 0;
      record_total_ = 0;
      pos = AlignUp8(pos);
      continue;
    }
    if (record_read_ < kRecordHeader) {
      if (record_read_ == 0) {
        record_lsn_ = page_lsn + pos;
        record_.clear();
        record_total_ = 0;
      }
      const size_t n = std::min<size_t>(kRecordHeader - record_read_, size - pos);
      record_.insert(record_.end(), p + pos, p + pos + n);
      pos += n;
      record_read_ += static_cast<uint32_t>(n);
      if (record_read_ < kRecordHeader) break;
      const uint32_t total = Load<uint32_t>(record_.data());
      if (total < kRecordHeader || total > kMaxRecord) return false;
      const uint8_t rec_info = record_[16];
      const uint8_t rmgr = record_[17];
      const uint8_t op = rec_info & kXactOpMask;
      record_total_ = total;
      record_is_switch_ = rmgr == kRmgrXlog && (rec_info & 0xF0) == kXlogSwitch;
      record_wanted_ =
          total <= kMaxWantedRecord &&
          ((rmgr == kRmgrXact && (op == kXactCommit || op == kXactAbort ||
                                  op == kXactCommitPrepared || op == kXactAbortPrepared)) ||
           (rmgr == kRmgrXlog && (rec_info & 0xF0) == kXlogRestorePoint));
      if (record_wanted_) record_.reserve(total);
    } else {
      const size_t n = std::min<size_t>(record_total_ - record_read_, size - pos);
      if (record_wanted_) record_.insert(record_.end(), p + pos, p + pos + n);
      pos += n;
      record_read_ += static_cast<uint32_t>(n);
    }
    if (record_read_ < record_total_) continue;
    if (record_wanted_ && !FinishRecord()) return false;
    end_lsn_ = record_lsn_ + record_total_;
    record_read_ = 0;
    record_total_ = 0;
    if (record_is_switch_) {
      // The rest of the segment is padding; the WAL goes on in the next one.
      skipping_to_segment_end_ = true;
      return true;
    }
    pos = AlignUp8(pos);
  }
  return true;
}

bool WalTargetReader::FinishRecord() {
  const uint8_t* r = record_.data();
  const size_t total = record_total_;
  const uint32_t want_crc = Load<uint32_t>(r + kCrcOffset);
  uint32_t crc = Crc32c(ByteView(r + kRecordHeader, total - kRecordHeader));
  crc = Crc32c(ByteView(r, kCrcOffset), crc);
  if (crc != want_crc) return false;  // a torn or stale record: the WAL ends before it

  // Block references come first; the main data is the record's last `main_len` bytes.
  size_t off = kRecordHeader;
  uint32_t main_len = 0;
  while (off < total) {
    const uint8_t id = r[off++];
    if (id == kBlockIdDataShort) {
      if (off + 1 > total) return true;
      main_len = r[off];
      break;
    }
    if (id == kBlockIdDataLong) {
      if (off + 4 > total) return true;
      main_len = Load<uint32_t>(r + off);
      break;
    }
    if (id == kBlockIdOrigin) {
      off += 2;
    } else if (id == kBlockIdToplevelXid) {
      off += 4;
    } else if (id <= kMaxBlockId) {
      if (off + 3 > total) return true;
      const uint8_t fork_flags = r[off];
      off += 3;
      if (fork_flags & kBlockHasImage) {
        if (off + 5 > total) return true;
        const uint8_t bimg_info = r[off + 4];
        off += 5;
        if ((bimg_info & kImageHasHole) && (bimg_info & kImageCompressed)) off += 2;
      }
      if (!(fork_flags & kBlockSameRel)) off += 12;
      off += 4;
    } else {
      return true;  // a block id this reader does not know: the record is not used
    }
  }
  if (main_len == 0 || main_len > total - kRecordHeader) return true;
  const uint8_t* main = r + total - main_len;
  const uint8_t rec_info = r[16];
  const uint8_t rmgr = r[17];

  WalTargetEvent e;
  e.lsn = record_lsn_;
  if (rmgr == kRmgrXlog) {
    if (main_len < 8 + 64) return true;
    e.kind = WalTargetEvent::Kind::kRestorePoint;
    e.unix_ns = (Load<int64_t>(main) + kPgEpochUnixUs) * 1000;
    const char* name = reinterpret_cast<const char*>(main + 8);
    e.name.assign(name, strnlen(name, 64));
    on_event_(e);
    return true;
  }
  if (main_len < 8) return true;
  const uint8_t op = rec_info & kXactOpMask;
  e.kind = op == kXactCommit || op == kXactCommitPrepared ? WalTargetEvent::Kind::kCommit
                                                          : WalTargetEvent::Kind::kAbort;
  e.unix_ns = (Load<int64_t>(main) + kPgEpochUnixUs) * 1000;
  e.xid = Load<uint32_t>(r + 4);
  if (op == kXactCommitPrepared || op == kXactAbortPrepared) {
    // The prepared transaction's own xid follows the optional parts before it.
    if (!(rec_info & kXactHasInfo) || main_len < 12) return true;
    const uint32_t xinfo = Load<uint32_t>(main + 8);
    size_t q = 12;
    if (xinfo & kXinfoDbInfo) q += 8;
    if ((xinfo & kXinfoSubxacts) && !SkipCounted(main, main_len, q, 4)) return true;
    if ((xinfo & kXinfoRelFileNodes) && !SkipCounted(main, main_len, q, 12)) return true;
    if ((xinfo & kXinfoDroppedStats) && !SkipCounted(main, main_len, q, 12)) return true;
    if ((xinfo & kXinfoInvals) && !SkipCounted(main, main_len, q, 16)) return true;
    if (!(xinfo & kXinfoTwoPhase) || q + 4 > main_len) return true;
    e.xid = Load<uint32_t>(main + q);
  }
  on_event_(e);
  return true;
}

}  // namespace bulwark::sources::postgres

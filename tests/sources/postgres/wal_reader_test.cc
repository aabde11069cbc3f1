#include "sources/postgres/wal_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace bulwark::sources::postgres {
namespace {

constexpr size_t kPage = 8192;
constexpr size_t kSegment = 8 * kPage;  // small segments: the format does not depend on it
constexpr uint64_t kBaseLsn = 0x3000000;
constexpr int64_t kPgEpochUnixUs = int64_t{946684800} * 1000000;

template <typename T>
void Put(Bytes& b, T v) {
  const size_t at = b.size();
  b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

// Lays records out as PostgreSQL does: 8-byte aligned, across pages (each with its header,
// the long one at a segment's start) and segments, continued records flagged with their
// remaining length.
class WalBuilder {
 public:
  explicit WalBuilder(size_t segments) : wal_(segments * kSegment, 0) {}

  // Appends a record; returns the LSN it starts at.
  uint64_t Add(uint8_t rmgr, uint8_t info, uint32_t xid, const Bytes& main,
               const Bytes& block_part = {}) {
    Bytes body = block_part;
    if (main.size() < 256) {
      body.push_back(255);
      body.push_back(static_cast<uint8_t>(main.size()));
    } else {
      body.push_back(254);
      Put<uint32_t>(body, static_cast<uint32_t>(main.size()));
    }
    body.insert(body.end(), main.begin(), main.end());
    Bytes rec;
    Put<uint32_t>(rec, static_cast<uint32_t>(24 + body.size()));
    Put<uint32_t>(rec, xid);
    Put<uint64_t>(rec, 0);
    rec.push_back(info);
    rec.push_back(rmgr);
    rec.push_back(0);
    rec.push_back(0);
    uint32_t crc = Crc32c(body);
    crc = Crc32c(ByteView(rec.data(), 20), crc);
    Put<uint32_t>(rec, crc);
    rec.insert(rec.end(), body.begin(), body.end());
    if (corrupt_next_) {
      rec.back() ^= 0xFF;
      corrupt_next_ = false;
    }
    StartPageIfNeeded(0);
    const uint64_t lsn = kBaseLsn + pos_;
    size_t done = 0;
    while (done < rec.size()) {
      StartPageIfNeeded(rec.size() - done);
      const size_t n = std::min(rec.size() - done, kPage - pos_ % kPage);
      std::memcpy(wal_.data() + pos_, rec.data() + done, n);
      pos_ += n;
      done += n;
    }
    pos_ = (pos_ + 7) & ~size_t{7};
    return lsn;
  }
  // A filler record of `n` bytes of main data (resource manager 10, no target).
  uint64_t Filler(size_t n) { return Add(10, 0, 0, Bytes(n, 0x5A)); }
  // Leaves exactly `left` bytes (a multiple of 8) at the end of the current page, with filler
  // records (each with the 5-byte form of the main data header: 256 bytes or more).
  void FillToPageEnd(size_t left) {
    while (kPage - pos_ % kPage < left + 24 + 5 + 256 + 8) Filler(300);
    Filler(kPage - pos_ % kPage - left - 24 - 5);
    EXPECT_EQ(kPage - pos_ % kPage, left);
  }
  void CorruptNext() { corrupt_next_ = true; }
  void SkipToSegmentEnd() { pos_ = (pos_ / kSegment + 1) * kSegment; }
  ByteView Segment(size_t i) const { return ByteView(wal_.data() + i * kSegment, kSegment); }
  Bytes& raw() { return wal_; }
  size_t pos() const { return pos_; }

 private:
  void StartPageIfNeeded(size_t remaining) {
    if (pos_ % kPage != 0) return;
    const bool long_header = pos_ % kSegment == 0;
    Bytes h;
    Put<uint16_t>(h, 0xD110);
    Put<uint16_t>(h, static_cast<uint16_t>((remaining ? 1 : 0) | (long_header ? 2 : 0)));
    Put<uint32_t>(h, 1);
    Put<uint64_t>(h, kBaseLsn + pos_);
    Put<uint32_t>(h, static_cast<uint32_t>(remaining));
    Put<uint32_t>(h, 0);
    if (long_header) {
      Put<uint64_t>(h, 7);
      Put<uint32_t>(h, kSegment);
      Put<uint32_t>(h, kPage);
    }
    std::memcpy(wal_.data() + pos_, h.data(), h.size());
    pos_ += h.size();
  }
  Bytes wal_;
  size_t pos_ = 0;
  bool corrupt_next_ = false;
};

Bytes CommitMain(int64_t unix_us) {
  Bytes m;
  Put<int64_t>(m, unix_us - kPgEpochUnixUs);
  return m;
}

Bytes RestorePointMain(int64_t unix_us, const std::string& name) {
  Bytes m = CommitMain(unix_us);
  Bytes n(64, 0);
  std::memcpy(n.data(), name.data(), name.size());
  m.insert(m.end(), n.begin(), n.end());
  return m;
}

std::vector<WalTargetEvent> ReadAll(const WalBuilder& b, size_t first, size_t count,
                                    bool* ended = nullptr) {
  std::vector<WalTargetEvent> events;
  WalTargetReader reader([&](const WalTargetEvent& e) { events.push_back(e); });
  for (size_t i = first; i < first + count; ++i) {
    auto more = reader.Feed(b.Segment(i), kBaseLsn + i * kSegment);
    EXPECT_TRUE(more.ok()) << more.error().message();
    if (!more.ok() || !*more) {
      if (ended) *ended = true;
      break;
    }
  }
  return events;
}

TEST(WalReaderTest, Crc32cMatchesTheCheckValue) {
  const std::string text = "123456789";
  EXPECT_EQ(Crc32c(ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size())),
            0xE3069283u);
  // Chained calls equal one call over the whole.
  ByteView all(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  EXPECT_EQ(Crc32c(all.subspan(4), Crc32c(all.subspan(0, 4))), 0xE3069283u);
}

TEST(WalReaderTest, FindsCommitsAbortsAndRestorePointsAcrossPagesAndSegments) {
  WalBuilder b(3);
  const uint64_t c1 = b.Add(1, 0x00, 700, CommitMain(1'700'000'000'000'000));
  b.Filler(3 * kPage + 100);  // spans pages
  const uint64_t a1 = b.Add(1, 0x20, 701, CommitMain(1'700'000'001'000'000));
  const uint64_t rp = b.Add(0, 0x70, 0, RestorePointMain(1'700'000'002'000'000, "before_close"));
  b.Filler(kSegment);   // crosses into the next segment and beyond
  b.FillToPageEnd(16);  // the next record's header is split 16 + 8 across two pages
  const uint64_t c2 = b.Add(1, 0x80, 702, [] {
    Bytes m = CommitMain(1'700'000'003'000'000);
    Put<uint32_t>(m, 1u << 1);  // xinfo: subtransactions
    Put<int32_t>(m, 2);
    Put<uint32_t>(m, 9001);
    Put<uint32_t>(m, 9002);
    return m;
  }());
  // A prepared transaction's commit names its xid in the two-phase part.
  Bytes prepared = CommitMain(1'700'000'004'000'000);
  Put<uint32_t>(prepared, (1u << 0) | (1u << 3) | (1u << 4));  // dbinfo, invals, twophase
  Put<uint64_t>(prepared, 0x1234);
  Put<int32_t>(prepared, 1);
  prepared.insert(prepared.end(), 16, 0xEE);
  Put<uint32_t>(prepared, 555);
  const uint64_t cp = b.Add(1, 0x30 | 0x80, 0, prepared);
  ASSERT_LT(b.pos(), 3 * kSegment);

  bool ended = false;
  auto events = ReadAll(b, 0, 3, &ended);
  EXPECT_TRUE(ended);  // the zeros after the last record
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].kind, WalTargetEvent::Kind::kCommit);
  EXPECT_EQ(events[0].xid, 700u);
  EXPECT_EQ(events[0].lsn, c1);
  EXPECT_EQ(events[0].unix_ns, int64_t{1'700'000'000} * 1'000'000'000);
  EXPECT_EQ(events[1].kind, WalTargetEvent::Kind::kAbort);
  EXPECT_EQ(events[1].xid, 701u);
  EXPECT_EQ(events[1].lsn, a1);
  EXPECT_EQ(events[2].kind, WalTargetEvent::Kind::kRestorePoint);
  EXPECT_EQ(events[2].name, "before_close");
  EXPECT_EQ(events[2].lsn, rp);
  EXPECT_EQ(events[3].xid, 702u);
  EXPECT_EQ(events[3].lsn, c2);
  EXPECT_EQ((c2 + 16) % kPage, 0u);
  EXPECT_EQ(events[4].kind, WalTargetEvent::Kind::kCommit);
  EXPECT_EQ(events[4].xid, 555u);
  EXPECT_EQ(events[4].lsn, cp);
}

TEST(WalReaderTest, StartsInsideARecordAndSkipsIt) {
  WalBuilder b(3);
  b.Add(1, 0x00, 10, CommitMain(1'700'000'000'000'000));
  b.Filler(kSegment + 3 * kPage);  // still running at the start of segment 1 and its pages
  const uint64_t c = b.Add(1, 0x00, 11, CommitMain(1'700'000'001'000'000));
  auto events = ReadAll(b, 1, 2);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].xid, 11u);
  EXPECT_EQ(events[0].lsn, c);
}

TEST(WalReaderTest, ARecordThatDoesNotCheckEndsTheWal) {
  WalBuilder b(1);
  b.Add(1, 0x00, 20, CommitMain(1'700'000'000'000'000));
  b.CorruptNext();
  b.Add(1, 0x00, 21, CommitMain(1'700'000'001'000'000));
  b.Add(1, 0x00, 22, CommitMain(1'700'000'002'000'000));
  bool ended = false;
  auto events = ReadAll(b, 0, 1, &ended);
  EXPECT_TRUE(ended);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].xid, 20u);
}

TEST(WalReaderTest, AStalePageEndsTheWal) {
  WalBuilder b(2);
  b.Add(1, 0x00, 30, CommitMain(1'700'000'000'000'000));
  b.Filler(kPage);
  b.Add(1, 0x00, 31, CommitMain(1'700'000'001'000'000));
  // Page 1 claims another address: a recycled segment's leftover.
  uint64_t wrong = 0x1000000;
  std::memcpy(b.raw().data() + kPage + 8, &wrong, 8);
  bool ended = false;
  auto events = ReadAll(b, 0, 2, &ended);
  EXPECT_TRUE(ended);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].xid, 30u);
}

TEST(WalReaderTest, ASwitchRecordSkipsToTheNextSegment) {
  WalBuilder b(2);
  b.Add(0, 0x40, 0, Bytes{});  // XLOG_SWITCH
  // Garbage after it within the segment is never read.
  std::memset(b.raw().data() + b.pos(), 0xAB, 64);
  b.SkipToSegmentEnd();
  const uint64_t c = b.Add(1, 0x00, 40, CommitMain(1'700'000'000'000'000));
  auto events = ReadAll(b, 0, 2);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].lsn, c);
  EXPECT_EQ(c, kBaseLsn + kSegment + 40);
}

TEST(WalReaderTest, RefusesTheWalOfAnotherVersion) {
  WalBuilder b(1);
  b.Add(1, 0x00, 50, CommitMain(1'700'000'000'000'000));
  const uint16_t pg14 = 0xD10D;
  std::memcpy(b.raw().data(), &pg14, 2);
  WalTargetReader reader([](const WalTargetEvent&) {});
  auto more = reader.Feed(b.Segment(0), kBaseLsn);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().code(), ErrorCode::kUsage);
  EXPECT_NE(more.error().message().find("0xD10D"), std::string::npos) << more.error().message();
}

TEST(WalReaderTest, AGapBetweenSegmentsIsAnError) {
  WalBuilder b(3);
  b.Add(1, 0x00, 60, CommitMain(1'700'000'000'000'000));
  b.Filler(2 * kSegment + kPage);  // every segment is in use
  WalTargetReader reader([](const WalTargetEvent&) {});
  ASSERT_TRUE(reader.Feed(b.Segment(0), kBaseLsn).ok());
  auto more = reader.Feed(b.Segment(2), kBaseLsn + 2 * kSegment);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().code(), ErrorCode::kIntegrity);
}

}  // namespace
}  // namespace bulwark::sources::postgres

// Unit tests of the PostgreSQL helpers that need no server: LSNs and WAL file names, the data
// directory rules (what a base backup leaves out), relation file names and page checksums.
// The checksum algorithm is checked against real pages in the integration tests (every page of
// a fresh cluster verifies, a flipped byte is caught).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "sources/postgres/data_dir.h"
#include "sources/postgres/page_checksum.h"
#include "sources/postgres/wal_names.h"

namespace bulwark::sources::postgres {
namespace {

TEST(WalNames, LsnRoundTrip) {
  auto l = ParseLsn("16/B374D848");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, 0x16B374D848ull);
  EXPECT_EQ(FormatLsn(*l), "16/B374D848");
  EXPECT_EQ(FormatLsn(0), "0/0");
  EXPECT_FALSE(ParseLsn("16B374D848").ok());
  EXPECT_FALSE(ParseLsn("/1").ok());
  EXPECT_FALSE(ParseLsn("1/xyz").ok());
  EXPECT_FALSE(ParseLsn("1/123456789").ok());
}

TEST(WalNames, SegmentNames) {
  const uint64_t seg = kDefaultWalSegmentSize;
  // 0/3000028 lies in segment 3 of timeline 1.
  EXPECT_EQ(WalFileName(1, SegmentOf(0x3000028, seg), seg), "000000010000000000000003");
  // An end position exactly on a boundary belongs to the previous segment.
  EXPECT_EQ(SegmentBefore(0x4000000, seg), 3u);
  // 256 segments of 16 MiB per "log id".
  EXPECT_EQ(WalFileName(2, 0x1FF, seg), "0000000200000001000000FF");
  auto id = ParseWalFileName("0000000200000001000000FF", seg);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->timeline, 2u);
  EXPECT_EQ(id->segno, 0x1FFu);
  EXPECT_FALSE(ParseWalFileName("000000020000000100000100", seg).has_value());  // seg >= 256
  EXPECT_FALSE(ParseWalFileName("00000002.history", seg).has_value());
  EXPECT_TRUE(IsTimelineHistoryName("00000002.history"));
  EXPECT_FALSE(IsTimelineHistoryName("000000010000000000000003"));
  EXPECT_TRUE(IsWalSegmentName("000000010000000000000003"));
  EXPECT_FALSE(IsWalSegmentName("000000010000000000000003.partial"));
}

TEST(DataDir, SkipsWhatBaseBackupSkips) {
  EXPECT_EQ(ClassifyEntry("", "postmaster.pid", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("", "postmaster.opts", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("", "backup_label", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("", "backup_label.old", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("", "tablespace_map", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("base/5", "pg_internal.init", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("global", "pg_internal.init.1234", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("base", "pgsql_tmp", true), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("base/pgsql_tmp", "pgsql_tmp123.0", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("base/5", "t3_16384", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("base/5", "t3_16384_fsm", false), EntryRule::kSkip);
  for (const char* d : {"pg_dynshmem", "pg_notify", "pg_replslot", "pg_serial", "pg_snapshots",
                        "pg_stat_tmp", "pg_subtrans"}) {
    EXPECT_EQ(ClassifyEntry("", d, true), EntryRule::kEmptyDir) << d;
  }
  EXPECT_EQ(ClassifyEntry("pg_wal", "000000010000000000000001", false), EntryRule::kSkip);
  EXPECT_EQ(ClassifyEntry("pg_wal", "archive_status", true), EntryRule::kEmptyDir);
  EXPECT_EQ(ClassifyEntry("", "pg_wal", true), EntryRule::kStore);
  // Kept: the control file, configuration, transaction status, relation files.
  EXPECT_EQ(ClassifyEntry("global", "pg_control", false), EntryRule::kStore);
  EXPECT_EQ(ClassifyEntry("", "postgresql.auto.conf", false), EntryRule::kStore);
  EXPECT_EQ(ClassifyEntry("pg_xact", "0000", false), EntryRule::kStore);
  EXPECT_EQ(ClassifyEntry("base/5", "16384", false), EntryRule::kStore);
  EXPECT_EQ(ClassifyEntry("base/5", "16384.1", false), EntryRule::kStore);
  EXPECT_EQ(ClassifyEntry("", "pg_stat", true), EntryRule::kStore);
}

TEST(DataDir, RelationFiles) {
  EXPECT_TRUE(IsRelationDir("global"));
  EXPECT_TRUE(IsRelationDir("base/16384"));
  EXPECT_TRUE(IsRelationDir("pg_tblspc/16500/PG_15_202209061/5"));
  EXPECT_FALSE(IsRelationDir("base"));
  EXPECT_FALSE(IsRelationDir("pg_xact"));
  EXPECT_FALSE(IsRelationDir("base/pgsql_tmp"));

  auto rf = ParseRelationFileName("16384_vm.3");
  ASSERT_TRUE(rf.has_value());
  EXPECT_EQ(rf->relfilenode, "16384");
  EXPECT_EQ(rf->fork, "vm");
  EXPECT_EQ(rf->segment, 3u);
  rf = ParseRelationFileName("1259");
  ASSERT_TRUE(rf.has_value());
  EXPECT_EQ(rf->fork, "");
  EXPECT_EQ(rf->segment, 0u);
  EXPECT_FALSE(ParseRelationFileName("pg_filenode.map").has_value());
  EXPECT_FALSE(ParseRelationFileName("PG_VERSION").has_value());
  EXPECT_FALSE(ParseRelationFileName("16384_foo").has_value());
  EXPECT_FALSE(ParseRelationFileName("16384.").has_value());

  std::set<std::string> unlogged = {"16390"};
  EXPECT_TRUE(SkipUnloggedFork(unlogged, "16390"));
  EXPECT_TRUE(SkipUnloggedFork(unlogged, "16390_fsm"));
  EXPECT_TRUE(SkipUnloggedFork(unlogged, "16390.1"));
  EXPECT_FALSE(SkipUnloggedFork(unlogged, "16390_init"));
  EXPECT_FALSE(SkipUnloggedFork(unlogged, "16391"));
}

TEST(PageChecksum, FieldIgnoredAndBlockMixedIn) {
  std::vector<uint8_t> page(kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<uint8_t>(i * 31 + 7);
  const uint16_t c0 = PageChecksum(page.data(), 0);
  EXPECT_NE(c0, 0);  // never zero: (sum % 65535) + 1
  // The stored checksum field does not take part.
  page[8] ^= 0xFF;
  page[9] ^= 0x5A;
  EXPECT_EQ(PageChecksum(page.data(), 0), c0);
  // The block number does.
  EXPECT_NE(PageChecksum(page.data(), 1), c0);
  // Any other byte does.
  page[4000] ^= 1;
  EXPECT_NE(PageChecksum(page.data(), 0), c0);
}

TEST(PageChecksum, HeaderFields) {
  std::vector<uint8_t> page(kPageSize, 0);
  EXPECT_TRUE(PageIsNew(page.data()));
  const uint32_t xlogid = 0x16, xrecoff = 0xB374D848;
  std::memcpy(page.data(), &xlogid, 4);
  std::memcpy(page.data() + 4, &xrecoff, 4);
  const uint16_t sum = 0xBEEF, upper = 8000;
  std::memcpy(page.data() + 8, &sum, 2);
  std::memcpy(page.data() + 14, &upper, 2);
  EXPECT_EQ(PageLsn(page.data()), 0x16B374D848ull);
  EXPECT_EQ(PageStoredChecksum(page.data()), 0xBEEF);
  EXPECT_FALSE(PageIsNew(page.data()));
}

}  // namespace
}  // namespace bulwark::sources::postgres

#include "cli/parse.h"

#include <gtest/gtest.h>

#include "cli/output.h"

namespace bulwark::cli {
namespace {

TEST(ParseSizeTest, AcceptsPlainNumbersAndBinaryUnits) {
  EXPECT_EQ(*ParseSize("0"), 0u);
  EXPECT_EQ(*ParseSize("1048576"), 1048576u);
  EXPECT_EQ(*ParseSize("512K"), 512u * 1024);
  EXPECT_EQ(*ParseSize("4MiB"), 4u << 20);
  EXPECT_EQ(*ParseSize("4mb"), 4u << 20);
  EXPECT_EQ(*ParseSize("1.5G"), 3ull << 29);
  EXPECT_EQ(*ParseSize("2T"), 2ull << 40);
  EXPECT_EQ(*ParseSize("100B"), 100u);
}

TEST(ParseSizeTest, RejectsGarbage) {
  for (const char* bad : {"", "abc", "-1", "1X", "M", "1.2.3K", "1e30", "nan"}) {
    auto r = ParseSize(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kUsage) << bad;
  }
}

TEST(ParsePercentTest, Bounds) {
  EXPECT_DOUBLE_EQ(*ParsePercent("10%"), 10.0);
  EXPECT_DOUBLE_EQ(*ParsePercent("2.5"), 2.5);
  EXPECT_DOUBLE_EQ(*ParsePercent("100%"), 100.0);
  EXPECT_FALSE(ParsePercent("0%").ok());
  EXPECT_FALSE(ParsePercent("101%").ok());
  EXPECT_FALSE(ParsePercent("%").ok());
  EXPECT_FALSE(ParsePercent("ten").ok());
}

Id MakeId(uint8_t first, uint8_t second) {
  Id id;
  id.bytes[0] = first;
  id.bytes[1] = second;
  return id;
}

TEST(MatchIdPrefixTest, UniqueAmbiguousMissing) {
  std::vector<Id> ids = {MakeId(0xab, 0x12), MakeId(0xab, 0x34), MakeId(0xcd, 0x00)};
  auto one = MatchIdPrefix(ids, "AB12", "key");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, ids[0]);
  EXPECT_EQ(*MatchIdPrefix(ids, "cd", "key"), ids[2]);
  EXPECT_EQ(*MatchIdPrefix(ids, ids[1].Hex(), "key"), ids[1]);

  auto ambiguous = MatchIdPrefix(ids, "ab", "key");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().code(), ErrorCode::kUsage);
  EXPECT_NE(ambiguous.error().message().find("ambiguous"), std::string::npos);

  auto missing = MatchIdPrefix(ids, "ef", "key");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  EXPECT_EQ(MatchIdPrefix(ids, "xyz", "key").error().code(), ErrorCode::kUsage);
  EXPECT_EQ(MatchIdPrefix(ids, "", "key").error().code(), ErrorCode::kUsage);
}

TEST(FormatTest, BytesAndDurations) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(5ull << 30), "5.00 GiB");
  EXPECT_EQ(FormatDuration(1.234), "1.23s");
  EXPECT_EQ(FormatDuration(65), "1:05");
  EXPECT_EQ(FormatDuration(3725), "1:02:05");
}

}  // namespace
}  // namespace bulwark::cli

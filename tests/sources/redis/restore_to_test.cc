// The DUMP/RESTORE payload built for restore --to, checked against what Redis 7.0's DUMP
// returns for the same value.
#include "sources/redis/restore_to.h"

#include <gtest/gtest.h>

#include <string>

namespace bulwark::sources::redis {
namespace {

TEST(DumpPayloadTest, MatchesRedisDump) {
  // redis-cli set hello world; dump hello (Redis 7.0.15, RDB version 10).
  const std::string want("\x00\x05world\x0a\x00\x19\xd1\x3c\x84\xd0\xa9\x72\xc2", 17);
  EXPECT_EQ(DumpPayload(0, AsBytes(std::string("\x05world")), 10), want);
}

TEST(DumpPayloadTest, VersionAndChecksumTrailer) {
  std::string p = DumpPayload(16, AsBytes(std::string("abc")), 11);
  ASSERT_EQ(p.size(), 1u + 3 + 2 + 8);
  EXPECT_EQ(p[0], 16);
  EXPECT_EQ(p.substr(1, 3), "abc");
  EXPECT_EQ(static_cast<uint8_t>(p[4]), 11);
  EXPECT_EQ(static_cast<uint8_t>(p[5]), 0);
}

TEST(RespReplyTest, FirstErrorLooksInsideArrays) {
  RespReply ok;
  EXPECT_EQ(ok.FirstError(), "");
  RespReply exec;
  exec.type = '*';
  exec.elements.resize(2);
  exec.elements[1].type = '-';
  exec.elements[1].str = "WRONGTYPE x";
  EXPECT_EQ(exec.FirstError(), "WRONGTYPE x");
}

}  // namespace
}  // namespace bulwark::sources::redis

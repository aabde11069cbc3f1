// INFO parsing: the version, the replication offset and the keys per database are read from a
// real reply's layout (CR LF lines, section headers, fields Bulwark does not use), and a reply
// without them leaves them unset rather than zero-looking-valid.
#include "sources/redis/server_info.h"

#include <gtest/gtest.h>

namespace bulwark::sources::redis {
namespace {

TEST(ServerInfoTest, ReadsVersionOffsetAndKeyspace) {
  const std::string text =
      "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n"
      "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
      "master_replid:0d23fd1421b4e87102a593740334216084f474d2\r\n"
      "master_repl_offset:92808\r\nsecond_repl_offset:-1\r\n\r\n"
      "# Keyspace\r\ndb0:keys=200000,expires=12,avg_ttl=0\r\n"
      "db3:keys=1,expires=0,avg_ttl=0\r\ndb15:keys=7,expires=7,avg_ttl=1000\r\n";
  ServerInfo info = ParseServerInfo(text);
  EXPECT_EQ(info.redis_version, "7.0.15");
  EXPECT_EQ(info.master_replid, "0d23fd1421b4e87102a593740334216084f474d2");
  ASSERT_TRUE(info.has_repl_offset);
  EXPECT_EQ(info.master_repl_offset, 92808u);
  ASSERT_EQ(info.keyspace.size(), 3u);
  EXPECT_EQ(info.keyspace[1].db, 3u);
  EXPECT_EQ(info.keyspace[2].db, 15u);
  EXPECT_EQ(info.keyspace[2].expires, 7u);
  EXPECT_EQ(info.TotalKeys(), 200008u);
  EXPECT_EQ(info.TotalExpires(), 19u);
}

TEST(ServerInfoTest, MissingFieldsStayUnset) {
  ServerInfo info = ParseServerInfo("# Keyspace\ndbx:keys=3\ndb2:expires=1\nmaster_repl_offset\n");
  EXPECT_FALSE(info.has_repl_offset);
  EXPECT_TRUE(info.redis_version.empty());
  EXPECT_TRUE(info.keyspace.empty());  // "dbx" is no database; db2 holds no keys
  EXPECT_EQ(info.TotalKeys(), 0u);
}

}  // namespace
}  // namespace bulwark::sources::redis

// Redis URL parsing: the accepted forms, and the refusals (password in the URL, TLS, junk),
// all usage errors.
#include "sources/redis/replication_client.h"

#include <gtest/gtest.h>

namespace bulwark::sources::redis {
namespace {

TEST(RedisUrlTest, AcceptsTcpAndUnixForms) {
  auto a = ParseRedisUrl("redis://bulwark@10.0.0.5:6380/2");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->user, "bulwark");
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(a->Display(), "redis://bulwark@10.0.0.5:6380");

  auto b = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 6379);
  EXPECT_TRUE(b->user.empty());

  auto c = ParseRedisUrl("redis://[::1]:7000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 7000);

  auto d = ParseRedisUrl("unix://u@/run/redis/redis.sock");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(d->user, "u");

  auto e = ParseRedisUrl("/tmp/redis.sock");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->unix_path, "/tmp/redis.sock");
}

TEST(RedisUrlTest, AcceptsTls) {
  auto a = ParseRedisUrl("rediss://bulwark@redis.example:6380/1");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->host, "redis.example");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->user, "bulwark");
  EXPECT_EQ(a->Display(), "rediss://bulwark@redis.example:6380");
  auto b = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->tls);
}

TEST(RedisUrlTest, RefusesPasswordsAndJunk) {
  for (const char* url : {"redis://u:secret@host:6379", "rediss://u:pw@host:6379", "http://host",
                          "redis://", "redis://host:0", "redis://host:99999", "redis://host:x",
                          "redis://host/x", "unix://relative/path", "host:6379"}) {
    auto r = ParseRedisUrl(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code(), ErrorCode::kUsage) << url;
  }
  auto r = ParseRedisUrl("redis://u:secret@host:6379");
  EXPECT_EQ(r.error().message().find("secret"), std::string::npos);
}

}  // namespace
}  // namespace bulwark::sources::redis

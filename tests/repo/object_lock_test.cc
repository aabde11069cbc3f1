#include "repo/object_lock.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "repo/repository.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::FastInitOptions;
using testing::LocalAt;
using testing::TempDir;

TEST(ObjectLockTest, JsonRoundTripAndValidation) {
  ObjectLockConfig c{"compliance", 86400};
  auto back = ObjectLockFromJson(ObjectLockToJson(c));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->mode, "compliance");
  EXPECT_EQ(back->retain_seconds, 86400);
  EXPECT_EQ(c.Describe(), "compliance, 1 day");
  EXPECT_EQ((ObjectLockConfig{"governance", 90}).Describe(), "governance, 90 s");

  for (const auto& bad : {nlohmann::json{{"mode", "forever"}, {"retain_seconds", 10}},
                          nlohmann::json{{"mode", "compliance"}, {"retain_seconds", 0}},
                          nlohmann::json{{"mode", ""}, {"retain_seconds", 10}},
                          nlohmann::json{{"mode", "compliance"}}}) {
    auto r = ObjectLockFromJson(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity) << bad.dump();
  }
  EXPECT_TRUE(ValidateObjectLock(ObjectLockConfig{}, ErrorCode::kUsage).ok());
}

TEST(ObjectLockTest, RetainUntilPrefersTheServerAndElseEstimates) {
  ObjectLockConfig c{"governance", 100};
  storage::ObjectInfo info;
  info.mtime_unix = 1000;
  EXPECT_EQ(RetainUntil(c, info, 60), 1160);  // written + retention + margin
  info.retain_until_unix = 1234;
  EXPECT_EQ(RetainUntil(c, info, 60), 1234);  // what the server said
  info.retain_until_unix = 0;
  EXPECT_EQ(RetainUntil(ObjectLockConfig{}, info, 60), 0);  // no object lock
}

TEST(ObjectLockTest, TallyNamesCountBytesAndDates) {
  LockedTally t;
  EXPECT_EQ(t.Message("pack", "packs"), "");
  t.Add(1 << 20, 1796044144);  // 2026-11-30 13:09:04 UTC
  EXPECT_EQ(
      t.Message("pack", "packs"),
      "1 pack (1.0 MiB) is under object lock and kept; deletable from 2026-11-30 13:09:04 UTC");
  t.Add(1 << 20, 1796044146);
  t.Add(0, 1796044100);
  EXPECT_EQ(t.objects, 3u);
  EXPECT_EQ(t.bytes, 2u << 20);
  EXPECT_EQ(t.first_unlock_unix, 1796044100);
  EXPECT_EQ(t.last_unlock_unix, 1796044146);
  EXPECT_NE(t.Message("pack", "packs")
                .find("3 packs (2.0 MiB) are under object lock and kept; the "
                      "first becomes deletable on 2026-11-30 13:08:20 UTC, "
                      "the last on 2026-11-30 13:09:06 UTC"),
            std::string::npos)
      << t.Message("pack", "packs");
}

// A local directory cannot hold locked objects: init refuses (a usage error) and writes nothing.
TEST(ObjectLockTest, LocalRepositoryRefusesObjectLock) {
  TempDir dir;
  InitOptions options = FastInitOptions();
  options.config.object_lock = {"compliance", 86400};
  auto repo = Repository::Init(LocalAt(dir.Sub("repo")), "secret", options);
  ASSERT_FALSE(repo.ok());
  EXPECT_EQ(repo.error().code(), ErrorCode::kUsage);
  EXPECT_NE(repo.error().message().find("needs an S3 repository"), std::string::npos)
      << repo.error().message();
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("repo/config")));
}

TEST(ObjectLockTest, ParsesRetentionPeriods) {
  EXPECT_EQ(*ParseRetention("90", "--retain"), 90 * 86400);
  EXPECT_EQ(*ParseRetention("36h", "--retain"), 36 * 3600);
  EXPECT_EQ(*ParseRetention("15m", "--retain"), 900);
  EXPECT_EQ(*ParseRetention("10s", "--retain"), 10);
  EXPECT_EQ(*ParseRetention("7d", "--retain"), 7 * 86400);
  for (const char* bad : {"", "0", "-1", "d", "3w", "1.5", "10 d", "9999999999"}) {
    auto r = ParseRetention(bad, "components.pg.retain");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kUsage);
    EXPECT_NE(r.error().message().find("components.pg.retain"), std::string::npos);
  }
}

TEST(ObjectLockTest, ComponentLockMayOnlyBeLongerOrStricter) {
  const ObjectLockConfig none;
  const ObjectLockConfig gov_day{"governance", 86400};
  const ObjectLockConfig comp_day{"compliance", 86400};
  const ObjectLockConfig comp_year{"compliance", 365 * 86400};
  const ObjectLockConfig gov_year{"governance", 365 * 86400};
  EXPECT_TRUE(CheckComponentLock(gov_day, comp_year, "pg").ok());
  EXPECT_TRUE(CheckComponentLock(gov_day, gov_year, "pg").ok());
  EXPECT_TRUE(CheckComponentLock(comp_day, comp_day, "pg").ok());
  EXPECT_TRUE(CheckComponentLock(none, none, "pg").ok());  // nothing asked
  EXPECT_TRUE(CheckComponentLock(comp_day, none, "pg").ok());

  auto expect_refused = [](const ObjectLockConfig& repo, const ObjectLockConfig& comp,
                           const std::string& words) {
    Status st = CheckComponentLock(repo, comp, "pg");
    ASSERT_FALSE(st.ok()) << words;
    EXPECT_EQ(st.error().code(), ErrorCode::kUsage);
    EXPECT_NE(st.error().message().find(words), std::string::npos) << st.error().message();
    EXPECT_NE(st.error().message().find("component pg"), std::string::npos);
  };
  expect_refused(none, comp_year, "needs a repository created with object lock");
  expect_refused(comp_day, gov_year, "weaker");
  expect_refused(comp_year, comp_day, "shorter");
  expect_refused(gov_year, gov_day, "shorter");
  expect_refused(gov_day, ObjectLockConfig{"forever", 86400}, "governance or compliance");
}

TEST(ObjectLockTest, UseObjectLockRefusesARepositoryWithout) {
  TempDir dir;
  auto repo = Repository::Init(LocalAt(dir.Sub("repo")), "secret", FastInitOptions());
  ASSERT_TRUE(repo.ok()) << repo.error().message();
  Status st = (*repo)->UseObjectLock({"compliance", 86400}, "trades");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUsage);
  EXPECT_FALSE((*repo)->write_lock().enabled());
  EXPECT_TRUE((*repo)->UseObjectLock({}, "trades").ok());
  EXPECT_FALSE((*repo)->write_lock().enabled());
}

}  // namespace
}  // namespace bulwark::repo

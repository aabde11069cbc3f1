#include "policy/forget.h"

#include <gtest/gtest.h>

#include <set>

#include "repo/repo_test_util.h"
#include "repo/snapshot.h"

namespace bulwark::policy {
namespace {

using repo::testing::MakeRepo;
using repo::testing::TempDir;

constexpr int64_t kDay = 86'400'000'000'000;

class ForgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = MakeRepo(dir_.path());
    ASSERT_NE(repo_, nullptr);
    // Five daily snapshots of "config" and three of "pg", one per day.
    for (int d = 0; d < 5; ++d) config_.push_back(Save("config", d));
    for (int d = 0; d < 3; ++d) pg_.push_back(Save("pg", d));
  }

  Id Save(const std::string& component, int day) {
    repo::Snapshot s;
    s.time_unix_ns = 1'767'225'600'000'000'000 + day * kDay;  // 2026-01-01 + day
    s.hostname = "h";
    s.component = component;
    s.kind = "files";
    auto id = repo::SaveSnapshot(*repo_, s);
    EXPECT_TRUE(id.ok());
    return *id;
  }

  std::set<Id> Remaining() {
    auto ids = repo_->ListObjects(repo::ObjectKind::kSnapshot);
    EXPECT_TRUE(ids.ok());
    return std::set<Id>(ids->begin(), ids->end());
  }

  TempDir dir_;
  std::unique_ptr<repo::Repository> repo_;
  std::vector<Id> config_, pg_;
};

TEST_F(ForgetTest, DryRunReportsAndRemovesNothing) {
  ForgetOptions o;
  o.policy.keep_last = 2;
  o.dry_run = true;
  auto r = Forget(*repo_, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->dry_run);
  EXPECT_EQ(r->kept, 4u);  // two per component
  EXPECT_EQ(r->removed.size(), 4u);
  EXPECT_EQ(Remaining().size(), 8u);
  auto j = ForgetReportToJson(*r);
  EXPECT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["snapshots"][0]["reasons"][0], "last snapshot");
}

TEST_F(ForgetTest, RemovesWhatThePolicyDoesNotKeep) {
  ForgetOptions o;
  o.policy.keep_last = 2;
  auto r = Forget(*repo_, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::set<Id> want = {config_[3], config_[4], pg_[1], pg_[2]};
  EXPECT_EQ(Remaining(), want);
}

TEST_F(ForgetTest, OnlyTheChosenComponent) {
  ForgetOptions o;
  o.policy.keep_within = *ParseDuration("1d");
  o.component = "config";
  auto r = Forget(*repo_, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->groups.size(), 1u);
  // Within one day of the newest (day 4): days 3 and 4.
  std::set<Id> want = {config_[3], config_[4], pg_[0], pg_[1], pg_[2]};
  EXPECT_EQ(Remaining(), want);
}

TEST_F(ForgetTest, RefusesAnEmptyOrInvalidPolicy) {
  ForgetOptions o;
  auto r = Forget(*repo_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUsage);
  o.policy.keep_daily = -5;
  r = Forget(*repo_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUsage);
  EXPECT_EQ(Remaining().size(), 8u);
}

}  // namespace
}  // namespace bulwark::policy

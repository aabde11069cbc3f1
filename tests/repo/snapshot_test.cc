#include "repo/snapshot.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::MakeRepo;
using testing::TempDir;

Snapshot Sample(int64_t t, std::string component) {
  Snapshot s;
  s.time_unix_ns = t;
  s.hostname = "db1";
  s.username = "postgres";
  s.component = std::move(component);
  s.kind = "files";
  s.tags = {"daily", "pre-upgrade"};
  s.paths = {"/etc/traider"};
  s.tree = crypto::Sha256(AsBytes("tree" + std::to_string(t)));
  s.source = {{"lsn", "0/3000028"}, {"timeline", 1}};
  s.summary = {{"files", 12}, {"bytes", 3456}};
  s.errors = {"/etc/traider/secret: permission denied"};
  s.audit_seq = 17;
  s.program_version = "0.1.0";
  return s;
}

TEST(TimeTest, FormatAndParse) {
  EXPECT_EQ(FormatTimeRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimeRfc3339(1795947300123456789), "2026-11-29T10:15:00.123456789Z");
  EXPECT_EQ(FormatTimeRfc3339(-1), "1969-12-31T23:59:59.999999999Z");
  for (int64_t t :
       {int64_t{0}, int64_t{1795947300123456789}, int64_t{-1}, int64_t{951782400} * 1000000000}) {
    auto back = ParseTime(FormatTimeRfc3339(t));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, t);
  }
  const int64_t base = *ParseTime("2026-11-24T10:15:00Z");
  EXPECT_EQ(base, int64_t{1795515300} * 1000000000);
  EXPECT_EQ(*ParseTime("2026-11-24 10:15:00"), base);
  EXPECT_EQ(*ParseTime("2026-11-24 10:15:00+00"), base);
  EXPECT_EQ(*ParseTime("2026-11-24 11:15:00+01"), base);
  EXPECT_EQ(*ParseTime("2026-11-24 11:45:00+01:30"), base);
  EXPECT_EQ(*ParseTime("2026-11-24T05:15:00-05:00"), base);
  EXPECT_EQ(*ParseTime("2026-11-24T05:15:00-0500"), base);
  EXPECT_EQ(*ParseTime("2026-11-24 10:15:00 +00:00"), base);
  EXPECT_EQ(*ParseTime("2026-11-24T10:15:00.5Z"), base + 500000000);
  EXPECT_EQ(*ParseTime("2026-11-24 10:15"), base);
  EXPECT_EQ(*ParseTime("2026-11-24"), base - (10 * 3600 + 15 * 60) * int64_t{1000000000});
  EXPECT_EQ(*ParseTime("2024-02-29T00:00:00Z"), int64_t{1709164800} * 1000000000);
  for (const char* bad :
       {"", "yesterday", "2026-13-01", "2026-02-30", "2025-02-29", "2026-11-24T25:00:00Z",
        "2026-11-24T10:15:00Q", "2026-11-24T10:15:00+1", "2026-11-24T10:15:00.Z",
        "2026-11-24T10:15:00.1234567891Z", "2026-11-24 10:15:00 extra"}) {
    auto r = ParseTime(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kUsage);
    }
  }
}

TEST(SnapshotTest, JsonRoundTrip) {
  Snapshot s = Sample(1795947300123456789, "config");
  s.parent = crypto::Sha256(AsBytes("parent"));
  nlohmann::json j = SnapshotToJson(s);
  EXPECT_FALSE(j.contains("id"));  // zero id is not printed
  auto back = SnapshotFromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->time_unix_ns, s.time_unix_ns);
  EXPECT_EQ(back->component, "config");
  EXPECT_EQ(back->tags, s.tags);
  EXPECT_EQ(back->paths, s.paths);
  EXPECT_EQ(back->parent, s.parent);
  EXPECT_EQ(back->tree, s.tree);
  EXPECT_EQ(back->source, s.source);
  EXPECT_EQ(back->summary, s.summary);
  EXPECT_EQ(back->errors, s.errors);
  EXPECT_EQ(back->audit_seq, 17u);
  EXPECT_EQ(j["time"], "2026-11-29T10:15:00.123456789Z");

  nlohmann::json no_tree = j;
  no_tree.erase("tree");
  EXPECT_EQ(SnapshotFromJson(no_tree).error().code(), ErrorCode::kIntegrity);
  nlohmann::json bad_parent = j;
  bad_parent["parent"] = "xyz";
  EXPECT_FALSE(SnapshotFromJson(bad_parent).ok());
  nlohmann::json wrong_type = j;
  wrong_type["tags"] = 5;
  EXPECT_FALSE(SnapshotFromJson(wrong_type).ok());
  EXPECT_FALSE(SnapshotFromJson(nlohmann::json::array()).ok());
}

TEST(SnapshotTest, SaveLoadFind) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  std::vector<Id> ids;
  // Saved out of time order; components interleaved.
  for (int64_t t : {5, 1, 4, 2, 3}) {
    auto id = SaveSnapshot(*repo, Sample(t * 1000000000, t % 2 ? "odd" : "even"));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  auto all = LoadAllSnapshots(*repo);
  ASSERT_TRUE(all.ok()) << all.error().message();
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ((*all)[i].time_unix_ns, int64_t(i + 1) * 1000000000);
  EXPECT_EQ((*all)[4].id, ids[0]);

  auto latest = FindSnapshot(*repo, "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->id, ids[0]);
  auto latest_even = FindSnapshot(*repo, "latest", "even");
  ASSERT_TRUE(latest_even.ok());
  EXPECT_EQ(latest_even->time_unix_ns, 4000000000);
  EXPECT_EQ(FindSnapshot(*repo, "latest", "nope").error().code(), ErrorCode::kNotFound);

  auto by_prefix = FindSnapshot(*repo, ids[3].Hex().substr(0, 10));
  ASSERT_TRUE(by_prefix.ok());
  EXPECT_EQ(by_prefix->id, ids[3]);
  EXPECT_EQ(by_prefix->time_unix_ns, 2000000000);
  EXPECT_EQ(SnapshotToJson(*by_prefix)["id"], ids[3].Hex());
  EXPECT_EQ(FindSnapshot(*repo, std::string(64, '0')).error().code(), ErrorCode::kNotFound);

  // A damaged snapshot is reported, naming it.
  testing::FlipByte(dir.Sub(ObjectKey(ObjectKind::kSnapshot, ids[2])), -3);
  auto damaged = LoadSnapshot(*repo, ids[2]);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.error().code(), ErrorCode::kIntegrity);
  auto all_again = LoadAllSnapshots(*repo);
  ASSERT_FALSE(all_again.ok());
  EXPECT_NE(all_again.error().message().find(ids[2].Hex()), std::string::npos);
}

TEST(SnapshotTest, NoSnapshots) {
  TempDir dir;
  auto repo = MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  auto all = LoadAllSnapshots(*repo);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(FindSnapshot(*repo, "latest").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace bulwark::repo

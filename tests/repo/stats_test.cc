#include "repo/stats.h"

#include <gtest/gtest.h>

#include "maintenance_test_util.h"

namespace bulwark::repo::testing {
namespace {

TEST(StatsTest, EmptyRepository) {
  TempDir dir;
  auto repo = MakeRepo(dir.path(), SmallPackOptions());
  ASSERT_NE(repo, nullptr);
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto s = ComputeStats(*repo);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->snapshots, 0u);
  EXPECT_EQ(s->packs, 0u);
  EXPECT_EQ(s->data_blobs, 0u);
  EXPECT_EQ(s->logical_bytes, 0u);
  EXPECT_EQ(s->DedupRatio(), 0.0);
  EXPECT_GT(s->total_bytes, 0u);  // config and key slot
}

TEST(StatsTest, CountsSharedDataOnceAndEverySnapshotsLogicalSize) {
  TempDir dir;
  auto repo = MakeRepo(dir.path(), SmallPackOptions());
  ASSERT_NE(repo, nullptr);
  SnapshotBuilder b(*repo);
  Bytes shared = PseudoRandom(5 * kTestChunk, 1);
  Bytes own1 = PseudoRandom(3 * kTestChunk, 2);
  Bytes own2 = PseudoRandom(2 * kTestChunk + 100, 3);
  ASSERT_TRUE(b.Write("c", {{"a/shared.bin", shared}, {"a/own1.bin", own1}}).ok());
  ASSERT_TRUE(b.Write("c", {{"a/shared.bin", shared}, {"b/deep/own2.bin", own2}}).ok());
  ASSERT_TRUE(repo->LoadIndex().ok());

  auto s = ComputeStats(*repo);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->snapshots, 2u);
  EXPECT_EQ(s->files, 4u);
  uint64_t logical = 2 * shared.size() + own1.size() + own2.size();
  EXPECT_EQ(s->logical_bytes, logical);
  // 5 shared chunks + 3 + 3 own chunks, each stored once.
  EXPECT_EQ(s->data_blobs, 11u);
  EXPECT_EQ(s->raw_data_bytes, shared.size() + own1.size() + own2.size());
  EXPECT_GE(s->tree_blobs, 4u);
  EXPECT_GT(s->packs, 1u);
  EXPECT_GE(s->pack_bytes, s->stored_bytes);
  EXPECT_GT(s->total_bytes, s->pack_bytes);
  EXPECT_NEAR(s->DedupRatio(), static_cast<double>(logical) / s->raw_data_bytes, 1e-9);
  EXPECT_GT(s->DedupRatio(), 1.0);

  auto j = RepoStatsToJson(*s);
  EXPECT_EQ(j["snapshots"], 2);
  EXPECT_EQ(j["logical_bytes"], logical);
  EXPECT_TRUE(j.contains("dedup_ratio"));
}

}  // namespace
}  // namespace bulwark::repo::testing

// The Redis stream record area: records round-trip through the repository (sealed, keyed by
// component, snapshot and offset), are create-only, are listed per component in offset order,
// are refused when moved to another key, their blobs are reported for prune, and they expire
// with the snapshot they continue.
#include "repo/redis_stream_store.h"

#include <gtest/gtest.h>

#include <set>

#include "repo/repo_test_util.h"
#include "repo/snapshot.h"

namespace bulwark::repo {
namespace {

using testing::MakeRepo;
using testing::TempDir;

RedisStreamRecord Record(Repository& repo, const std::string& component, uint64_t start,
                         uint64_t end) {
  RedisStreamRecord r;
  r.component = component;
  r.snapshot = repo.BlobId(AsBytes("snapshot"));
  r.replid = std::string(40, 'a');
  r.start_offset = start;
  r.end_offset = end;
  r.batches = {{start + (end - start) / 2, 1000}, {end, 2000}};
  r.blobs = {repo.BlobId(AsBytes(component + std::to_string(start)))};
  r.stored_unix_ns = 3000;
  return r;
}

TEST(RedisStreamStoreTest, RoundTripListAndBlobs) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  ASSERT_TRUE(PutRedisStreamRecord(*repo, Record(*repo, "a", 200, 300)).ok());
  ASSERT_TRUE(PutRedisStreamRecord(*repo, Record(*repo, "a", 100, 200)).ok());
  ASSERT_TRUE(PutRedisStreamRecord(*repo, Record(*repo, "b", 100, 150)).ok());
  // Create-only.
  auto again = PutRedisStreamRecord(*repo, Record(*repo, "a", 100, 200));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);

  auto list = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(list.ok()) << list.error().message();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].start_offset, 100u);
  EXPECT_EQ((*list)[1].start_offset, 200u);
  EXPECT_EQ((*list)[1].end_offset, 300u);
  EXPECT_EQ((*list)[1].replid, std::string(40, 'a'));
  ASSERT_EQ((*list)[1].batches.size(), 2u);
  EXPECT_EQ((*list)[1].batches[0].offset, 250u);
  EXPECT_EQ((*list)[1].batches[1].unix_ns, 2000);

  std::set<Id> blobs;
  ASSERT_TRUE(ForEachRedisStreamBlob(*repo, [&](const Id& id) { blobs.insert(id); }).ok());
  EXPECT_EQ(blobs.size(), 3u);
  EXPECT_TRUE(blobs.count(repo->BlobId(AsBytes("b100"))));
}

TEST(RedisStreamStoreTest, RecordMovedToAnotherKeyIsRefused) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  auto rec = Record(*repo, "a", 100, 200);
  ASSERT_TRUE(PutRedisStreamRecord(*repo, rec).ok());
  const std::string from = RedisStreamRecordKey(*repo, "a", rec.snapshot, 100);
  const std::string to = RedisStreamRecordKey(*repo, "a", rec.snapshot, 999);
  auto bytes = repo->backend().Get(from);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(repo->backend().Put(to, *bytes).ok());
  auto list = ListRedisStreamRecords(*repo, "a");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code(), ErrorCode::kIntegrity);
}

Id SaveRedisSnapshot(Repository& repo, const std::string& component, int64_t time) {
  Snapshot s;
  s.component = component;
  s.kind = "redis";
  s.tree = repo.BlobId(AsBytes("tree" + std::to_string(time)));
  s.time_unix_ns = time;
  auto id = SaveSnapshot(repo, s);
  EXPECT_TRUE(id.ok());
  return *id;
}

RedisStreamRecord RecordOf(Repository& repo, const Id& snapshot, uint64_t start) {
  RedisStreamRecord r = Record(repo, "a", start, start + 10);
  r.snapshot = snapshot;
  return r;
}

TEST(RedisStreamStoreTest, RecordsAreListedPerSnapshot) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  const Id s1 = SaveRedisSnapshot(*repo, "a", 1), s2 = SaveRedisSnapshot(*repo, "a", 2);
  for (uint64_t start : {100, 0, 50})
    ASSERT_TRUE(PutRedisStreamRecord(*repo, RecordOf(*repo, s1, start)).ok());
  ASSERT_TRUE(PutRedisStreamRecord(*repo, RecordOf(*repo, s2, 500)).ok());
  auto one = ListRedisStreamRecords(*repo, "a", s1);
  ASSERT_TRUE(one.ok()) << one.error().message();
  ASSERT_EQ(one->size(), 3u);
  EXPECT_EQ((*one)[0].start_offset, 0u);
  EXPECT_EQ((*one)[2].start_offset, 100u);
  auto all = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  EXPECT_TRUE(RedisStreamRecordKey(*repo, "a", s1, 0)
                  .starts_with(RedisStreamSnapshotPrefix(*repo, "a", s1)));
}

TEST(RedisStreamStoreTest, ExpireRemovesTheSegmentsOfForgottenAndMissingSnapshots) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  const Id kept = SaveRedisSnapshot(*repo, "a", 1);
  const Id forgotten = SaveRedisSnapshot(*repo, "a", 2);
  const Id other_component = SaveRedisSnapshot(*repo, "b", 3);
  const Id never_saved = repo->BlobId(AsBytes("no such snapshot"));
  ASSERT_TRUE(PutRedisStreamRecord(*repo, RecordOf(*repo, kept, 0)).ok());
  ASSERT_TRUE(PutRedisStreamRecord(*repo, RecordOf(*repo, forgotten, 0)).ok());
  ASSERT_TRUE(PutRedisStreamRecord(*repo, RecordOf(*repo, forgotten, 10)).ok());
  ASSERT_TRUE(PutRedisStreamRecord(*repo, RecordOf(*repo, never_saved, 0)).ok());
  RedisStreamRecord b = Record(*repo, "b", 0, 10);
  b.snapshot = other_component;
  ASSERT_TRUE(PutRedisStreamRecord(*repo, b).ok());

  // A dry run reports and removes nothing.
  auto dry = ExpireRedisStream(*repo, "", {forgotten}, true);
  ASSERT_TRUE(dry.ok()) << dry.error().message();
  EXPECT_EQ(dry->removed, 3u);
  EXPECT_GT(dry->bytes, 0u);
  auto listed = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 4u);

  auto done = ExpireRedisStream(*repo, "", {forgotten}, false);
  ASSERT_TRUE(done.ok()) << done.error().message();
  EXPECT_EQ(done->removed, 3u);
  listed = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].snapshot, kept);
  auto left_b = ListRedisStreamRecords(*repo, "b");
  ASSERT_TRUE(left_b.ok());
  EXPECT_EQ(left_b->size(), 1u);

  // Restricted to a component, the others are not looked at even when their snapshot is gone.
  ASSERT_TRUE(repo->backend().Remove(ObjectKey(ObjectKind::kSnapshot, other_component)).ok());
  auto only_a = ExpireRedisStream(*repo, "a", {}, false);
  ASSERT_TRUE(only_a.ok());
  EXPECT_EQ(only_a->removed, 0u);
  auto all = ExpireRedisStream(*repo, "", {}, false);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->removed, 1u);
}

}  // namespace
}  // namespace bulwark::repo

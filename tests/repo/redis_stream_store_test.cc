// The Redis stream record area: records round-trip through the repository (sealed, keyed by
// component, snapshot and offset), are create-only, are listed per component in offset order,
// are refused when moved to another key, and their blobs are reported for prune.
#include "repo/redis_stream_store.h"

#include <gtest/gtest.h>

#include <set>

#include "repo/repo_test_util.h"

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

}  // namespace
}  // namespace bulwark::repo

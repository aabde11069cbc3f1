#include "repo/deletion.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "repo/repository.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

TEST(DeletionRecordTest, EncodeDecode) {
  DeletionRecord r{.time_unix_ns = 1764000000000000001,
                   .packs = {crypto::Sha256(AsBytes("a")), crypto::Sha256(AsBytes("b"))},
                   .index_files = {crypto::Sha256(AsBytes("i"))},
                   .hostname = "backup-host",
                   .pid = 4242};
  auto back = DecodeDeletionRecord(EncodeDeletionRecord(r));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->time_unix_ns, r.time_unix_ns);
  EXPECT_EQ(back->packs, r.packs);
  EXPECT_EQ(back->index_files, r.index_files);
  EXPECT_EQ(back->hostname, r.hostname);
  EXPECT_EQ(back->pid, 4242);
  for (const char* bad :
       {"", "[]", "{}", R"({"version":2})",
        R"({"version":1,"time_unix_ns":1,"packs":["zz"],"index_files":[],"hostname":"h","pid":1})",
        R"({"version":1,"time_unix_ns":1,"packs":[],"index_files":[],"hostname":"h","pid":-1})"}) {
    auto d = DecodeDeletionRecord(AsBytes(bad));
    EXPECT_FALSE(d.ok()) << bad;
  }
}

// LoadIndex applies saved records: their packs become condemned.
TEST(DeletionRecordTest, LoadIndexCondemnsRecordedPacks) {
  testing::TempDir dir;
  auto repo = testing::MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  Id blob = crypto::Sha256(AsBytes("blob"));
  IndexedPack pack{crypto::Sha256(AsBytes("pack")), {{BlobType::kData, blob, 0, 100, 50}}};
  ASSERT_TRUE(repo->SaveObject(ObjectKind::kIndex, EncodeIndexFile({pack})).ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  EXPECT_TRUE(repo->index().HasUsable(BlobType::kData, blob));

  DeletionRecord r{
      .time_unix_ns = 1, .packs = {pack.pack}, .index_files = {}, .hostname = "h", .pid = 1};
  auto id = SaveDeletionRecord(*repo, r);
  ASSERT_TRUE(id.ok());
  auto all = LoadAllDeletionRecords(*repo);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].first, *id);

  ASSERT_TRUE(repo->LoadIndex().ok());
  EXPECT_TRUE(repo->index().IsCondemned(pack.pack));
  EXPECT_FALSE(repo->index().HasUsable(BlobType::kData, blob));
  EXPECT_TRUE(repo->index().Find(BlobType::kData, blob));
}

}  // namespace
}  // namespace bulwark::repo

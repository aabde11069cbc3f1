#include "repo/copy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "crypto/keys.h"
#include "repo/blob_writer.h"
#include "repo/redis_stream_store.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::FastInitOptions;
using testing::MakeRepo;
using testing::TempDir;

Bytes Data(size_t n, uint8_t seed) {
  Bytes b = crypto::RandomBytes(n);
  b[0] = seed;
  return b;
}

// One snapshot whose root tree holds one file of `chunks`.
Id Backup(Repository& repo, const std::vector<Bytes>& chunks) {
  BlobWriter writer(repo, WriterOptions{});
  Node file;
  file.name = "f";
  for (const auto& c : chunks) {
    auto id = writer.Add(BlobType::kData, c);
    EXPECT_TRUE(id.ok());
    file.content.push_back(*id);
    file.size += c.size();
  }
  Tree tree;
  tree.nodes.push_back(file);
  auto root = writer.Add(BlobType::kTree, EncodeTree(tree));
  EXPECT_TRUE(root.ok());
  EXPECT_TRUE(writer.Flush().ok());
  Snapshot s;
  s.component = "c";
  s.kind = "files";
  s.tree = *root;
  s.time_unix_ns = 1;
  auto id = SaveSnapshot(repo, s);
  EXPECT_TRUE(id.ok());
  return *id;
}

TEST(CopyTest, SharedKeysCopyIncrementallyAndKeepIds) {
  TempDir dir;
  auto a = MakeRepo(dir.Sub("a"));
  InitOptions shared = FastInitOptions();
  shared.master_key = a->key();
  shared.config.pack_size = 8u << 10;
  auto b = MakeRepo(dir.Sub("b"), shared, "other passphrase");
  auto c = MakeRepo(dir.Sub("c"));
  ASSERT_TRUE(a && b && c);
  EXPECT_NE(a->config().repository_id, b->config().repository_id);
  EXPECT_TRUE(SameKeys(a->key(), b->key()));
  EXPECT_FALSE(SameKeys(a->key(), c->key()));

  std::vector<Bytes> chunks = {Data(5000, 1), Data(7000, 2), Data(3000, 3)};
  ASSERT_TRUE(a->LoadIndex().ok());
  Id snap = Backup(*a, chunks);
  ASSERT_TRUE(a->LoadIndex().ok());
  ASSERT_TRUE(b->LoadIndex().ok());

  auto plan = PlanCopy(*a, *b, "");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->to_copy.size(), 1u);
  auto res = CopySnapshots(*a, *b, *plan, CopyOptions{});
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->snapshots_copied, 1u);
  EXPECT_EQ(res->blobs_copied, 4u);  // three chunks and the tree
  // Same ID in the target, readable there with the target's own passphrase.
  auto reopened = Repository::Open(testing::LocalAt(dir.Sub("b")), "other passphrase");
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  auto loaded = LoadSnapshot(**reopened, snap);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  auto tree = (*reopened)->LoadBlob(BlobType::kTree, loaded->tree);
  ASSERT_TRUE(tree.ok());
  auto decoded = DecodeTree(*tree);
  ASSERT_TRUE(decoded.ok());
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto blob = (*reopened)->LoadBlob(BlobType::kData, decoded->nodes[0].content[i]);
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(*blob, chunks[i]);
  }

  // Again: nothing to do.
  auto plan2 = PlanCopy(*a, *b, "");
  ASSERT_TRUE(plan2.ok());
  EXPECT_TRUE(plan2->to_copy.empty());
  EXPECT_EQ(plan2->present, 1u);

  // Another keyed repository is refused.
  ASSERT_TRUE(c->LoadIndex().ok());
  auto plan3 = PlanCopy(*a, *c, "");
  ASSERT_TRUE(plan3.ok());
  auto refused = CopySnapshots(*a, *c, *plan3, CopyOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUsage);
  EXPECT_NE(refused.error().message().find("init --from-repo"), std::string::npos);
}

// Stream segments follow their snapshot: those of a copied snapshot arrive with their data,
// those of a snapshot the target does not get stay behind, and a re-run copies nothing twice.
TEST(CopyTest, RedisStreamSegmentsFollowTheirSnapshot) {
  TempDir dir;
  auto a = MakeRepo(dir.Sub("a"));
  InitOptions shared = FastInitOptions();
  shared.master_key = a->key();
  auto b = MakeRepo(dir.Sub("b"), shared, "other passphrase");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->LoadIndex().ok());
  const Id snap = Backup(*a, {Data(4000, 1)});
  const Bytes stream = Data(3000, 9);
  Id stream_blob;
  {
    BlobWriter writer(*a, WriterOptions{});
    auto id = writer.Add(BlobType::kData, stream);
    ASSERT_TRUE(id.ok());
    stream_blob = *id;
    ASSERT_TRUE(writer.Flush().ok());
  }
  RedisStreamRecord rec;
  rec.component = "c";
  rec.snapshot = snap;
  rec.replid = std::string(40, 'f');
  rec.start_offset = 100;
  rec.end_offset = 100 + stream.size();
  rec.batches = {{rec.end_offset, 5}};
  rec.blobs = {stream_blob};
  ASSERT_TRUE(PutRedisStreamRecord(*a, rec).ok());
  // The next segment holds its bytes inline: copied as its one object.
  const Bytes inline_bytes = Data(2000, 11);
  RedisStreamRecord next = rec;
  next.blobs.clear();
  next.start_offset = rec.end_offset;
  next.end_offset = next.start_offset + inline_bytes.size();
  next.batches = {{next.end_offset, 6}};
  ASSERT_TRUE(PutInlineRedisStreamRecord(*a, next, inline_bytes).ok());
  RedisStreamRecord orphan = rec;
  orphan.snapshot = a->BlobId(AsBytes("a snapshot that is not copied"));
  ASSERT_TRUE(PutRedisStreamRecord(*a, orphan).ok());
  ASSERT_TRUE(a->LoadIndex().ok());
  ASSERT_TRUE(b->LoadIndex().ok());

  auto plan = PlanCopy(*a, *b, "");
  ASSERT_TRUE(plan.ok());
  auto res = CopySnapshots(*a, *b, *plan, CopyOptions{});
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->redis_stream_copied, 2u);
  ASSERT_TRUE(b->LoadIndex().ok());
  auto copied = ListRedisStreamRecords(*b, "c");
  ASSERT_TRUE(copied.ok()) << copied.error().message();
  ASSERT_EQ(copied->size(), 2u);
  EXPECT_EQ((*copied)[0].snapshot, snap);
  ASSERT_TRUE((*copied)[1].is_inline);
  Bytes got;
  ASSERT_TRUE(ReadRedisStreamBytes(*b, (*copied)[1], UINT64_MAX, [&](ByteView v) {
                got.insert(got.end(), v.begin(), v.end());
                return Status::Ok();
              }).ok());
  EXPECT_EQ(got, inline_bytes);
  auto data = b->LoadBlob(BlobType::kData, stream_blob);
  ASSERT_TRUE(data.ok()) << data.error().message();
  EXPECT_EQ(*data, stream);

  auto plan2 = PlanCopy(*a, *b, "");
  ASSERT_TRUE(plan2.ok());
  auto again = CopySnapshots(*a, *b, *plan2, CopyOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->redis_stream_copied, 0u);
  EXPECT_EQ(again->redis_stream_skipped, 2u);
}

// Many small chunks of one pack are read in a few ranged requests, not one each; a chunk
// damaged in the middle of such a range fails the copy naming that chunk.
TEST(CopyTest, ChunksOfAPackAreReadInRanges) {
  TempDir dir;
  auto a = MakeRepo(dir.Sub("a"));
  InitOptions shared = FastInitOptions();
  shared.master_key = a->key();
  auto b = MakeRepo(dir.Sub("b"), shared);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->LoadIndex().ok());
  std::vector<Bytes> chunks;
  for (int i = 0; i < 300; ++i) chunks.push_back(Data(3000, static_cast<uint8_t>(i)));
  Backup(*a, chunks);
  a.reset();

  auto reads = std::make_shared<std::atomic<int>>(0);
  auto counted =
      Repository::Open(std::make_unique<testing::CountingBackend>(dir.Sub("a"), reads), "secret");
  ASSERT_TRUE(counted.ok()) << counted.error().message();
  Repository& src = **counted;
  ASSERT_TRUE(src.LoadIndex().ok());
  ASSERT_TRUE(b->LoadIndex().ok());
  auto plan = PlanCopy(src, *b, "");
  ASSERT_TRUE(plan.ok());
  auto res = CopySnapshots(src, *b, *plan, CopyOptions{});
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->blobs_copied, 301u);
  EXPECT_LE(reads->load(), 4) << "one ranged read per chunk instead of per run";
  ASSERT_TRUE(b->LoadIndex().ok());
  for (const auto& c : chunks) {
    auto blob = b->LoadBlob(BlobType::kData, b->BlobId(c));
    ASSERT_TRUE(blob.ok()) << blob.error().message();
    EXPECT_EQ(*blob, c);
  }

  // Damage chunk 150 inside its pack, then copy into a fresh target.
  auto c = MakeRepo(dir.Sub("c"), shared);
  ASSERT_TRUE(c && c->LoadIndex().ok());
  const Id damaged = src.BlobId(chunks[150]);
  auto loc = src.index().Find(BlobType::kData, damaged);
  ASSERT_TRUE(loc.has_value());
  const std::string pack_file = dir.Sub("a") + "/" + PackKey(loc->pack);
  const long from_end = static_cast<long>(std::filesystem::file_size(pack_file)) -
                        static_cast<long>(loc->offset + loc->length / 2);
  testing::FlipByte(pack_file, -from_end);
  auto plan2 = PlanCopy(src, *c, "");
  ASSERT_TRUE(plan2.ok());
  auto bad = CopySnapshots(src, *c, *plan2, CopyOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kIntegrity);
  EXPECT_NE(bad.error().message().find(damaged.ShortHex()), std::string::npos)
      << bad.error().message();
}

TEST(CopyTest, DamagedBlobIsReadFromFallback) {
  TempDir dir;
  auto a = MakeRepo(dir.Sub("a"));
  InitOptions shared = FastInitOptions();
  shared.master_key = a->key();
  auto b = MakeRepo(dir.Sub("b"), shared);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->LoadIndex().ok());
  Bytes chunk = Data(20000, 9);
  Id snap = Backup(*a, {chunk});
  ASSERT_TRUE(a->LoadIndex().ok());
  ASSERT_TRUE(b->LoadIndex().ok());
  auto plan = PlanCopy(*a, *b, "");
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(CopySnapshots(*a, *b, *plan, CopyOptions{}).ok());
  (void)snap;

  // Damage every pack of a (a byte in the middle).
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.Sub("a") + "/data")) {
    if (!e.is_regular_file()) continue;
    testing::FlipByte(e.path().string(), -static_cast<long>(e.file_size() / 2));
  }
  Id id = a->BlobId(chunk);
  EXPECT_EQ(a->LoadBlob(BlobType::kData, id).error().code(), ErrorCode::kIntegrity);

  std::vector<std::string> notices;
  std::string b_path = dir.Sub("b");
  a->SetDisplayName("local");
  a->SetFallbacks(
      {{"offsite", [b_path]() { return Repository::Open(testing::LocalAt(b_path), "secret"); }}},
      [&notices](const std::string& line) { notices.push_back(line); });
  auto blob = a->LoadBlob(BlobType::kData, id);
  ASSERT_TRUE(blob.ok()) << blob.error().message();
  EXPECT_EQ(*blob, chunk);
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices.back().find("damaged in repository local; read from offsite"),
            std::string::npos)
      << notices.back();

  // The same through the path restore takes: sealed bytes from the pack, then decode.
  auto loc = a->index().Find(BlobType::kData, id);
  ASSERT_TRUE(loc.has_value());
  auto sealed = a->backend().GetRange(PackKey(loc->pack), loc->offset, loc->length);
  ASSERT_TRUE(sealed.ok());
  DecodeBuffers buffers;
  auto plain = a->DecodeBlobInto(BlobType::kData, id, *sealed, loc->raw_length, buffers,
                                 Repository::BlobCheck::kRehash);
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_TRUE(std::equal(plain->begin(), plain->end(), chunk.begin(), chunk.end()));

  // A missing pack reads as zeros, so the decode falls back too.
  std::filesystem::remove(dir.Sub("a") + "/" + PackKey(loc->pack));
  auto gone = a->backend().GetRange(PackKey(loc->pack), loc->offset, loc->length);
  ASSERT_TRUE(gone.ok());
  auto plain2 = a->DecodeBlobInto(BlobType::kData, id, *gone, loc->raw_length, buffers,
                                  Repository::BlobCheck::kTag);
  ASSERT_TRUE(plain2.ok()) << plain2.error().message();
  bool said_unreadable = false;
  for (const auto& n : notices)
    said_unreadable |= n.find("unreadable in repository local") != std::string::npos;
  EXPECT_TRUE(said_unreadable);
}

}  // namespace
}  // namespace bulwark::repo

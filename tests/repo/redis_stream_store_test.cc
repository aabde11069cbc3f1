// The Redis stream record area: records round-trip through the repository (sealed, keyed by
// component, snapshot and offset), are create-only, are listed per component in offset order,
// are refused when moved to another key, their blobs are reported for prune, and they expire
// with the snapshot they continue. Both forms: bytes inline in the record's one object (read
// back exactly, damage refused, never read by prune) and bytes in data blobs.
#include "repo/redis_stream_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "repo/blob_writer.h"
#include "repo/repo_test_util.h"
#include "repo/snapshot.h"

namespace bulwark::repo {
namespace {

using testing::MakeRepo;
using testing::TempDir;

// Counts the reads (whole or ranged) of Redis stream records and the bytes they return.
class StreamReadCounter : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Result<Bytes> Get(const std::string& key) override {
    auto r = inner_.Get(key);
    Count(key, r);
    return r;
  }
  Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) override {
    auto r = inner_.GetRange(key, offset, length);
    Count(key, r);
    return r;
  }
  std::atomic<int> reads{0};
  std::atomic<uint64_t> bytes{0};

 private:
  void Count(const std::string& key, const Result<Bytes>& r) {
    if (!key.starts_with(kRedisStreamPrefix)) return;
    ++reads;
    if (r.ok()) bytes += r->size();
  }
};

Bytes StreamBytes(size_t n, bool compressible, uint32_t seed = 1) {
  Bytes b(n);
  std::mt19937 rng(seed);
  for (size_t i = 0; i < n; ++i) {
    b[i] = compressible ? static_cast<uint8_t>("*3\r\n$3\r\nSET\r\n"[i % 13])
                        : static_cast<uint8_t>(rng());
  }
  return b;
}

Result<Bytes> ReadAll(const Repository& repo, const RedisStreamRecord& r,
                      uint64_t limit = UINT64_MAX) {
  Bytes out;
  Status st = ReadRedisStreamBytes(repo, r, limit, [&](ByteView b) {
    out.insert(out.end(), b.begin(), b.end());
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  return out;
}

std::string StoredPath(const std::string& repo_path, const std::string& key) {
  return repo_path + "/" + key;
}

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

TEST(RedisStreamStoreTest, HeaderEncodesAndDecodesBothForms) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  RedisStreamRecord blobs = Record(*repo, "a", 100, 200);
  auto b = DecodeRedisStreamRecord(EncodeRedisStreamRecord(blobs));
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_FALSE(b->is_inline);
  EXPECT_EQ(b->blobs, blobs.blobs);
  EXPECT_EQ(b->batches.size(), 2u);

  RedisStreamRecord in = Record(*repo, "a", 100, 200);
  in.blobs.clear();
  in.is_inline = true;
  in.inline_id = repo->BlobId(AsBytes("the bytes"));
  auto i = DecodeRedisStreamRecord(EncodeRedisStreamRecord(in));
  ASSERT_TRUE(i.ok()) << i.error().message();
  EXPECT_TRUE(i->is_inline);
  EXPECT_EQ(i->inline_id, in.inline_id);
  EXPECT_TRUE(i->blobs.empty());
  EXPECT_EQ(i->end_offset, 200u);
  EXPECT_EQ(i->stored_unix_ns, 3000);

  // A header naming both forms, or an inline segment over the limit, is refused.
  auto both = nlohmann::json::parse(AsString(EncodeRedisStreamRecord(in)));
  both["blobs"] = nlohmann::json::array({in.inline_id.Hex()});
  const std::string both_text = both.dump();
  EXPECT_FALSE(DecodeRedisStreamRecord(AsBytes(both_text)).ok());
  RedisStreamRecord big = in;
  big.end_offset = big.start_offset + kRedisStreamMaxInline + 1;
  EXPECT_FALSE(DecodeRedisStreamRecord(EncodeRedisStreamRecord(big)).ok());
}

// Inline segments: one object each (marked in its key), listed beside blob-form ones, read back
// exactly (compressible, incompressible, empty, cut short), skipped by prune's blob walk.
TEST(RedisStreamStoreTest, InlineSegmentsRoundTripInOneObject) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  const Bytes text = StreamBytes(300000, true);
  const Bytes noise = StreamBytes(200000, false);
  RedisStreamRecord r1 = Record(*repo, "a", 0, text.size());
  r1.blobs.clear();
  ASSERT_TRUE(PutInlineRedisStreamRecord(*repo, r1, text).ok());
  RedisStreamRecord r2 = Record(*repo, "a", text.size(), text.size() + noise.size());
  r2.blobs.clear();
  ASSERT_TRUE(PutInlineRedisStreamRecord(*repo, r2, noise).ok());
  RedisStreamRecord r3 = Record(*repo, "a", r2.end_offset, r2.end_offset);  // an end marker
  r3.blobs.clear();
  ASSERT_TRUE(PutInlineRedisStreamRecord(*repo, r3, {}).ok());
  // A blob-form segment after them (no real blob: only listed, not read).
  ASSERT_TRUE(
      PutRedisStreamRecord(*repo, Record(*repo, "a", r2.end_offset, r2.end_offset + 10)).ok());
  // Create-only, and the bytes must match the offsets.
  auto again = PutInlineRedisStreamRecord(*repo, r1, text);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  RedisStreamRecord wrong = Record(*repo, "a", 5000000, 5000010);
  wrong.blobs.clear();
  EXPECT_FALSE(PutInlineRedisStreamRecord(*repo, wrong, text).ok());

  auto listing = repo->backend().List(RedisStreamComponentPrefix(*repo, "a"));
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->size(), 4u);
  int inline_keys = 0;
  for (const auto& o : *listing) inline_keys += IsInlineRedisStreamKey(o.key) ? 1 : 0;
  EXPECT_EQ(inline_keys, 3);
  const std::string key1 = RedisStreamRecordKey(*repo, "a", r1.snapshot, 0, true);
  auto stat = repo->backend().Stat(key1);
  ASSERT_TRUE(stat.ok());
  EXPECT_LT(stat->size, text.size() / 10);  // compressed

  auto list = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(list.ok()) << list.error().message();
  ASSERT_EQ(list->size(), 4u);
  std::vector<const RedisStreamRecord*> inl;
  for (const auto& r : *list) {
    if (r.is_inline) inl.push_back(&r);
  }
  ASSERT_EQ(inl.size(), 3u);
  EXPECT_EQ(inl[0]->end_offset, text.size());
  EXPECT_EQ(inl[0]->batches.size(), 2u);
  auto got = ReadAll(*repo, *inl[0]);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, text);
  got = ReadAll(*repo, *inl[1]);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, noise);
  got = ReadAll(*repo, *inl[1], 1234);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, Bytes(noise.begin(), noise.begin() + 1234));
  got = ReadAll(*repo, *inl[2]);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  auto one = LoadRedisStreamRecord(*repo, key1);
  ASSERT_TRUE(one.ok()) << one.error().message();
  EXPECT_TRUE(one->is_inline);
  EXPECT_EQ(one->inline_id, repo->BlobId(text));

  // Prune's walk: only the blob-form record's blob.
  std::set<Id> blobs;
  ASSERT_TRUE(ForEachRedisStreamBlob(*repo, [&](const Id& id) { blobs.insert(id); }).ok());
  EXPECT_EQ(blobs.size(), 1u);
}

// Listing reads an inline record's header only (a ranged read), prune's walk reads no inline
// record at all, and a restore reads the whole object.
TEST(RedisStreamStoreTest, ListingReadsOnlyTheHeadersOfInlineSegments) {
  TempDir dir;
  const std::string path = dir.Sub("repo");
  const Bytes noise = StreamBytes(2u << 20, false);
  {
    auto repo = MakeRepo(path);
    RedisStreamRecord r = Record(*repo, "a", 0, noise.size());
    r.blobs.clear();
    ASSERT_TRUE(PutInlineRedisStreamRecord(*repo, r, noise).ok());
  }
  auto counter = std::make_unique<StreamReadCounter>(path);
  StreamReadCounter* c = counter.get();
  auto repo = Repository::Open(std::move(counter), "secret");
  ASSERT_TRUE(repo.ok()) << repo.error().message();
  std::set<Id> blobs;
  ASSERT_TRUE(ForEachRedisStreamBlob(**repo, [&](const Id& id) { blobs.insert(id); }).ok());
  EXPECT_TRUE(blobs.empty());
  EXPECT_EQ(c->reads.load(), 0);
  auto list = ListRedisStreamRecords(**repo, "a");
  ASSERT_TRUE(list.ok()) << list.error().message();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(c->reads.load(), 1);
  EXPECT_LT(c->bytes.load(), 100000u);
  auto got = ReadAll(**repo, (*list)[0]);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, noise);
  EXPECT_GT(c->bytes.load(), noise.size());
}

TEST(RedisStreamStoreTest, DamagedOrMovedInlineSegmentsAreRefused) {
  TempDir dir;
  const std::string path = dir.Sub("repo");
  auto repo = MakeRepo(path);
  const Bytes text = StreamBytes(5000, true);
  RedisStreamRecord r = Record(*repo, "a", 0, text.size());
  r.blobs.clear();
  ASSERT_TRUE(PutInlineRedisStreamRecord(*repo, r, text).ok());
  const std::string key = RedisStreamRecordKey(*repo, "a", r.snapshot, 0, true);
  auto list = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const RedisStreamRecord listed = (*list)[0];

  // Moved under the blob-form key of the same segment, or another offset: refused.
  auto bytes = repo->backend().Get(key);
  ASSERT_TRUE(bytes.ok());
  for (const std::string& to : {RedisStreamRecordKey(*repo, "a", r.snapshot, 0, false),
                                RedisStreamRecordKey(*repo, "a", r.snapshot, 7, true)}) {
    ASSERT_TRUE(repo->backend().Put(to, *bytes).ok());
    auto moved = LoadRedisStreamRecord(*repo, to);
    ASSERT_FALSE(moved.ok());
    EXPECT_EQ(moved.error().code(), ErrorCode::kIntegrity);
    ASSERT_TRUE(repo->backend().Remove(to).ok());
  }

  // A damaged data part: the header still lists, the bytes are refused.
  testing::FlipByte(StoredPath(path, key), -5);
  auto again = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(again.ok()) << again.error().message();
  auto got = ReadAll(*repo, listed);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ErrorCode::kIntegrity);
  testing::FlipByte(StoredPath(path, key), -5);  // repaired
  ASSERT_TRUE(ReadAll(*repo, listed).ok());

  // A damaged header is refused when listing.
  auto stat = repo->backend().Stat(key);
  ASSERT_TRUE(stat.ok());
  testing::FlipByte(StoredPath(path, key), -static_cast<long>(stat->size) + 10);
  auto bad = ListRedisStreamRecords(*repo, "a");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kIntegrity);
}

// The blob form, as older versions stored every segment, reads back through the same call.
TEST(RedisStreamStoreTest, BlobFormSegmentsReadBack) {
  TempDir dir;
  auto repo = MakeRepo(dir.Sub("repo"));
  ASSERT_TRUE(repo->LoadIndex().ok());
  const Bytes p1 = StreamBytes(3000, true), p2 = StreamBytes(2000, false, 7);
  RedisStreamRecord r = Record(*repo, "a", 10, 10 + p1.size() + p2.size());
  r.blobs.clear();
  {
    BlobWriter writer(*repo, WriterOptions{});
    for (const Bytes* p : {&p1, &p2}) {
      auto id = writer.Add(BlobType::kData, *p);
      ASSERT_TRUE(id.ok());
      r.blobs.push_back(*id);
    }
    ASSERT_TRUE(writer.Flush().ok());
  }
  ASSERT_TRUE(PutRedisStreamRecord(*repo, r).ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto list = ListRedisStreamRecords(*repo, "a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_FALSE((*list)[0].is_inline);
  Bytes all = p1;
  all.insert(all.end(), p2.begin(), p2.end());
  auto got = ReadAll(*repo, (*list)[0]);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, all);
  got = ReadAll(*repo, (*list)[0], 3500);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, Bytes(all.begin(), all.begin() + 3500));
  // A record that says it holds more than its blobs do.
  RedisStreamRecord longer = (*list)[0];
  longer.end_offset += 1;
  EXPECT_EQ(ReadAll(*repo, longer).error().code(), ErrorCode::kIntegrity);
}

}  // namespace
}  // namespace bulwark::repo

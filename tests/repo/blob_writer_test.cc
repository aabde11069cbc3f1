#include "repo/blob_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "repo_test_util.h"

namespace bulwark::repo {
namespace {

using testing::FastInitOptions;
using testing::LocalAt;
using testing::TempDir;

// A real local backend whose pack uploads start failing (as on a full disk) after `budget`.
class FailingBackend : public testing::ForwardingBackend {
 public:
  FailingBackend(std::string root, std::shared_ptr<std::atomic<int>> budget)
      : ForwardingBackend(std::move(root)), budget_(std::move(budget)) {}
  Status Put(const std::string& key, ByteView data) override {
    if (key.rfind("data/", 0) == 0 && budget_->fetch_sub(1) <= 0)
      return Error(ErrorCode::kNoSpace, "writing " + key + ": No space left on device");
    return inner_.Put(key, data);
  }

 private:
  std::shared_ptr<std::atomic<int>> budget_;
};

// A real local backend that records the most pack uploads in flight at once. The first `barrier`
// uploads wait (up to 10 s) for each other, so a writer that keeps fewer in flight shows in the
// peak, not through timing luck. The `fail_at`-th pack upload (counting from 1; 0 = none) fails
// without storing anything.
class ConcurrencyProbe : public testing::ForwardingBackend {
 public:
  ConcurrencyProbe(std::string root, int barrier, int fail_at = 0)
      : ForwardingBackend(std::move(root)), barrier_(barrier), fail_at_(fail_at) {}
  Status Put(const std::string& key, ByteView data) override {
    if (!key.starts_with("data/")) return inner_.Put(key, data);
    const int call = calls_.fetch_add(1) + 1;
    {
      std::unique_lock lock(mu_);
      ++in_flight_;
      peak_ = std::max(peak_, in_flight_);
      if (in_flight_ >= barrier_) reached_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(10), [&] { return reached_; });
    }
    Status st = call == fail_at_ ? Status(Error(ErrorCode::kIo, "PUT " + key + ": injected"))
                                 : inner_.Put(key, data);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard lock(mu_);
    --in_flight_;
    return st;
  }
  int peak() const {
    std::lock_guard lock(mu_);
    return peak_;
  }

 private:
  const int barrier_, fail_at_;
  std::atomic<int> calls_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0, peak_ = 0;
  bool reached_ = false;
};

InitOptions SmallPacks() {
  InitOptions o = FastInitOptions();
  o.config.pack_size = 256 << 10;
  return o;
}

std::vector<Bytes> MakeBlobs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Bytes> out;
  for (int i = 0; i < n; ++i) {
    size_t size = 1000 + rng() % 20000;
    Bytes b(size);
    if (i % 2) {
      for (auto& x : b) x = static_cast<uint8_t>(rng());
    } else {
      std::string line = "blob " + std::to_string(i) + " compressible line\n";
      for (size_t k = 0; k < size; ++k) b[k] = static_cast<uint8_t>(line[k % line.size()]);
    }
    out.push_back(std::move(b));
  }
  return out;
}

size_t CountObjects(storage::Backend& backend, const std::string& prefix) {
  auto list = backend.List(prefix);
  return list.ok() ? list->size() : 0;
}

TEST(BlobWriterTest, ConcurrentOverlappingAddsStoreEachBlobOnce) {
  TempDir dir;
  auto repo = testing::MakeRepo(dir.path(), SmallPacks());
  ASSERT_TRUE(repo);
  auto blobs = MakeBlobs(400, 1);
  uint64_t total_raw = 0;
  for (const auto& b : blobs) total_raw += b.size();
  std::vector<Id> ids;
  for (const auto& b : blobs) ids.push_back(repo->BlobId(b));

  WriterOptions options;
  options.workers = 3;
  options.uploaders = 2;
  options.max_queued_bytes = 1 << 20;
  options.packs_per_index = 4;
  BlobWriter writer(*repo, options);
  std::atomic<int> news{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<size_t> order(blobs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(t));
      for (size_t i : order) {
        // Every fifth blob also goes in as a tree: types are separate namespaces.
        BlobType type = i % 5 == 0 && t == 3 ? BlobType::kTree : BlobType::kData;
        auto r = writer.Add(type, ids[i], blobs[i]);
        ASSERT_TRUE(r.ok());
        if (*r) ++news;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(writer.Flush().ok());
  WriterStats s = writer.stats();
  EXPECT_EQ(news.load(), 400 + 80);
  EXPECT_EQ(s.blobs_new, 480u);
  EXPECT_EQ(s.blobs_duplicate, 4u * 400 - 480);
  uint64_t tree_raw = 0;
  for (size_t i = 0; i < blobs.size(); i += 5) tree_raw += blobs[i].size();
  EXPECT_EQ(s.bytes_new_raw, total_raw + tree_raw);
  EXPECT_LT(s.bytes_new_stored, s.bytes_new_raw);  // half the blobs compress well
  // Sane pack count: roughly stored bytes / pack size (plus one partial pack per type).
  EXPECT_GE(s.packs_written, s.bytes_new_stored / (256 << 10));
  EXPECT_LE(s.packs_written, s.bytes_new_stored / (256 << 10) + 3);
  EXPECT_EQ(CountObjects(repo->backend(), "data/"), s.packs_written);
  EXPECT_EQ(CountObjects(repo->backend(), "index/"), s.index_files_written);
  EXPECT_GE(s.index_files_written, s.packs_written / 4);
  EXPECT_EQ(repo->index().BlobCount(), 480u);

  for (const Id& pack : repo->index().Packs()) {
    auto in_pack = repo->index().BlobsInPack(pack);
    ASSERT_FALSE(in_pack.empty());
    for (const auto& b : in_pack) EXPECT_EQ(b.type, in_pack[0].type) << "mixed pack";
  }
  for (size_t i = 0; i < blobs.size(); ++i) {
    EXPECT_TRUE(writer.Known(BlobType::kData, ids[i]));
    auto back = repo->LoadBlob(BlobType::kData, ids[i]);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, blobs[i]);
  }

  // Everything is durable: a fresh process finds every blob through the stored index files.
  auto reopened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  EXPECT_EQ((*reopened)->index().BlobCount(), 480u);
  for (size_t i = 0; i < blobs.size(); i += 7) {
    auto back = (*reopened)->LoadBlob(BlobType::kData, ids[i]);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, blobs[i]);
  }
  auto tree = (*reopened)->LoadBlob(BlobType::kTree, ids[5]);
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(*tree, blobs[5]);
}

// Threads encoding in the caller and threads handing blobs to the workers share one writer:
// each blob is stored once, in whichever way claimed it first, and reads back intact.
TEST(BlobWriterTest, AddInCallerMixesWithWorkerAdds) {
  TempDir dir;
  auto repo = testing::MakeRepo(dir.path(), SmallPacks());
  ASSERT_TRUE(repo);
  auto blobs = MakeBlobs(300, 2);
  std::vector<Id> ids;
  for (const auto& b : blobs) ids.push_back(repo->BlobId(b));
  WriterOptions options;
  options.workers = 2;
  options.packs_per_index = 3;
  BlobWriter writer(*repo, options);
  std::atomic<int> news{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<size_t> order(blobs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(t + 10));
      for (size_t i : order) {
        auto r = t % 2 == 0 ? writer.AddInCaller(BlobType::kData, ids[i], blobs[i])
                            : writer.Add(BlobType::kData, ids[i], blobs[i]);
        ASSERT_TRUE(r.ok());
        if (*r) ++news;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(news.load(), 300);
  EXPECT_EQ(writer.stats().blobs_new, 300u);
  EXPECT_EQ(writer.stats().blobs_duplicate, 900u);
  auto reopened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  EXPECT_EQ((*reopened)->index().BlobCount(), 300u);
  for (size_t i = 0; i < blobs.size(); ++i) {
    auto back = (*reopened)->LoadBlob(BlobType::kData, ids[i]);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, blobs[i]);
  }
}

TEST(BlobWriterTest, DeduplicatesAgainstTheIndexButNotCondemnedPacks) {
  TempDir dir;
  auto repo = testing::MakeRepo(dir.path(), SmallPacks());
  ASSERT_TRUE(repo);
  auto blobs = MakeBlobs(30, 2);
  {
    BlobWriter writer(*repo, WriterOptions{});
    for (const auto& b : blobs) ASSERT_TRUE(writer.Add(BlobType::kData, b).ok());
    ASSERT_TRUE(writer.Flush().ok());
  }
  ASSERT_TRUE(repo->LoadIndex().ok());
  const size_t packs_before = CountObjects(repo->backend(), "data/");
  {
    BlobWriter writer(*repo, WriterOptions{});
    for (const auto& b : blobs) {
      bool is_new = true;
      ASSERT_TRUE(writer.Add(BlobType::kData, b, &is_new).ok());
      EXPECT_FALSE(is_new);
    }
    ASSERT_TRUE(writer.Flush().ok());
    EXPECT_EQ(writer.stats().blobs_duplicate, 30u);
    EXPECT_EQ(writer.stats().packs_written, 0u);
    EXPECT_EQ(writer.stats().index_files_written, 0u);
  }
  EXPECT_EQ(CountObjects(repo->backend(), "data/"), packs_before);

  // Prune condemned every pack: a writer must store the blobs again.
  for (const Id& p : repo->index().Packs()) repo->mutable_index().Condemn(p);
  {
    BlobWriter writer(*repo, WriterOptions{});
    for (const auto& b : blobs) ASSERT_TRUE(writer.Add(BlobType::kData, b).ok());
    ASSERT_TRUE(writer.Flush().ok());
    EXPECT_EQ(writer.stats().blobs_new, 30u);
  }
  for (const auto& b : blobs) {
    Id id = repo->BlobId(b);
    EXPECT_TRUE(repo->index().HasUsable(BlobType::kData, id));
    auto loc = repo->index().Find(BlobType::kData, id);
    ASSERT_TRUE(loc);
    EXPECT_FALSE(repo->index().IsCondemned(loc->pack));
  }
}

TEST(BlobWriterTest, UploadFailureIsReportedAndSticky) {
  TempDir dir;
  auto budget = std::make_shared<std::atomic<int>>(1000);
  auto created = Repository::Init(std::make_unique<FailingBackend>(dir.path(), budget), "secret",
                                  SmallPacks());
  ASSERT_TRUE(created.ok());
  auto& repo = **created;
  budget->store(2);  // two packs fit, then the disk is "full"
  auto blobs = MakeBlobs(200, 3);
  BlobWriter writer(
      repo, WriterOptions{
                .workers = 2, .uploaders = 2, .max_queued_bytes = 256 << 10, .packs_per_index = 1});
  Status first_error;
  for (const auto& b : blobs) {
    auto r = writer.Add(BlobType::kData, b);
    if (!r.ok()) {
      first_error = r.error();
      break;
    }
  }
  Status flushed = writer.Flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error().code(), ErrorCode::kNoSpace);
  EXPECT_NE(flushed.error().message().find("No space"), std::string::npos);
  if (!first_error.ok()) {
    EXPECT_EQ(first_error.error().code(), ErrorCode::kNoSpace);
  }
  EXPECT_FALSE(writer.Add(BlobType::kData, ToBytes("more")).ok());  // sticky
  const Bytes more = ToBytes("more, encoded in the caller");
  EXPECT_FALSE(writer.AddInCaller(BlobType::kData, repo.BlobId(more), more).ok());
  EXPECT_EQ(writer.stats().packs_written, 2u);
  // What did get stored is consistent: both packs are indexed on disk and readable.
  auto reopened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  EXPECT_EQ((*reopened)->index().Packs().size(), 2u);
  (*reopened)->index().ForEachBlob([&](const IndexedBlob& b, const Id&) {
    EXPECT_TRUE((*reopened)->LoadBlob(b.type, b.id).ok());
  });
}

TEST(BlobWriterTest, KeepsAsManyUploadsInFlightAsConfiguredAndNoMore) {
  TempDir dir;
  auto backend = std::make_unique<ConcurrencyProbe>(dir.path(), /*barrier=*/3);
  ConcurrencyProbe* probe = backend.get();
  auto created = Repository::Init(std::move(backend), "secret", SmallPacks());
  ASSERT_TRUE(created.ok());
  auto& repo = **created;
  auto blobs = MakeBlobs(600, 11);
  BlobWriter writer(repo,
                    WriterOptions{.workers = 2, .uploaders = 3, .max_queued_bytes = 256 << 10});
  std::vector<Id> ids;
  for (const auto& b : blobs) {
    auto id = writer.Add(BlobType::kData, b);
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  ASSERT_TRUE(writer.Flush().ok());
  ASSERT_GT(writer.stats().packs_written, 6u);
  EXPECT_EQ(probe->peak(), 3);  // reached (the barrier) and never exceeded
  for (size_t i = 0; i < ids.size(); ++i) {
    auto back = repo.LoadBlob(BlobType::kData, ids[i]);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, blobs[i]);
  }
}

TEST(BlobWriterTest, DefaultUploadersOnALocalBackendAreTwo) {
  TempDir dir;
  auto backend = std::make_unique<ConcurrencyProbe>(dir.path(), /*barrier=*/2);
  ConcurrencyProbe* probe = backend.get();
  auto created = Repository::Init(std::move(backend), "secret", SmallPacks());
  ASSERT_TRUE(created.ok());
  BlobWriter writer(**created, WriterOptions{.workers = 2});  // uploaders 0: the backend's
  for (const auto& b : MakeBlobs(600, 12)) ASSERT_TRUE(writer.Add(BlobType::kData, b).ok());
  ASSERT_TRUE(writer.Flush().ok());
  ASSERT_GT(writer.stats().packs_written, 6u);
  EXPECT_EQ(probe->peak(), 2);
}

TEST(BlobWriterTest, FailedUploadAmongManyInFlightFailsTheWriterAndIndexesWhatWasStored) {
  TempDir dir;
  // Four uploads in flight; the third fails while the others are still running.
  auto backend = std::make_unique<ConcurrencyProbe>(dir.path(), /*barrier=*/4, /*fail_at=*/3);
  auto created = Repository::Init(std::move(backend), "secret", SmallPacks());
  ASSERT_TRUE(created.ok());
  auto& repo = **created;
  BlobWriter writer(repo,
                    WriterOptions{.workers = 2, .uploaders = 4, .max_queued_bytes = 256 << 10});
  for (const auto& b : MakeBlobs(600, 13)) {
    if (!writer.Add(BlobType::kData, b).ok()) break;
  }
  Status flushed = writer.Flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error().code(), ErrorCode::kIo);
  EXPECT_NE(flushed.error().message().find("injected"), std::string::npos);
  EXPECT_FALSE(writer.Add(BlobType::kData, ToBytes("after the failure")).ok());
  // The uploads in flight beside the failed one finished and were stored: every stored pack
  // is indexed on disk (a retry deduplicates against it) and every indexed blob is readable.
  const uint64_t stored = writer.stats().packs_written;
  EXPECT_GE(stored, 3u);
  auto reopened = Repository::Open(LocalAt(dir.path()), "secret");
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  EXPECT_EQ((*reopened)->index().Packs().size(), stored);
  EXPECT_EQ(CountObjects((*reopened)->backend(), "data/"), stored);
  size_t blobs = 0;
  (*reopened)->index().ForEachBlob([&](const IndexedBlob& b, const Id&) {
    ++blobs;
    EXPECT_TRUE((*reopened)->LoadBlob(b.type, b.id).ok());
  });
  EXPECT_GT(blobs, 0u);
}

TEST(BlobWriterTest, EmptyFlushAndReuseAfterFlush) {
  TempDir dir;
  auto repo = testing::MakeRepo(dir.path());
  ASSERT_TRUE(repo);
  BlobWriter writer(*repo, WriterOptions{});
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(writer.stats().packs_written, 0u);
  auto a = writer.Add(BlobType::kData, ToBytes("first"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(writer.Flush().ok());
  auto b = writer.Add(BlobType::kData, Bytes{});  // the empty blob (empty files) is a blob too
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(writer.stats().packs_written, 2u);
  EXPECT_EQ(writer.stats().index_files_written, 2u);
  auto back = repo->LoadBlob(BlobType::kData, *b);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

}  // namespace
}  // namespace bulwark::repo

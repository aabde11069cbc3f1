#include "repo/prune.h"

#include <gtest/gtest.h>
#include <utime.h>

#include <filesystem>

#include "maintenance_test_util.h"
#include "repo/check.h"
#include "repo/deletion.h"
#include "repo/lock.h"
#include "repo/pack.h"

namespace bulwark::repo::testing {
namespace {

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

uint64_t StoredBytes(const std::string& root) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/data")) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

class PruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = MakeRepo(dir_.path(), SmallPackOptions());
    ASSERT_NE(repo_, nullptr);
  }

  std::unique_ptr<Repository> OpenAgain() {
    auto r = Repository::Open(LocalAt(dir_.path()), "secret");
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return nullptr;
    EXPECT_TRUE((*r)->LoadIndex().ok());
    return std::move(*r);
  }

  PruneReport RunPrune(PruneOptions o = {}) {
    auto r = Prune(*repo_, o);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : PruneReport{};
  }

  // Full check with --read-data from a fresh session; returns its errors.
  std::vector<std::string> CheckErrors() {
    auto fresh = OpenAgain();
    if (!fresh) return {"cannot open"};
    CheckOptions o;
    o.read_data = true;
    auto r = Check(*fresh, o);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {r.error().message()};
    return r->errors;
  }

  // Every blob of every snapshot loads from a fresh session (fresh index).
  void ExpectAllLoad(const std::vector<Id>& snaps) {
    auto fresh = OpenAgain();
    ASSERT_NE(fresh, nullptr);
    for (const auto& s : snaps) {
      auto n = LoadEverything(*fresh, s);
      EXPECT_TRUE(n.ok()) << s.ShortHex() << ": " << n.error().message();
    }
  }

  TempDir dir_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(PruneTest, RemovesForgottenDataAndKeepsEverythingReferenced) {
  SnapshotBuilder b(*repo_);
  auto old =
      b.Write("config", {{"etc/a", PseudoRandom(60000, 1)}, {"etc/b", PseudoRandom(3000, 2)}});
  ASSERT_TRUE(old.ok());
  auto keep =
      b.Write("config", {{"etc/b", PseudoRandom(3000, 2)}, {"etc/c", PseudoRandom(40000, 3)}});
  ASSERT_TRUE(keep.ok());
  uint64_t before = StoredBytes(dir_.path());

  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *old).ok());
  PruneReport r = RunPrune();
  EXPECT_GT(r.packs_condemned, 0u);
  EXPECT_GT(r.packs_deleted, 0u);
  EXPECT_EQ(r.records_swept, 1u);
  EXPECT_EQ(r.records_pending, 0u);
  EXPECT_GT(r.bytes_freed, 50000u);
  EXPECT_LT(StoredBytes(dir_.path()), before - 50000);
  // The record and the superseded index files are gone; one consolidated index remains
  // (plus none from repacking here or one, depending on pack boundaries).
  EXPECT_TRUE(ListKeys(repo_->backend(), "deletions/").empty());

  ExpectAllLoad({*keep});
  EXPECT_TRUE(CheckErrors().empty()) << Joined(CheckErrors());

  // Nothing left to do: a second prune changes nothing.
  auto keys_before = ListKeys(repo_->backend(), "");
  PruneReport again = RunPrune();
  EXPECT_EQ(again.packs_condemned, 0u);
  EXPECT_EQ(again.packs_repacked, 0u);
  EXPECT_EQ(ListKeys(repo_->backend(), ""), keys_before);
}

TEST_F(PruneTest, RepacksPartlyUsedPacks) {
  // One writer for both files so that their chunks share packs.
  SnapshotBuilder b(*repo_);
  std::vector<FileSpec> files;
  for (int i = 0; i < 6; ++i) {
    files.push_back({"f" + std::to_string(i), PseudoRandom(4096 * 3, 10 + i)});
  }
  auto all = b.Write("config", files);
  ASSERT_TRUE(all.ok());
  // A second snapshot that uses only every other file.
  std::vector<FileSpec> half = {files[0], files[2], files[4]};
  auto part = b.Write("config", half);
  ASSERT_TRUE(part.ok());
  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *all).ok());
  uint64_t before = StoredBytes(dir_.path());

  PruneOptions o;
  o.max_unused = 0.0;
  PruneReport r = RunPrune(o);
  EXPECT_GT(r.packs_repacked, 0u) << "pack layout did not mix used and unused blobs";
  EXPECT_GT(r.blobs_repacked, 0u);
  EXPECT_EQ(r.records_swept, 1u);
  EXPECT_LT(StoredBytes(dir_.path()), before);
  ExpectAllLoad({*part});
  EXPECT_TRUE(CheckErrors().empty()) << Joined(CheckErrors());

  // Every remaining pack is now fully used: nothing more to repack.
  PruneReport again = RunPrune(o);
  EXPECT_EQ(again.packs_repacked, 0u);
  EXPECT_EQ(again.packs_condemned, 0u);
}

TEST_F(PruneTest, DryRunChangesNothing) {
  SnapshotBuilder b(*repo_);
  auto old = b.Write("config", {{"a", PseudoRandom(50000, 1)}});
  auto keep = b.Write("config", {{"b", PseudoRandom(50000, 2)}});
  ASSERT_TRUE(old.ok() && keep.ok());
  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *old).ok());
  auto keys_before = ListKeys(repo_->backend(), "");
  PruneOptions o;
  o.dry_run = true;
  PruneReport r = RunPrune(o);
  EXPECT_TRUE(r.dry_run);
  EXPECT_GT(r.packs_condemned, 0u);
  EXPECT_GT(r.bytes_freed, 40000u);
  EXPECT_EQ(ListKeys(repo_->backend(), ""), keys_before);
}

// A backup that started before prune deduplicates against a pack prune then condemns, and
// saves its snapshot after prune: prune must neither delete the pack while the backup runs
// nor later, once the snapshot uses it.
TEST_F(PruneTest, ConcurrentBackupThatDedupsAgainstACondemnedPackLosesNothing) {
  SnapshotBuilder b(*repo_);
  Bytes shared = PseudoRandom(30000, 7);
  auto old = b.Write("config", {{"shared.bin", shared}});
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *old).ok());

  // The backup: its own session, a shared lock, blobs written (deduplicated) before prune.
  auto writer_repo = OpenAgain();
  ASSERT_NE(writer_repo, nullptr);
  auto writer_lock = RepoLock::Acquire(*writer_repo, LockKind::kShared, "backup");
  ASSERT_TRUE(writer_lock.ok()) << writer_lock.error().message();
  WriterOptions wo;
  wo.workers = 1;
  auto writer = std::make_unique<BlobWriter>(*writer_repo, wo);
  for (size_t off = 0; off < shared.size(); off += kTestChunk) {
    Bytes chunk(shared.begin() + static_cast<long>(off),
                shared.begin() + static_cast<long>(std::min(shared.size(), off + kTestChunk)));
    bool is_new = true;
    ASSERT_TRUE(writer->Add(BlobType::kData, std::move(chunk), &is_new).ok());
    EXPECT_FALSE(is_new);  // deduplicated against the soon-to-be-condemned packs
  }

  PruneReport r = RunPrune();
  EXPECT_GT(r.packs_condemned, 0u);
  EXPECT_EQ(r.records_pending, 1u) << "swept while a backup that predates it was running";
  EXPECT_EQ(r.records_swept, 0u);
  EXPECT_FALSE(r.messages.empty());
  EXPECT_EQ(ListKeys(repo_->backend(), "deletions/").size(), 1u);

  // A prune while the backup still runs changes nothing either.
  PruneReport r2 = RunPrune();
  EXPECT_EQ(r2.records_pending, 1u);
  EXPECT_EQ(r2.packs_deleted, 0u);

  // The backup finishes: snapshot saved after prune, referencing the condemned pack's blobs.
  SnapshotBuilder wb(*writer_repo);
  auto late = wb.Write("config", {{"shared.bin", shared}, {"new.bin", PseudoRandom(5000, 8)}},
                       writer.get());
  ASSERT_TRUE(late.ok()) << late.error().message();
  writer.reset();
  ASSERT_TRUE((*writer_lock)->Release().ok());
  ExpectAllLoad({*late});

  // Now prune sweeps the record but rescues the packs the late snapshot uses.
  PruneReport r3 = RunPrune();
  EXPECT_EQ(r3.records_swept, 1u);
  EXPECT_GT(r3.packs_rescued, 0u);
  EXPECT_TRUE(ListKeys(repo_->backend(), "deletions/").empty());
  ExpectAllLoad({*late});
  EXPECT_TRUE(CheckErrors().empty()) << Joined(CheckErrors());
}

// A backup that starts after prune condemned a pack must store the blobs again rather than
// deduplicate against it.
TEST_F(PruneTest, BackupAfterMarkStoresCondemnedBlobsAgain) {
  SnapshotBuilder b(*repo_);
  Bytes data = PseudoRandom(20000, 9);
  auto old = b.Write("config", {{"x", data}});
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *old).ok());
  PruneOptions o;
  o.sweep_now = false;  // leave the record pending, as if a backup were running
  PruneReport r = RunPrune(o);
  EXPECT_EQ(r.records_pending, 1u);

  auto writer_repo = OpenAgain();
  ASSERT_NE(writer_repo, nullptr);
  SnapshotBuilder wb(*writer_repo);
  auto late = wb.Write("config", {{"x", data}});
  ASSERT_TRUE(late.ok());

  PruneReport r2 = RunPrune();
  EXPECT_EQ(r2.records_swept, 1u);
  EXPECT_EQ(r2.packs_rescued, 0u);  // the late backup had its own copies
  ExpectAllLoad({*late});
  EXPECT_TRUE(CheckErrors().empty()) << Joined(CheckErrors());
}

TEST_F(PruneTest, CollectsLeftoverPacksOfKilledBackupsButNotFreshOnes) {
  SnapshotBuilder b(*repo_);
  auto keep = b.Write("config", {{"a", PseudoRandom(10000, 1)}});
  ASSERT_TRUE(keep.ok());
  auto make_pack = [&](uint64_t seed) {
    PackBuilder pb(&repo_->key().encryption);
    Bytes plain = PseudoRandom(3000, seed);
    Id id = repo_->BlobId(plain);
    Bytes sealed;
    size_t len = EncodeBlob(repo_->key().encryption, BlobType::kData, id, plain, 3, sealed);
    pb.AddSealed(BlobType::kData, id, ByteView(sealed.data(), len),
                 static_cast<uint32_t>(plain.size()));
    auto [bytes, ip] = pb.Finish();
    EXPECT_TRUE(repo_->backend().Put(PackKey(ip.pack), bytes).ok());
    return ip.pack;
  };
  Id stale = make_pack(100);
  Id fresh = make_pack(101);
  // The killed backup wrote its pack an hour ago.
  std::string stale_file = dir_.Sub(PackKey(stale));
  struct utimbuf times;
  times.actime = times.modtime = time(nullptr) - 3600;
  ASSERT_EQ(utime(stale_file.c_str(), &times), 0);

  PruneReport r = RunPrune();
  EXPECT_EQ(r.leftover_packs_deleted, 1u);
  EXPECT_FALSE(std::filesystem::exists(stale_file));
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub(PackKey(fresh))));
  ExpectAllLoad({*keep});
}

TEST_F(PruneTest, InterruptedSweepIsFinishedByTheNextPrune) {
  SnapshotBuilder b(*repo_);
  auto old = b.Write("config", {{"a", PseudoRandom(40000, 1)}});
  auto keep = b.Write("config", {{"b", PseudoRandom(40000, 2)}});
  ASSERT_TRUE(old.ok() && keep.ok());
  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *old).ok());
  PruneOptions o;
  o.sweep_now = false;
  PruneReport r = RunPrune(o);
  ASSERT_EQ(r.records_pending, 1u);

  // Simulate a crash in the middle of the sweep: one condemned pack already deleted, the
  // index files naming it and the record still there.
  auto records = LoadAllDeletionRecords(*repo_);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  const DeletionRecord& rec = records->front().second;
  ASSERT_FALSE(rec.packs.empty());
  ASSERT_TRUE(repo_->backend().Remove(PackKey(rec.packs.front())).ok());
  EXPECT_TRUE(CheckErrors().empty()) << Joined(CheckErrors());
  ExpectAllLoad({*keep});

  PruneReport r2 = RunPrune();
  EXPECT_EQ(r2.records_swept, 1u);
  EXPECT_TRUE(ListKeys(repo_->backend(), "deletions/").empty());
  for (const auto& f : rec.index_files) {
    EXPECT_FALSE(repo_->backend().Stat(ObjectKey(ObjectKind::kIndex, f)).ok());
  }
  for (const auto& p : rec.packs) EXPECT_FALSE(repo_->backend().Stat(PackKey(p)).ok());
  ExpectAllLoad({*keep});
  EXPECT_TRUE(CheckErrors().empty()) << Joined(CheckErrors());
}

TEST_F(PruneTest, RefusesToGuessWhenASnapshotCannotBeRead) {
  SnapshotBuilder b(*repo_);
  auto old = b.Write("config", {{"a", PseudoRandom(20000, 1)}});
  auto keep = b.Write("config", {{"b", PseudoRandom(20000, 2)}});
  ASSERT_TRUE(old.ok() && keep.ok());
  ASSERT_TRUE(repo_->RemoveObject(ObjectKind::kSnapshot, *old).ok());
  FlipByte(dir_.Sub(ObjectKey(ObjectKind::kSnapshot, *keep)), -3);
  auto keys_before = ListKeys(repo_->backend(), "");
  auto r = Prune(*repo_, PruneOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kIntegrity);
  auto keys_after = ListKeys(repo_->backend(), "");
  // Only lock objects may come and go.
  std::erase_if(keys_before, [](const std::string& k) { return k.rfind("locks/", 0) == 0; });
  std::erase_if(keys_after, [](const std::string& k) { return k.rfind("locks/", 0) == 0; });
  EXPECT_EQ(keys_after, keys_before);
}

TEST_F(PruneTest, SecondPruneOrCheckIsLockedOut) {
  auto other = OpenAgain();
  ASSERT_NE(other, nullptr);
  auto lock = RepoLock::Acquire(*other, LockKind::kExclusive, "prune");
  ASSERT_TRUE(lock.ok());
  auto r = Prune(*repo_, PruneOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kLocked);
}

}  // namespace
}  // namespace bulwark::repo::testing

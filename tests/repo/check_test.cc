#include "repo/check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "maintenance_test_util.h"
#include "repo/lock.h"
#include "repo/pack.h"

namespace bulwark::repo::testing {
namespace {

bool Contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = MakeRepo(dir_.path(), SmallPackOptions());
    ASSERT_NE(repo_, nullptr);
    SnapshotBuilder b(*repo_);
    // Two snapshots of one component that share a file, and one of another component.
    auto s1 = b.Write("config", {{"etc/app/a.conf", PseudoRandom(20000, 1)},
                                 {"etc/app/b.conf", PseudoRandom(9000, 2)},
                                 {"etc/app/sub/c.conf", PseudoRandom(5000, 3)},
                                 {"etc/other/d.txt", PseudoRandom(12000, 4)}});
    ASSERT_TRUE(s1.ok()) << s1.error().message();
    s1_ = *s1;
    auto s2 = b.Write("config", {{"etc/app/a.conf", PseudoRandom(20000, 1)},
                                 {"etc/app/e.conf", PseudoRandom(7000, 5)}});
    ASSERT_TRUE(s2.ok()) << s2.error().message();
    s2_ = *s2;
    auto s3 = b.Write("redis", {{"dump.rdb", PseudoRandom(30000, 6)}});
    ASSERT_TRUE(s3.ok()) << s3.error().message();
    s3_ = *s3;
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }

  CheckReport Run(bool read_data = false) {
    CheckOptions o;
    o.read_data = read_data;
    auto r = Check(*repo_, o);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : CheckReport{};
  }

  // File of the pack holding the first (or `chunk`-th) data chunk of `path` in `snap`.
  std::string PackFileOf(const Id& snap, const std::string& path, size_t chunk = 0,
                         BlobLocation* where = nullptr) {
    auto node = FindNode(*repo_, snap, path);
    EXPECT_TRUE(node.ok()) << path;
    if (!node.ok()) return {};
    auto loc = repo_->index().Find(BlobType::kData, node->content.at(chunk));
    EXPECT_TRUE(loc.has_value());
    if (where) *where = *loc;
    return dir_.Sub(PackKey(loc->pack));
  }

  // A snapshot's affected paths, or empty.
  std::vector<std::string> PathsOf(const CheckReport& r, const Id& snap) {
    for (const auto& a : r.affected)
      if (a.snapshot == snap) return a.paths;
    return {};
  }

  TempDir dir_;
  std::unique_ptr<Repository> repo_;
  Id s1_, s2_, s3_;
};

TEST_F(CheckTest, CleanRepositoryPasses) {
  for (bool read_data : {false, true}) {
    CheckReport r = Run(read_data);
    EXPECT_TRUE(r.ok()) << Joined(r.errors);
    EXPECT_TRUE(r.affected.empty());
    EXPECT_EQ(r.counters.snapshots, 3u);
    EXPECT_GT(r.counters.packs, 4u);
    EXPECT_EQ(r.counters.packs, r.counters.packs_in_storage);
    EXPECT_EQ(r.counters.unreferenced_packs, 0u);
    EXPECT_GE(r.counters.trees, 6u);  // 2 roots + etc/app/sub/other, redis root
    if (read_data) {
      EXPECT_EQ(r.counters.packs_read, r.counters.packs);
      EXPECT_EQ(r.counters.blobs_verified, r.counters.blobs);
    } else {
      EXPECT_EQ(r.counters.packs_read, 0u);
    }
  }
}

TEST_F(CheckTest, MissingPackNamesAffectedSnapshotsAndFiles) {
  std::string pack = PackFileOf(s1_, "etc/app/a.conf");
  ASSERT_TRUE(std::filesystem::remove(pack));
  CheckReport r = Run();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.errors, "is missing")) << Joined(r.errors);
  // a.conf is in both config snapshots; the redis snapshot is untouched.
  EXPECT_TRUE(Contains(PathsOf(r, s1_), "/etc/app/a.conf")) << Joined(r.DamageLines());
  EXPECT_TRUE(Contains(PathsOf(r, s2_), "/etc/app/a.conf")) << Joined(r.DamageLines());
  EXPECT_TRUE(PathsOf(r, s3_).empty());
  EXPECT_FALSE(Contains(PathsOf(r, s2_), "e.conf"));
  EXPECT_TRUE(Contains(r.DamageLines(),
                       "snapshot " + s1_.ShortHex() + " (component config): /etc/app/a.conf"))
      << Joined(r.DamageLines());
}

TEST_F(CheckTest, TruncatedPackIsFoundWithoutReadingData) {
  BlobLocation loc;
  std::string pack = PackFileOf(s3_, "dump.rdb", 0, &loc);
  MakeWritable(pack);
  std::filesystem::resize_file(pack, loc.offset + loc.length / 2);
  CheckReport r = Run();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.errors, "truncated")) << Joined(r.errors);
  EXPECT_TRUE(Contains(PathsOf(r, s3_), "/dump.rdb")) << Joined(r.DamageLines());
  EXPECT_TRUE(PathsOf(r, s1_).empty());
}

TEST_F(CheckTest, BitFlipInDataIsFoundOnlyWithReadData) {
  BlobLocation loc;
  std::string pack = PackFileOf(s1_, "etc/app/b.conf", 1, &loc);
  MakeWritable(pack);
  auto size = std::filesystem::file_size(pack);
  FlipByte(pack, -static_cast<long>(size - loc.offset - loc.length / 2));

  CheckReport structural = Run(false);
  EXPECT_TRUE(structural.ok()) << Joined(structural.errors);

  CheckReport r = Run(true);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.errors, "SHA-256 mismatch")) << Joined(r.errors);
  EXPECT_TRUE(Contains(r.errors, "is damaged")) << Joined(r.errors);
  EXPECT_EQ(PathsOf(r, s1_).size(), 1u) << Joined(r.DamageLines());
  EXPECT_TRUE(Contains(PathsOf(r, s1_), "/etc/app/b.conf"));
  EXPECT_TRUE(PathsOf(r, s2_).empty());
}

TEST_F(CheckTest, DamagedIndexFileIsReportedWithTheDataItCovered) {
  // The redis snapshot was written by its own writer: its packs are in their own index file.
  auto rdb = FindNode(*repo_, s3_, "dump.rdb");
  ASSERT_TRUE(rdb.ok());
  auto loc = repo_->index().Find(BlobType::kData, rdb->content[0]);
  ASSERT_TRUE(loc.has_value());
  // Find the index file that lists that pack and damage it.
  auto files = repo_->ListObjects(ObjectKind::kIndex);
  ASSERT_TRUE(files.ok());
  std::string victim;
  for (const auto& f : *files) {
    auto plain = repo_->LoadObject(ObjectKind::kIndex, f);
    ASSERT_TRUE(plain.ok());
    auto packs = DecodeIndexFile(*plain);
    ASSERT_TRUE(packs.ok());
    for (const auto& p : *packs) {
      if (p.pack == loc->pack) victim = dir_.Sub(ObjectKey(ObjectKind::kIndex, f));
    }
  }
  ASSERT_FALSE(victim.empty());
  ASSERT_TRUE(std::filesystem::exists(victim)) << victim;
  FlipByte(victim, -20);

  CheckReport r = Run();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.errors, "index file")) << Joined(r.errors);
  EXPECT_FALSE(r.affected.empty());
  EXPECT_FALSE(PathsOf(r, s3_).empty()) << Joined(r.DamageLines());
  EXPECT_GT(r.counters.unreferenced_packs, 0u);  // its packs are now in no index
}

TEST_F(CheckTest, DamagedSnapshotObjectIsNamed) {
  std::string file = dir_.Sub(ObjectKey(ObjectKind::kSnapshot, s2_));
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  FlipByte(file, -5);
  CheckReport r = Run();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.errors, "snapshot " + s2_.ShortHex())) << Joined(r.errors);
  ASSERT_EQ(r.affected.size(), 1u);
  EXPECT_TRUE(r.affected[0].unreadable);
  EXPECT_EQ(r.affected[0].snapshot, s2_);
  EXPECT_TRUE(Contains(r.DamageLines(), s2_.ShortHex()));
  EXPECT_EQ(r.counters.snapshots, 2u);
}

TEST_F(CheckTest, DamagedTreeNamesTheDirectory) {
  auto sub = FindNode(*repo_, s1_, "etc/app/sub");
  ASSERT_TRUE(sub.ok());
  auto loc = repo_->index().Find(BlobType::kTree, sub->subtree);
  ASSERT_TRUE(loc.has_value());
  std::string pack = dir_.Sub(PackKey(loc->pack));
  MakeWritable(pack);
  auto size = std::filesystem::file_size(pack);
  FlipByte(pack, -static_cast<long>(size - loc->offset - loc->length / 2));

  CheckReport r = Run();  // trees are always decoded, even without --read-data
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.errors, "tree " + sub->subtree.ShortHex())) << Joined(r.errors);
  EXPECT_TRUE(Contains(PathsOf(r, s1_), "/etc/app/sub/")) << Joined(r.DamageLines());
  EXPECT_FALSE(Contains(PathsOf(r, s1_), "a.conf"));
  EXPECT_TRUE(PathsOf(r, s2_).empty());  // s2 has no etc/app/sub
}

TEST_F(CheckTest, ReadDataSubsetIsDeterministicForASeed) {
  CheckOptions o;
  o.read_data = true;
  o.read_data_percent = 50;
  o.subset_seed = 42;
  auto a = Check(*repo_, o);
  ASSERT_TRUE(a.ok());
  auto b = Check(*repo_, o);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(a->ok());
  EXPECT_EQ(a->counters.packs_read, (a->counters.packs + 1) / 2);
  EXPECT_EQ(a->counters.bytes_read, b->counters.bytes_read);
  EXPECT_EQ(a->subset_seed, 42u);

  EXPECT_TRUE(ParseSubsetPercent("10%").ok());
  EXPECT_EQ(*ParseSubsetPercent("2.5%"), 2.5);
  EXPECT_FALSE(ParseSubsetPercent("0%").ok());
  EXPECT_FALSE(ParseSubsetPercent("101").ok());
  EXPECT_FALSE(ParseSubsetPercent("x%").ok());
}

TEST_F(CheckTest, UnindexedPackIsAWarningNotAnError) {
  PackBuilder pb(&repo_->key().encryption);
  Bytes sealed;
  Bytes plain = PseudoRandom(1000, 99);
  Id id = repo_->BlobId(plain);
  size_t len = EncodeBlob(repo_->key().encryption, BlobType::kData, id, plain, 3, sealed);
  pb.AddSealed(BlobType::kData, id, ByteView(sealed.data(), len), plain.size());
  auto [bytes, ip] = pb.Finish();
  ASSERT_TRUE(repo_->backend().Put(PackKey(ip.pack), bytes).ok());
  CheckReport r = Run();
  EXPECT_TRUE(r.ok()) << Joined(r.errors);
  EXPECT_EQ(r.counters.unreferenced_packs, 1u);
  EXPECT_TRUE(Contains(r.warnings, ip.pack.ShortHex()));
}

TEST_F(CheckTest, RefusesWhileAnotherExclusiveLockIsHeld) {
  auto other = Repository::Open(LocalAt(dir_.path()), "secret");
  ASSERT_TRUE(other.ok());
  auto lock = RepoLock::Acquire(**other, LockKind::kExclusive, "prune");
  ASSERT_TRUE(lock.ok()) << lock.error().message();
  auto r = Check(*repo_, CheckOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kLocked);
}

}  // namespace
}  // namespace bulwark::repo::testing

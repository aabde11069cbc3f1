// Change detection against the parent snapshot, and the fault cases of backup and restore:
// damaged packs, unreadable inputs, cancellation.
#include <linux/capability.h>
#include <sys/syscall.h>

#include "core/cancel.h"
#include "sources/files/backup.h"
#include "sources/files/files_test_util.h"
#include "sources/files/list.h"
#include "sources/files/restore.h"

namespace bulwark::sources::files {
namespace {

using testing::FilesRepoTest;
using testing::RandomData;
using testing::ReadFileBytes;
using testing::TreeComparer;
using testing::WriteFile;

class FilesIncrementalTest : public FilesRepoTest {
 protected:
  void MakeTree() {
    for (int d = 0; d < 4; ++d) {
      std::string dir = src_ + "/dir" + std::to_string(d);
      ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
      for (int f = 0; f < 5; ++f) {
        WriteFile(dir + "/file" + std::to_string(f), RandomData(50000 + 1000 * f, d * 10 + f));
      }
    }
    WriteFile(src_ + "/big.bin", RandomData(4 << 20, 99));
  }

  // Flips one byte in the middle of chunk `index` of `path` in `snapshot`, in its pack; the
  // chunk's location, for messages.
  repo::BlobLocation DamageChunk(const repo::Snapshot& snapshot, const std::string& path,
                                 size_t index) {
    auto node = FindNode(*repo_, snapshot, path);
    EXPECT_TRUE(node.ok()) << node.error().message();
    if (!node.ok() || index >= node->content.size()) {
      ADD_FAILURE() << path << " has no chunk " << index;
      return {};
    }
    auto loc = repo_->index().Find(repo::BlobType::kData, node->content[index]);
    EXPECT_TRUE(loc.has_value());
    if (!loc) return {};
    const std::string pack_file = repo_path_ + "/" + repo::PackKey(loc->pack);
    int fd = ::open(pack_file.c_str(), O_RDWR);
    EXPECT_GE(fd, 0) << pack_file;
    uint8_t byte = 0;
    const off_t at = loc->offset + loc->length / 2;
    EXPECT_EQ(::pread(fd, &byte, 1, at), 1);
    byte ^= 0x40;
    EXPECT_EQ(::pwrite(fd, &byte, 1, at), 1);
    ::close(fd);
    return *loc;
  }

  // Restores `snapshot` into `target` after DamageChunk hit `victim` at `loc`: only the victim
  // is refused (absent, no temporary left), every other file is intact.
  void ExpectOnlyVictimRefused(const repo::Snapshot& snapshot, const std::string& victim,
                               const repo::BlobLocation& loc, const std::string& target) {
    FilesRestoreOptions ropt;
    ropt.target = target;
    ropt.subpath = src_;
    auto r = RestoreSnapshot(*repo_, snapshot, ropt);
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->damaged.size(), 1u);
    EXPECT_EQ(r->damaged[0], victim + ": damaged data in pack " + loc.pack.ShortHex());
    EXPECT_TRUE(r->errors.empty());
    EXPECT_FALSE(std::filesystem::exists(target + victim.substr(src_.size())));
    size_t files = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(target)) {
      EXPECT_EQ(e.path().filename().string().find(".bulwark-"), std::string::npos) << e.path();
      if (e.is_regular_file()) {
        std::string rel = e.path().string().substr(target.size());
        EXPECT_EQ(ReadFileBytes(e.path().string()), ReadFileBytes(src_ + rel)) << rel;
        ++files;
      }
    }
    EXPECT_EQ(files, 20u);
    EXPECT_EQ(r->files, 20u);
  }

  Result<FilesBackupResult> Backup() {
    FilesBackupOptions opt;
    opt.paths = {src_};
    opt.component = "app";
    opt.reader_threads = 3;
    return BackupFiles(*repo_, opt);
  }
};

TEST_F(FilesIncrementalTest, UnchangedFilesAreNotReadAgainAndChangesStoreOnlyNewChunks) {
  MakeTree();
  if (HasFatalFailure()) return;
  auto first = Backup();
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(first->counters.files_new, 21u);
  EXPECT_FALSE(first->snapshot.parent.has_value());
  const uint64_t total = first->counters.bytes_total;
  EXPECT_EQ(first->counters.bytes_read, total);

  // Unchanged tree: nothing is read, nothing but (identical) trees is stored.
  Reopen();
  auto second = Backup();
  ASSERT_TRUE(second.ok()) << second.error().message();
  ASSERT_TRUE(second->snapshot.parent.has_value());
  EXPECT_EQ(*second->snapshot.parent, first->snapshot.id);
  EXPECT_EQ(second->counters.files_unmodified, 21u);
  EXPECT_EQ(second->counters.files_new + second->counters.files_changed, 0u);
  EXPECT_EQ(second->counters.bytes_read, 0u);
  // Only trees may be new (directory times above the source change as other files come
  // and go in the temporary directory).
  EXPECT_LT(second->counters.bytes_added, 16u << 10);
  EXPECT_EQ(second->counters.bytes_total, total);
  // The backup itself leaves the source's times alone (O_NOATIME), so its subtree is equal.
  auto n1 = FindNode(*repo_, first->snapshot, src_);
  auto n2 = FindNode(*repo_, second->snapshot, src_);
  ASSERT_TRUE(n1.ok() && n2.ok());
  EXPECT_EQ(n1->subtree, n2->subtree);

  // Change 100 bytes in the middle of the big file and add one new file.
  {
    int fd = ::open((src_ + "/big.bin").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    Bytes patch = RandomData(100, 1234);
    ASSERT_EQ(::pwrite(fd, patch.data(), patch.size(), 2 << 20), 100);
    ::close(fd);
  }
  WriteFile(src_ + "/dir1/new.txt", std::string_view("brand new"));
  auto third = Backup();
  ASSERT_TRUE(third.ok()) << third.error().message();
  EXPECT_EQ(*third->snapshot.parent, second->snapshot.id);
  EXPECT_EQ(third->counters.files_changed, 1u);
  EXPECT_EQ(third->counters.files_new, 1u);
  EXPECT_EQ(third->counters.files_unmodified, 20u);
  EXPECT_EQ(third->counters.bytes_read, (4u << 20) + 9);
  // Only the chunks around the change (max chunk 256 KiB, a cut may move) plus small trees.
  EXPECT_LT(third->counters.bytes_added, 3u * 256 * 1024);
  EXPECT_GT(third->counters.bytes_added, 0u);

  // An explicit parent works too, and every snapshot restores its own content.
  FilesRestoreOptions ropt;
  ropt.target = tmp_ + "/r3";
  ropt.subpath = src_;
  auto r = RestoreSnapshot(*repo_, third->snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  TreeComparer cmp;
  for (const auto& d : cmp.Compare(src_, ropt.target)) ADD_FAILURE() << d;
  ropt.target = tmp_ + "/r1";
  r = RestoreSnapshot(*repo_, first->snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_NE(ReadFileBytes(ropt.target + "/big.bin"), ReadFileBytes(src_ + "/big.bin"));
  EXPECT_EQ(ReadFileBytes(ropt.target + "/big.bin"), RandomData(4 << 20, 99));
  EXPECT_FALSE(std::filesystem::exists(ropt.target + "/dir1/new.txt"));
}

TEST_F(FilesIncrementalTest, DamagedPackRefusesOnlyTheAffectedFile) {
  MakeTree();
  if (HasFatalFailure()) return;
  auto b = Backup();
  ASSERT_TRUE(b.ok()) << b.error().message();
  // Flip a byte inside the first chunk of one file.
  const std::string victim = src_ + "/dir2/file3";
  const repo::BlobLocation loc = DamageChunk(b->snapshot, victim, 0);
  if (HasFailure()) return;
  const std::string pack_file = repo_path_ + "/" + repo::PackKey(loc.pack);
  ExpectOnlyVictimRefused(b->snapshot, victim, loc, tmp_ + "/damaged");

  // A truncated pack: only the files with data past the cut are refused.
  ASSERT_EQ(::truncate(pack_file.c_str(), loc.offset + 1), 0);
  FilesRestoreOptions ropt;
  ropt.target = tmp_ + "/truncated";
  ropt.subpath = src_;
  auto r = RestoreSnapshot(*repo_, b->snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_FALSE(r->damaged.empty());
  EXPECT_EQ(r->files + r->damaged.size(), 21u);
  for (const auto& d : r->damaged) {
    std::string path = d.substr(0, d.find(": "));
    EXPECT_FALSE(std::filesystem::exists(ropt.target + path.substr(src_.size()))) << path;
  }
}

// A damaged chunk in the middle of a large file whose chunks restore as one assembled write
// (adjacent chunks decoded into one buffer): the file is refused, the chunks around it are not
// written anywhere, and files sharing its packs are intact.
TEST_F(FilesIncrementalTest, DamagedChunkInsideAWriteRunRefusesOnlyThatFile) {
  MakeTree();
  if (HasFatalFailure()) return;
  auto b = Backup();
  ASSERT_TRUE(b.ok()) << b.error().message();
  const std::string victim = src_ + "/big.bin";
  auto node = FindNode(*repo_, b->snapshot, victim);
  ASSERT_TRUE(node.ok()) << node.error().message();
  ASSERT_GE(node->content.size(), 8u);  // test repositories chunk at about 64 KiB
  const repo::BlobLocation loc = DamageChunk(b->snapshot, victim, node->content.size() / 2);
  if (HasFailure()) return;
  ExpectOnlyVictimRefused(b->snapshot, victim, loc, tmp_ + "/damaged");
}

// Drops the capabilities that let root read any file, for this thread and the threads it
// starts, and restores them when destroyed.
class DropDacOverride {
 public:
  DropDacOverride() {
    hdr_.version = _LINUX_CAPABILITY_VERSION_3;
    hdr_.pid = 0;
    ok_ = ::syscall(SYS_capget, &hdr_, saved_) == 0;
    if (!ok_) return;
    __user_cap_data_struct data[2];
    std::memcpy(data, saved_, sizeof(data));
    const uint32_t mask = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
    data[0].effective &= ~mask;
    ok_ = ::syscall(SYS_capset, &hdr_, data) == 0;
  }
  ~DropDacOverride() {
    if (ok_) ::syscall(SYS_capset, &hdr_, saved_);
  }
  bool ok() const { return ok_; }

 private:
  __user_cap_header_struct hdr_{};
  __user_cap_data_struct saved_[2]{};
  bool ok_ = false;
};

TEST_F(FilesIncrementalTest, UnreadableInputsAreNamedAndTheBackupCompletes) {
  MakeTree();
  if (HasFatalFailure()) return;
  WriteFile(src_ + "/locked.txt", std::string_view("private"), 0000);
  ASSERT_EQ(::mkdir((src_ + "/locked-dir").c_str(), 0755), 0);
  WriteFile(src_ + "/locked-dir/inner", std::string_view("inner"));
  ASSERT_EQ(::chmod((src_ + "/locked-dir").c_str(), 0000), 0);
  Result<FilesBackupResult> b = Error(ErrorCode::kFailure, "not run");
  {
    std::unique_ptr<DropDacOverride> drop;
    if (::geteuid() == 0) {
      drop = std::make_unique<DropDacOverride>();
      ASSERT_TRUE(drop->ok()) << "capset failed";
    }
    b = Backup();
  }
  ASSERT_TRUE(b.ok()) << b.error().message();
  std::vector<std::string> expected = {src_ + "/locked-dir: Permission denied",
                                       src_ + "/locked.txt: Permission denied"};
  EXPECT_EQ(b->errors, expected);
  EXPECT_EQ(b->snapshot.errors, expected);
  auto saved = repo::LoadSnapshot(*repo_, b->snapshot.id);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->errors, expected);
  // Everything else is there; the unreadable directory is kept (empty), the file is not.
  EXPECT_TRUE(FindNode(*repo_, b->snapshot, src_ + "/dir3/file4").ok());
  EXPECT_TRUE(FindNode(*repo_, b->snapshot, src_ + "/locked-dir").ok());
  EXPECT_FALSE(FindNode(*repo_, b->snapshot, src_ + "/locked.txt").ok());
  ::chmod((src_ + "/locked-dir").c_str(), 0755);
}

TEST_F(FilesIncrementalTest, CancelledBackupWritesNoSnapshot) {
  MakeTree();
  if (HasFatalFailure()) return;
  RequestCancel();
  auto b = Backup();
  CancelFlag().store(false);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kCancelled);
  auto snaps = repo_->ListObjects(repo::ObjectKind::kSnapshot);
  ASSERT_TRUE(snaps.ok());
  EXPECT_TRUE(snaps->empty());
}

}  // namespace
}  // namespace bulwark::sources::files

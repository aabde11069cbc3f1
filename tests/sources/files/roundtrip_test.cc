// Backup + restore round trips over generated trees with the awkward cases.
#include <sys/sysmacros.h>

#include <filesystem>
#include <thread>

#include "repo/blob_writer.h"
#include "sources/files/backup.h"
#include "sources/files/dump.h"
#include "sources/files/files_test_util.h"
#include "sources/files/list.h"
#include "sources/files/restore.h"

namespace bulwark::sources::files {
namespace {

using testing::FilesRepoTest;
using testing::RandomData;
using testing::ReadFileBytes;
using testing::SetMtime;
using testing::TreeComparer;
using testing::WriteFile;

class FilesRoundTripTest : public FilesRepoTest {
 protected:
  // Builds the awkward tree under src_.
  void MakeAwkwardTree() {
    const std::string s = src_;
    // Unicode and a 255-byte name (2-byte characters plus one ASCII byte).
    std::string unicode = s + "/\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac";
    ASSERT_EQ(::mkdir(unicode.c_str(), 0755), 0);
    WriteFile(unicode + "/\xf0\x9f\x93\x84 r\xc3\xa9sum\xc3\xa9.txt", std::string_view("hello"));
    std::string long_name;
    for (int i = 0; i < 127; ++i) long_name += "\xc3\xa9";
    long_name += "x";
    ASSERT_EQ(long_name.size(), 255u);
    WriteFile(s + "/" + long_name, std::string_view("long name"));
    // Deep nesting.
    std::string deep = s + "/deep";
    ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
    for (int i = 0; i < 48; ++i) {
      deep += "/level" + std::to_string(i);
      ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
    }
    WriteFile(deep + "/bottom.txt", std::string_view("at the bottom"));
    // Symlinks, including a dangling one and one to a directory.
    ASSERT_EQ(::symlink("../etc/hosts.conf", (s + "/rel-link").c_str()), 0);
    ASSERT_EQ(::symlink("/nonexistent/target", (s + "/dangling").c_str()), 0);
    ASSERT_EQ(::symlink("deep", (s + "/dir-link").c_str()), 0);
    // Hard links (three names, one inode) across directories.
    ASSERT_EQ(::mkdir((s + "/links").c_str(), 0755), 0);
    WriteFile(s + "/links/a", RandomData(100000, 7));
    ASSERT_EQ(::link((s + "/links/a").c_str(), (s + "/links/b").c_str()), 0);
    ASSERT_EQ(::link((s + "/links/a").c_str(), (s + "/hardlink-c").c_str()), 0);
    // Sparse file: data at the start and at 6 MiB, holes elsewhere, 9 MiB long.
    {
      int fd = ::open((s + "/sparse.img").c_str(), O_WRONLY | O_CREAT, 0600);
      ASSERT_GE(fd, 0);
      Bytes head = RandomData(20000, 3);
      ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
      ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 6 << 20), static_cast<ssize_t>(head.size()));
      ASSERT_EQ(::ftruncate(fd, 9 << 20), 0);
      ::close(fd);
    }
    // Empty files and directories, a 0-byte file with odd permissions.
    WriteFile(s + "/empty", std::string_view(""));
    ASSERT_EQ(::mkdir((s + "/empty-dir").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((s + "/etc").c_str(), 0750), 0);
    WriteFile(s + "/etc/hosts.conf", std::string_view("127.0.0.1 localhost\n"), 0640);
    WriteFile(s + "/etc/app.conf", std::string_view("a=1\n"), 0600);
    // Permissions: setuid, setgid, sticky, none at all.
    WriteFile(s + "/setuid-bin", std::string_view("#!/bin/sh\n"), 04755);
    WriteFile(s + "/setgid-bin", std::string_view("#!/bin/sh\n"), 02711);
    WriteFile(s + "/no-perms", std::string_view("secret"), 0000);
    ASSERT_EQ(::mkdir((s + "/sticky").c_str(), 0755), 0);
    ASSERT_EQ(::chmod((s + "/sticky").c_str(), 01777), 0);
    ASSERT_EQ(::mkdir((s + "/readonly-dir").c_str(), 0755), 0);
    WriteFile(s + "/readonly-dir/inside", std::string_view("x"));
    ASSERT_EQ(::chmod((s + "/readonly-dir").c_str(), 0555), 0);
    // A FIFO, and a character device when we may create one.
    ASSERT_EQ(::mkfifo((s + "/fifo").c_str(), 0640), 0);
    if (::geteuid() == 0) {
      ASSERT_EQ(::mknod((s + "/null-dev").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
      ASSERT_EQ(::chown((s + "/etc/app.conf").c_str(), 1234, 5678), 0);
    }
    // A few tens of MiB: compressible and random halves, spread over many packs.
    Bytes big = RandomData(12 << 20, 11);
    Bytes text(12 << 20);
    for (size_t i = 0; i < text.size(); ++i) text[i] = "log line 12345\n"[i % 15];
    big.insert(big.end(), text.begin(), text.end());
    WriteFile(s + "/big.bin", big);
    // Distinct mtimes, with nanoseconds, set last (the tree is otherwise done).
    SetMtime(s + "/big.bin", 1600000000, 123456789);
    SetMtime(s + "/etc/hosts.conf", 1500000000, 1);
    SetMtime(s + "/dangling", 1400000000, 999999999);
    SetMtime(s + "/etc", 1300000000, 5);
    SetMtime(s + "/empty-dir", 1200000000, 0);
  }

  FilesBackupResult Backup(std::vector<std::string> paths) {
    FilesBackupOptions opt;
    opt.paths = std::move(paths);
    opt.component = "config";
    opt.tags = {"t1"};
    auto r = BackupFiles(*repo_, opt);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : FilesBackupResult{};
  }
};

TEST_F(FilesRoundTripTest, AwkwardTreeRestoresIdentically) {
  MakeAwkwardTree();
  if (HasFatalFailure()) return;
  Progress progress;
  FilesBackupOptions opt;
  opt.paths = {src_};
  opt.component = "config";
  opt.progress = &progress;
  auto backup = BackupFiles(*repo_, opt);
  ASSERT_TRUE(backup.ok()) << backup.error().message();
  EXPECT_TRUE(backup->errors.empty()) << backup->errors.front();
  EXPECT_EQ(backup->snapshot.kind, "files");
  EXPECT_EQ(backup->snapshot.paths, std::vector<std::string>{src_});
  EXPECT_GT(repo_->index().Packs().size(), 5u);  // small packs: the data spans many
  EXPECT_EQ(progress.files_done.load(), progress.files_total.load());
  EXPECT_TRUE(progress.totals_final.load());
  EXPECT_EQ(backup->counters.files_unmodified, 0u);

  // A new process restores it.
  Reopen();
  auto snap = repo::FindSnapshot(*repo_, "latest", "config");
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  ASSERT_EQ(snap->id, backup->snapshot.id);

  const std::string target = tmp_ + "/restore";
  FilesRestoreOptions ropt;
  ropt.target = target;
  ropt.workers = 3;
  auto restored = RestoreSnapshot(*repo_, *snap, ropt);
  ASSERT_TRUE(restored.ok()) << restored.error().message();
  EXPECT_TRUE(restored->damaged.empty()) << restored->damaged.front();
  EXPECT_TRUE(restored->errors.empty()) << restored->errors.front();
  // The tree mirrors absolute paths: target/<src_>.
  TreeComparer cmp;
  auto diffs = cmp.Compare(src_, target + src_);
  for (const auto& d : diffs) ADD_FAILURE() << d;

  // Sparse file stays sparse.
  struct stat sst, rst;
  ASSERT_EQ(::stat((src_ + "/sparse.img").c_str(), &sst), 0);
  ASSERT_EQ(::stat((target + src_ + "/sparse.img").c_str(), &rst), 0);
  EXPECT_LT(rst.st_blocks * 512, rst.st_size / 2) << "restored sparse file is not sparse";
  // Holes inside a chunk that also holds data stay holes: no more space than the original
  // (within a few blocks of file-system slack).
  EXPECT_LE(rst.st_blocks, sst.st_blocks + 64)
      << "restored " << rst.st_blocks * 512 << " bytes allocated, original " << sst.st_blocks * 512;
  // No temporary files left anywhere.
  for (const auto& e : std::filesystem::recursive_directory_iterator(target)) {
    EXPECT_EQ(e.path().filename().string().find(".bulwark-"), std::string::npos) << e.path();
  }
}

// More files than one restore batch holds (the walker plans the next batch while the last
// one is written): every file comes back, and hard links whose first name is in an earlier
// batch or in the same batch are made as in a single batch.
TEST_F(FilesRoundTripTest, SeveralBatchesWithHardLinksAcrossThem) {
  const int kFiles = 16500;  // restore batches hold at most 16384 files
  ASSERT_EQ(::mkdir((src_ + "/a").c_str(), 0755), 0);
  for (int i = 0; i < kFiles; ++i) {
    WriteFile(src_ + "/a/f" + std::to_string(i), "file " + std::to_string(i) + "\n");
  }
  // Walk order is by name: "a" (the first batch and the start of the second) before "z".
  ASSERT_EQ(::link((src_ + "/a/f1").c_str(), (src_ + "/z-link-to-first-batch").c_str()), 0);
  ASSERT_EQ(::mkdir((src_ + "/z").c_str(), 0755), 0);
  WriteFile(src_ + "/z/late", std::string_view("late primary"));
  ASSERT_EQ(::link((src_ + "/z/late").c_str(), (src_ + "/z/late-link").c_str()), 0);
  FilesBackupOptions opt;
  opt.paths = {src_};
  opt.component = "many";
  auto backup = BackupFiles(*repo_, opt);
  ASSERT_TRUE(backup.ok()) << backup.error().message();

  FilesRestoreOptions ropt;
  ropt.target = tmp_ + "/restore";
  ropt.subpath = src_;
  ropt.workers = 3;
  auto restored = RestoreSnapshot(*repo_, backup->snapshot, ropt);
  ASSERT_TRUE(restored.ok()) << restored.error().message();
  EXPECT_TRUE(restored->damaged.empty()) << restored->damaged.front();
  EXPECT_TRUE(restored->errors.empty()) << restored->errors.front();
  EXPECT_EQ(restored->files, static_cast<uint64_t>(kFiles + 3));
  TreeComparer cmp;
  for (const auto& d : cmp.Compare(src_, ropt.target)) ADD_FAILURE() << d;
  auto inode = [](const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_ino;
  };
  EXPECT_EQ(inode(ropt.target + "/a/f1"), inode(ropt.target + "/z-link-to-first-batch"));
  EXPECT_EQ(inode(ropt.target + "/z/late"), inode(ropt.target + "/z/late-link"));
  for (const auto& e : std::filesystem::recursive_directory_iterator(ropt.target)) {
    EXPECT_EQ(e.path().filename().string().find(".bulwark-"), std::string::npos) << e.path();
  }
}

TEST_F(FilesRoundTripTest, SubpathRestoresIntoTargetAndListWorks) {
  MakeAwkwardTree();
  if (HasFatalFailure()) return;
  auto b = Backup({src_});
  ASSERT_FALSE(b.snapshot.id.IsZero());
  const std::string target = tmp_ + "/sub";
  FilesRestoreOptions ropt;
  ropt.target = target;
  ropt.subpath = src_;
  auto r = RestoreSnapshot(*repo_, b.snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  TreeComparer cmp;
  for (const auto& d : cmp.Compare(src_, target)) ADD_FAILURE() << d;
  EXPECT_GE(r->files, 10u);
  EXPECT_GT(r->bytes_written, 24u << 20);

  // A single file as subpath lands as target/<name>.
  const std::string target2 = tmp_ + "/one";
  ropt.target = target2;
  ropt.subpath = src_ + "/etc/hosts.conf";
  r = RestoreSnapshot(*repo_, b.snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(ReadFileBytes(target2 + "/hosts.conf"), ToBytes("127.0.0.1 localhost\n"));

  // ls: every path once, in depth-first name order, starting below the path.
  std::vector<std::string> listed;
  ASSERT_TRUE(ListSnapshot(*repo_, b.snapshot, src_ + "/etc", true,
                           [&](const std::string& p, const repo::Node& n) {
                             listed.push_back(p);
                             if (n.type == repo::NodeType::kFile) {
                               EXPECT_GT(n.size, 0u);
                             }
                             return Status::Ok();
                           })
                  .ok());
  EXPECT_EQ(listed, (std::vector<std::string>{src_ + "/etc", src_ + "/etc/app.conf",
                                              src_ + "/etc/hosts.conf"}));
  auto node = FindNode(*repo_, b.snapshot, src_ + "/dangling");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->type, repo::NodeType::kSymlink);
  EXPECT_EQ(node->link_target, "/nonexistent/target");
  node = FindNode(*repo_, b.snapshot, src_ + "/links/a");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->links, 3u);
  EXPECT_EQ(FindNode(*repo_, b.snapshot, src_ + "/nope").error().code(), ErrorCode::kNotFound);
  node = FindNode(*repo_, b.snapshot, src_ + "/sparse.img");
  ASSERT_TRUE(node.ok());
  EXPECT_TRUE(node->sparse);
}

TEST_F(FilesRoundTripTest, DumpWritesFileContentAndRefusesDirectories) {
  Bytes data = RandomData(3 << 20, 5);
  WriteFile(src_ + "/data.bin", data);
  auto b = Backup({src_});
  const std::string out = tmp_ + "/dumped";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  Status s = DumpFile(*repo_, b.snapshot, src_ + "/data.bin", fd);
  ::close(fd);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(ReadFileBytes(out), data);
  fd = ::open(out.c_str(), O_WRONLY | O_TRUNC);
  Status dir = DumpFile(*repo_, b.snapshot, src_, fd);
  ::close(fd);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code(), ErrorCode::kUsage);
  EXPECT_EQ(DumpFile(*repo_, b.snapshot, src_ + "/missing", 1).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(FilesRoundTripTest, SeveralPathsAndExcludes) {
  ASSERT_EQ(::mkdir((src_ + "/a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/b").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/b/cache").c_str(), 0755), 0);
  WriteFile(src_ + "/a/keep.txt", std::string_view("keep"));
  WriteFile(src_ + "/a/debug.log", std::string_view("noise"));
  WriteFile(src_ + "/b/cache/blob", std::string_view("cached"));
  WriteFile(src_ + "/b/x.conf", std::string_view("x"));
  WriteFile(src_ + "/b/tmp.swp", std::string_view("swap"));

  FilesBackupOptions opt;
  opt.paths = {src_ + "/b", src_ + "/a/", src_ + "/a/../a"};  // duplicates collapse
  opt.component = "c";
  opt.excludes = {"*.log", src_ + "/b/cache", "*.sw?"};
  auto r = BackupFiles(*repo_, opt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->snapshot.paths, (std::vector<std::string>{src_ + "/a", src_ + "/b"}));
  std::vector<std::string> listed;
  ASSERT_TRUE(
      ListSnapshot(*repo_, r->snapshot, src_, true, [&](const std::string& p, const repo::Node&) {
        listed.push_back(p);
        return Status::Ok();
      }).ok());
  EXPECT_EQ(listed, (std::vector<std::string>{src_, src_ + "/a", src_ + "/a/keep.txt", src_ + "/b",
                                              src_ + "/b/x.conf"}));
  // The ancestors exist as directories in the tree.
  auto root = FindNode(*repo_, r->snapshot, "/");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->type, repo::NodeType::kDir);

  // A missing path is reported but does not stop the backup; all missing fails.
  opt.paths = {src_ + "/a", src_ + "/does-not-exist"};
  r = BackupFiles(*repo_, opt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_NE(r->errors[0].find("does-not-exist"), std::string::npos);
  opt.paths = {src_ + "/does-not-exist"};
  r = BackupFiles(*repo_, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

// Every path below `dir`, relative to it ("/a", "/a/b"), sorted.
std::vector<std::string> PathsBelow(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    found.push_back(e.path().string().substr(dir.size()));
  }
  std::sort(found.begin(), found.end());
  return found;
}

TEST_F(FilesRoundTripTest, IncludesRestoreOnlyMatchesAndTheirDirectories) {
  ASSERT_EQ(::mkdir((src_ + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/etc/app").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/var").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/var/sub").c_str(), 0755), 0);
  WriteFile(src_ + "/etc/app/main.conf", std::string_view("m"));
  WriteFile(src_ + "/etc/app/data.bin", std::string_view("d"));
  WriteFile(src_ + "/var/other.conf", std::string_view("o"));
  WriteFile(src_ + "/var/sub/deep.txt", std::string_view("deep"));
  WriteFile(src_ + "/top.txt", std::string_view("t"));
  auto b = Backup({src_});
  const std::string target = tmp_ + "/inc";
  FilesRestoreOptions ropt;
  ropt.target = target;
  ropt.subpath = src_;
  ropt.includes = {"*.conf", src_ + "/var/sub"};
  auto r = RestoreSnapshot(*repo_, b.snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(PathsBelow(target),
            (std::vector<std::string>{"/etc", "/etc/app", "/etc/app/main.conf", "/var",
                                      "/var/other.conf", "/var/sub", "/var/sub/deep.txt"}));
}

TEST_F(FilesRoundTripTest, ExactPathsRestoreOnlyThoseAndTheirDirectories) {
  ASSERT_EQ(::mkdir((src_ + "/d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/d/sub").c_str(), 0755), 0);
  WriteFile(src_ + "/d/a[1]*", std::string_view("glob characters are not patterns here"));
  WriteFile(src_ + "/d/a11", std::string_view("a pattern a[1]* would match this"));
  WriteFile(src_ + "/d/sub/x", std::string_view("x"));
  WriteFile(src_ + "/top", std::string_view("t"));
  auto b = Backup({src_});
  const std::string target = tmp_ + "/exact";
  FilesRestoreOptions ropt;
  ropt.target = target;
  ropt.subpath = src_;
  ropt.paths = {src_ + "/d/a[1]*", src_ + "/d/sub"};
  auto r = RestoreSnapshot(*repo_, b.snapshot, ropt);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(PathsBelow(target), (std::vector<std::string>{"/d", "/d/a[1]*", "/d/sub", "/d/sub/x"}));
}

TEST_F(FilesRoundTripTest, StdinStreamRoundTrip) {
  Bytes data = RandomData(2 << 20, 9);
  Bytes text(1 << 20, 'a');
  data.insert(data.end(), text.begin(), text.end());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread feeder([&] {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fds[1], data.data() + done, std::min<size_t>(65536, data.size() - done));
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fds[1]);
  });
  FilesBackupOptions opt;
  opt.component = "db-dump";
  auto r = BackupStream(*repo_, fds[0], "dump.sql", opt);
  feeder.join();
  ::close(fds[0]);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->snapshot.kind, "stdin");
  EXPECT_EQ(r->snapshot.paths, std::vector<std::string>{"dump.sql"});
  EXPECT_EQ(r->counters.bytes_read, data.size());

  const std::string out = tmp_ + "/out.sql";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_TRUE(DumpFile(*repo_, r->snapshot, "/dump.sql", fd).ok());
  ::close(fd);
  EXPECT_EQ(ReadFileBytes(out), data);

  FilesRestoreOptions ropt;
  ropt.target = tmp_ + "/stdin-restore";
  auto rr = RestoreSnapshot(*repo_, r->snapshot, ropt);
  ASSERT_TRUE(rr.ok()) << rr.error().message();
  EXPECT_EQ(ReadFileBytes(ropt.target + "/dump.sql"), data);

  // A second stream of the same component names the first as parent; bad names are refused.
  int fds2[2];
  ASSERT_EQ(::pipe(fds2), 0);
  ::close(fds2[1]);
  auto r2 = BackupStream(*repo_, fds2[0], "dump.sql", opt);
  ::close(fds2[0]);
  ASSERT_TRUE(r2.ok()) << r2.error().message();
  ASSERT_TRUE(r2->snapshot.parent.has_value());
  EXPECT_EQ(*r2->snapshot.parent, r->snapshot.id);
  EXPECT_EQ(BackupStream(*repo_, 0, "a/b", opt).error().code(), ErrorCode::kUsage);
}

// A chunk sealed under the ID of other bytes (what a writer that hashed one buffer and
// stored another would leave): its tag is sound, so only --rehash (and check --read-data)
// can tell. Damage to the stored bytes is refused either way (corruption_test.sh).
TEST_F(FilesRoundTripTest, RehashRefusesAChunkStoredUnderAnotherId) {
  const Bytes real = RandomData(4000, 21);
  const Bytes other = RandomData(4000, 22);
  {
    repo::BlobWriter writer(*repo_, repo::WriterOptions{});
    ASSERT_TRUE(writer.Add(repo::BlobType::kData, repo_->BlobId(real), other).ok());
    ASSERT_TRUE(writer.Flush().ok());
  }
  WriteFile(src_ + "/f", real);  // one chunk: deduplicated against the mislabeled blob
  FilesBackupResult b = Backup({src_});

  FilesRestoreOptions ropt;
  ropt.target = tmp_ + "/tag";
  auto by_tag = RestoreSnapshot(*repo_, b.snapshot, ropt);
  ASSERT_TRUE(by_tag.ok()) << by_tag.error().message();
  EXPECT_TRUE(by_tag->damaged.empty());
  EXPECT_EQ(ReadFileBytes(ropt.target + src_ + "/f"), other);

  ropt.target = tmp_ + "/rehash";
  ropt.rehash = true;
  auto rehashed = RestoreSnapshot(*repo_, b.snapshot, ropt);
  ASSERT_TRUE(rehashed.ok()) << rehashed.error().message();
  ASSERT_EQ(rehashed->damaged.size(), 1u);
  EXPECT_NE(rehashed->damaged[0].find(src_ + "/f"), std::string::npos) << rehashed->damaged[0];
  EXPECT_FALSE(std::filesystem::exists(ropt.target + src_ + "/f"));
}

}  // namespace
}  // namespace bulwark::sources::files

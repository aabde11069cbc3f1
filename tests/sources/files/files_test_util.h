// Test support for the files source: a real temporary repository on a LocalBackend (small
// Argon2 parameters, small chunks and packs so several packs exist), helpers that generate
// awkward trees, and a tree comparison that checks contents and metadata. Single-threaded.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "repo/snapshot.h"
#include "storage/local/local_backend.h"

namespace bulwark::sources::files::testing {

inline std::string MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bulwark-files-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return {};
  return buf.data();
}

// Deterministic pseudo-random bytes (xorshift64*), fast enough for tens of MiB.
inline Bytes RandomData(size_t n, uint64_t seed) {
  Bytes out(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  while (i < n) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1Dull;
    for (int b = 0; b < 8 && i < n; ++b, ++i) out[i] = static_cast<uint8_t>(v >> (8 * b));
  }
  return out;
}

inline void WriteFile(const std::string& path, ByteView data, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    ASSERT_GT(n, 0) << path;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  ::chmod(path.c_str(), mode);
}
inline void WriteFile(const std::string& path, std::string_view text, mode_t mode = 0644) {
  WriteFile(path, AsBytes(text), mode);
}

inline Bytes ReadFileBytes(const std::string& path) {
  Bytes out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  uint8_t buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
  ::close(fd);
  return out;
}

inline void SetMtime(const std::string& path, int64_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

inline std::vector<std::string> ListNames(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Compares two trees recursively: names, types, modes, owners, mtimes (ns), sizes, contents,
// symlink targets, device numbers, and hard-link structure. Returns every difference.
class TreeComparer {
 public:
  std::vector<std::string> Compare(const std::string& a, const std::string& b) {
    diffs_.clear();
    CompareNode(a, b, "", true);
    for (const auto& [ino, paths] : a_links_) {
      if (paths.size() < 2) continue;
      struct stat first;
      if (::lstat((b + paths[0]).c_str(), &first) != 0) continue;
      for (size_t i = 1; i < paths.size(); ++i) {
        struct stat st;
        if (::lstat((b + paths[i]).c_str(), &st) != 0 || st.st_ino != first.st_ino) {
          diffs_.push_back(paths[i] + ": not a hard link to " + paths[0]);
        }
      }
    }
    return diffs_;
  }
  bool compare_dir_mtime = true;

 private:
  void CompareNode(const std::string& a, const std::string& b, const std::string& rel, bool top) {
    struct stat sa, sb;
    if (::lstat(a.c_str(), &sa) != 0) return diffs_.push_back(rel + ": missing in source");
    if (::lstat(b.c_str(), &sb) != 0) return diffs_.push_back(rel + ": missing in restore");
    if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) return diffs_.push_back(rel + ": type");
    if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777)) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), ": mode %04o vs %04o", sa.st_mode & 07777,
                    sb.st_mode & 07777);
      diffs_.push_back(rel + buf);
    }
    if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid) diffs_.push_back(rel + ": owner");
    bool check_mtime = !S_ISDIR(sa.st_mode) || (compare_dir_mtime && !top);
    if (check_mtime &&
        (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)) {
      diffs_.push_back(rel + ": mtime");
    }
    if (S_ISREG(sa.st_mode)) {
      if (sa.st_nlink > 1) a_links_[sa.st_ino].push_back(rel);
      if (sa.st_size != sb.st_size) return diffs_.push_back(rel + ": size");
      if (ReadFileBytes(a) != ReadFileBytes(b)) diffs_.push_back(rel + ": content");
    } else if (S_ISLNK(sa.st_mode)) {
      char ta[4096], tb[4096];
      ssize_t na = ::readlink(a.c_str(), ta, sizeof(ta));
      ssize_t nb = ::readlink(b.c_str(), tb, sizeof(tb));
      if (na != nb || std::memcmp(ta, tb, static_cast<size_t>(std::max<ssize_t>(na, 0))) != 0) {
        diffs_.push_back(rel + ": symlink target");
      }
    } else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
      if (sa.st_rdev != sb.st_rdev) diffs_.push_back(rel + ": rdev");
    } else if (S_ISDIR(sa.st_mode)) {
      auto na = ListNames(a);
      auto nb = ListNames(b);
      if (na != nb) diffs_.push_back(rel + ": entries differ");
      for (const auto& n : na) {
        if (std::find(nb.begin(), nb.end(), n) == nb.end()) {
          diffs_.push_back(rel + "/" + n + ": missing in restore");
          continue;
        }
        CompareNode(a + "/" + n, b + "/" + n, rel + "/" + n, false);
      }
    }
  }
  std::vector<std::string> diffs_;
  std::map<ino_t, std::vector<std::string>> a_links_;
};

// A fresh repository in a temporary directory, plus a scratch area for source trees and
// restore targets; everything is removed afterwards.
class FilesRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = MakeTempDir();
    ASSERT_FALSE(tmp_.empty());
    repo_path_ = tmp_ + "/repo";
    ASSERT_EQ(::mkdir((tmp_ + "/src").c_str(), 0755), 0);
    src_ = tmp_ + "/src";
    repo::InitOptions init;
    init.config.chunker = {16 * 1024, 64 * 1024, 256 * 1024};
    init.config.pack_size = 512 * 1024;
    init.kdf = {1, 8192};
    init.key_user = "test";
    auto r =
        repo::Repository::Init(std::make_unique<storage::LocalBackend>(repo_path_), "secret", init);
    ASSERT_TRUE(r.ok()) << r.error().message();
    repo_ = std::move(*r);
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }

  void TearDown() override {
    if (!tmp_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(tmp_, ec);
    }
  }

  // Reopens the repository from storage (a new process would see exactly this).
  void Reopen() {
    repo_.reset();
    auto r = repo::Repository::Open(std::make_unique<storage::LocalBackend>(repo_path_), "secret");
    ASSERT_TRUE(r.ok()) << r.error().message();
    repo_ = std::move(*r);
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }

  std::string tmp_;
  std::string repo_path_;
  std::string src_;
  std::unique_ptr<repo::Repository> repo_;
};

}  // namespace bulwark::sources::files::testing

#include "sources/files/estimate.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "sources/files/fs_util.h"

namespace bulwark::sources::files {

namespace {

class Estimator {
 public:
  Estimator(const std::vector<std::string>& excludes, Progress& progress,
            const std::atomic<bool>& stop)
      : excludes_(excludes), progress_(progress), stop_(stop) {}

  // Counts the entry at `path` (already stat'ed); descends into directories.
  void Visit(const std::string& path, const struct stat& st) {
    if (S_ISREG(st.st_mode)) {
      progress_.estimate_files.fetch_add(1, std::memory_order_relaxed);
      progress_.estimate_bytes.fetch_add(static_cast<uint64_t>(st.st_size),
                                         std::memory_order_relaxed);
    } else if (S_ISDIR(st.st_mode)) {
      WalkDir(path);
    }
  }

  bool stopped() const { return stop_.load(std::memory_order_relaxed); }

 private:
  void WalkDir(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return;
    DIR* dir = ::fdopendir(fd.get());
    if (dir == nullptr) return;
    const int dfd = fd.Release();  // owned by `dir` from here
    while (!stopped()) {
      struct dirent* e = ::readdir(dir);
      if (e == nullptr) break;
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = JoinPath(path, name);
      if (MatchesAny(excludes_, name, child)) continue;
      struct stat st;
      if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      Visit(child, st);
    }
    ::closedir(dir);
  }

  const std::vector<std::string>& excludes_;
  Progress& progress_;
  const std::atomic<bool>& stop_;
};

}  // namespace

void EstimateTree(const std::vector<std::string>& paths, const std::vector<std::string>& excludes,
                  Progress& progress, const std::atomic<bool>& stop) {
  Estimator estimator(excludes, progress, stop);
  for (const auto& p : paths) {
    if (estimator.stopped()) return;
    auto abs = AbsolutePath(p);
    if (!abs.ok()) continue;
    // Excludes apply to the named paths too; they are followed when symlinks, as the backup
    // follows them.
    const std::string name = abs->substr(abs->rfind('/') + 1);
    if (MatchesAny(excludes, name, *abs)) continue;
    struct stat st;
    if (::stat(abs->c_str(), &st) != 0) continue;
    estimator.Visit(*abs, st);
  }
  if (!estimator.stopped()) progress.estimate_done.store(true);
}

}  // namespace bulwark::sources::files

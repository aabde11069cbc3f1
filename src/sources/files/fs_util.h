// Small POSIX helpers shared by the files source (internal, not for other layers): an owning
// file descriptor, path joining and normalisation, exclude/include glob matching, stat time
// conversion, whole-buffer read/write loops. Pure functions and value types; any thread.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/tree.h"

namespace bulwark::sources::files {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// "/" + "a" -> "/a"; "/x" + "a" -> "/x/a"; "" + "a" -> "a".
std::string JoinPath(std::string_view dir, std::string_view name);

// Absolute, lexically normalised path (no ".", "..", "//" or trailing "/"); relative paths
// are taken against the current directory. Symlinks are not resolved.
Result<std::string> AbsolutePath(std::string_view path);

// True if any glob matches `name` or `full_path` (fnmatch, no flags).
bool MatchesAny(const std::vector<std::string>& globs, const std::string& name,
                const std::string& full_path);

inline int64_t TimespecNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline struct timespec NsTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

// Node type from st_mode; false for types a tree cannot hold.
bool NodeTypeFromMode(mode_t mode, repo::NodeType& type);

// Reads until `buf` is full or EOF (retrying EINTR); returns bytes read or -1 (errno set).
ssize_t ReadFull(int fd, uint8_t* buf, size_t len);
// Writes all of `data` at `offset` (pwrite) or, with offset < 0, sequentially (write).
Status WriteAll(int fd, ByteView data, int64_t offset, const std::string& what);

bool IsAllZero(ByteView data);

}  // namespace bulwark::sources::files

#include "sources/files/fs_util.h"

#include <fnmatch.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bulwark::sources::files {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

Result<std::string> AbsolutePath(std::string_view path) {
  if (path.empty()) return Error(ErrorCode::kUsage, "empty path");
  std::string full;
  if (path.front() != '/') {
    std::vector<char> buf(4096);
    while (::getcwd(buf.data(), buf.size()) == nullptr) {
      if (errno != ERANGE) return ErrnoError("getcwd", errno);
      buf.resize(buf.size() * 2);
    }
    full = JoinPath(buf.data(), path);
  } else {
    full = std::string(path);
  }
  std::vector<std::string_view> parts;
  std::string_view rest(full);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.empty()) return std::string("/");
  size_t len = 0;
  for (auto p : parts) len += p.size() + 1;
  std::string out(len, '/');
  size_t pos = 0;
  for (auto p : parts) {
    std::memcpy(out.data() + pos + 1, p.data(), p.size());
    pos += p.size() + 1;
  }
  return out;
}

bool MatchesAny(const std::vector<std::string>& globs, const std::string& name,
                const std::string& full_path) {
  for (const auto& g : globs) {
    if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
    if (::fnmatch(g.c_str(), full_path.c_str(), 0) == 0) return true;
  }
  return false;
}

bool NodeTypeFromMode(mode_t mode, repo::NodeType& type) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      type = repo::NodeType::kFile;
      return true;
    case S_IFDIR:
      type = repo::NodeType::kDir;
      return true;
    case S_IFLNK:
      type = repo::NodeType::kSymlink;
      return true;
    case S_IFBLK:
      type = repo::NodeType::kBlockDev;
      return true;
    case S_IFCHR:
      type = repo::NodeType::kCharDev;
      return true;
    case S_IFIFO:
      type = repo::NodeType::kFifo;
      return true;
    case S_IFSOCK:
      type = repo::NodeType::kSocket;
      return true;
    default:
      return false;
  }
}

ssize_t ReadFull(int fd, uint8_t* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::read(fd, buf + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

Status WriteAll(int fd, ByteView data, int64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = offset >= 0 ? ::pwrite(fd, data.data() + done, data.size() - done,
                                       offset + static_cast<int64_t>(done))
                            : ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(what, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

bool IsAllZero(ByteView data) {
  if (data.empty()) return true;
  if (data[0] != 0) return false;
  return std::memcmp(data.data(), data.data() + 1, data.size() - 1) == 0;
}

}  // namespace bulwark::sources::files

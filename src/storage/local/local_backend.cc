#include "storage/local/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string_view>

namespace bulwark::storage {

namespace {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  // Closes now so the caller sees close() errors (NFS reports write errors there).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Makes a directory entry (a new file or subdirectory) durable. Some network filesystems
// reject fsync on directories with EINVAL; they have no other way to do it, so accept that.
Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("opening directory " + dir, errno);
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    return ErrnoError("syncing directory " + dir, errno);
  }
  return Status::Ok();
}

// Keys are relative, slash-separated, without empty, "." or ".." components, and may not
// reach into the temp area; anything else could escape the root or alias another key.
Status ValidateKey(const std::string& key) {
  auto bad = [&] { return Error(ErrorCode::kUsage, "invalid object key '" + key + "'"); };
  if (key.empty() || key.find('\0') != std::string::npos) return bad();
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t slash = key.find('/', start);
    std::string_view comp = std::string_view(key).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp.empty() || comp == "." || comp == "..") return bad();
    if (first && comp == LocalBackend::kTempDir) return bad();
    first = false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  uint64_t rnd = 0;
  if (::getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) rnd = 0;  // O_EXCL still protects us
  char name[80];
  std::snprintf(name, sizeof(name), "%d-%llu-%016llx.tmp", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(rnd));
  return name;
}

bool IsRegular(const struct stat& st) { return S_ISREG(st.st_mode); }

ObjectInfo InfoFrom(const std::string& key, const struct stat& st) {
  return ObjectInfo{key, static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)};
}

constexpr int kMaxListDepth = 32;

// Recursively collects regular files below the directory `dirfd`, whose key prefix is
// `key_prefix` (empty or ending in '/'). Does not follow symlinks.
Status Walk(int dirfd, const std::string& key_prefix, const std::string& filter, bool at_root,
            int depth, std::vector<ObjectInfo>& out) {
  if (depth > kMaxListDepth) return Status::Ok();
  DIR* dir = ::fdopendir(dirfd);
  if (dir == nullptr) {
    int err = errno;
    ::close(dirfd);
    return ErrnoError("listing " + key_prefix, err);
  }
  struct DirCloser {
    DIR* d;
    ~DirCloser() { ::closedir(d); }
  } closer{dir};
  while (true) {
    errno = 0;
    struct dirent* ent = ::readdir(dir);
    if (ent == nullptr) {
      if (errno != 0) return ErrnoError("listing " + key_prefix, errno);
      break;
    }
    std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (at_root && name == LocalBackend::kTempDir) continue;
    std::string key = key_prefix + std::string(name);
    // Prune subtrees that cannot contain a match.
    size_t common = std::min(key.size(), filter.size());
    if (key.compare(0, common, filter, 0, common) != 0) continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed while we listed
      return ErrnoError("listing " + key, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      int sub =
          ::openat(::dirfd(dir), ent->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (sub < 0) {
        if (errno == ENOENT) continue;
        return ErrnoError("listing " + key, errno);
      }
      BW_RETURN_IF_ERROR(Walk(sub, key + "/", filter, false, depth + 1, out));
    } else if (IsRegular(st) && key.size() >= filter.size()) {
      out.push_back(InfoFrom(key, st));
    }
  }
  return Status::Ok();
}

}  // namespace

LocalBackend::LocalBackend(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Status LocalBackend::EnsureDirs(const std::string& key) {
  std::string dir = root_;
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    if (slash == std::string::npos) break;
    std::string next = root_ + "/" + key.substr(0, slash);
    if (::mkdir(next.c_str(), 0700) == 0) {
      BW_RETURN_IF_ERROR(FsyncDir(dir));
    } else if (errno != EEXIST) {
      return ErrnoError("creating directory " + next, errno);
    }
    dir = next;
    start = slash + 1;
  }
  return Status::Ok();
}

Status LocalBackend::WriteTemp(const std::string& tmp_path, const std::string& key, ByteView data) {
  UniqueFd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ErrnoError("creating " + tmp_path, errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("writing object " + key + " to " + root_, errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return ErrnoError("syncing object " + key + " in " + root_, errno);
  if (fd.Close() != 0) return ErrnoError("closing object " + key + " in " + root_, errno);
  return Status::Ok();
}

Status LocalBackend::Put(const std::string& key, ByteView data) {
  BW_RETURN_IF_ERROR(ValidateKey(key));
  const std::string tmp_dir = root_ + "/" + kTempDir;
  if (::mkdir(tmp_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("creating " + tmp_dir, errno);
  }
  const std::string tmp_path = tmp_dir + "/" + TempName();
  const std::string final_path = PathFor(key);

  // Every exit path below removes the temp file; a crash may leave one in tmp/, which is
  // never read and is safe to delete.
  struct TempGuard {
    const std::string& path;
    ~TempGuard() { ::unlink(path.c_str()); }
  } guard{tmp_path};

  BW_RETURN_IF_ERROR(WriteTemp(tmp_path, key, data));

  // link() is atomic and fails if the target exists, which gives create-only semantics
  // without a lock; rename() would silently replace an existing object.
  int rc = ::link(tmp_path.c_str(), final_path.c_str());
  if (rc != 0 && errno == ENOENT) {
    BW_RETURN_IF_ERROR(EnsureDirs(key));
    rc = ::link(tmp_path.c_str(), final_path.c_str());
  }
  if (rc != 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS)) {
    // Filesystems without hard links (some NAS mounts): an exclusive rename does the same.
    rc = ::renameat2(AT_FDCWD, tmp_path.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE);
  }
  if (rc != 0) {
    if (errno == EEXIST) {
      return Error(ErrorCode::kAlreadyExists,
                   "object " + key + " already exists in " + root_ + " (objects are write-once)");
    }
    return ErrnoError("storing object " + key + " in " + root_, errno);
  }
  Status synced = FsyncDir(ParentOf(final_path));
  if (!synced.ok()) {
    // Not durable, so not stored: withdraw it so the caller can retry.
    ::unlink(final_path.c_str());
    return synced;
  }
  return Status::Ok();
}

Result<Bytes> LocalBackend::Get(const std::string& key) {
  BW_RETURN_IF_ERROR(ValidateKey(key));
  const std::string path = PathFor(key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error(ErrorCode::kNotFound, "object " + key + " not found in " + root_);
    }
    return ErrnoError("opening " + path, errno);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path, errno);
  if (!IsRegular(st)) return Error(ErrorCode::kNotFound, "object " + key + " is not a file");
  Bytes out(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("reading " + path, errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Result<Bytes> LocalBackend::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  Bytes out;
  BW_ASSIGN_OR_RETURN(ByteView view, GetRangeInto(key, offset, length, out));
  out.resize(view.size());
  return out;
}

// The kernel reads the range into the page cache in the background, so the read that follows
// finds it there instead of waiting on the disk (behind the restore's own writes).
void LocalBackend::Prefetch(const std::string& key, uint64_t offset, uint64_t length) {
  if (!ValidateKey(key).ok()) return;
  UniqueFd fd(::open(PathFor(key).c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return;
  ::posix_fadvise(fd.get(), static_cast<off_t>(offset), static_cast<off_t>(length),
                  POSIX_FADV_WILLNEED);
}

Result<ByteView> LocalBackend::GetRangeInto(const std::string& key, uint64_t offset,
                                            uint64_t length, Bytes& buffer) {
  BW_RETURN_IF_ERROR(ValidateKey(key));
  if (offset + length < offset || offset > static_cast<uint64_t>(INT64_MAX) ||
      length > static_cast<uint64_t>(INT64_MAX)) {
    return Error(ErrorCode::kIntegrity, "range out of bounds reading object " + key);
  }
  const std::string path = PathFor(key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error(ErrorCode::kNotFound, "object " + key + " not found in " + root_);
    }
    return ErrnoError("opening " + path, errno);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path, errno);
  auto truncated = [&](uint64_t have) {
    return Error(ErrorCode::kIntegrity, "object " + key + " in " + root_ + " is truncated: has " +
                                            std::to_string(have) + " bytes, need " +
                                            std::to_string(offset + length));
  };
  // Check before allocating so a corrupt index entry cannot make us allocate a huge buffer.
  if (static_cast<uint64_t>(st.st_size) < offset + length) return truncated(st.st_size);
  const size_t want = static_cast<size_t>(length);
  if (buffer.size() < want) buffer.resize(want);
  size_t done = 0;
  while (done < want) {
    ssize_t n =
        ::pread(fd.get(), buffer.data() + done, want - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("reading " + path, errno);
    }
    if (n == 0) return truncated(offset + done);
    done += static_cast<size_t>(n);
  }
  return ByteView(buffer.data(), want);
}

Result<std::vector<ObjectInfo>> LocalBackend::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  if (prefix.find('\0') != std::string::npos || (!prefix.empty() && prefix[0] == '/')) {
    return Error(ErrorCode::kUsage, "invalid list prefix '" + prefix + "'");
  }
  // Start at the deepest directory the prefix names completely.
  size_t slash = prefix.rfind('/');
  std::string dir_key = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  if (!dir_key.empty()) {
    Status valid = ValidateKey(dir_key.substr(0, dir_key.size() - 1));
    if (!valid.ok()) return out;  // e.g. "tmp/" or "../": nothing listable there
  }
  std::string dir_path = dir_key.empty() ? root_ : root_ + "/" + dir_key;
  int fd = ::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return out;
    return ErrnoError("listing " + dir_path, errno);
  }
  BW_RETURN_IF_ERROR(Walk(fd, dir_key, prefix, dir_key.empty(), 0, out));
  return out;
}

Result<ObjectInfo> LocalBackend::Stat(const std::string& key) {
  BW_RETURN_IF_ERROR(ValidateKey(key));
  struct stat st;
  if (::stat(PathFor(key).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error(ErrorCode::kNotFound, "object " + key + " not found in " + root_);
    }
    return ErrnoError("stat " + PathFor(key), errno);
  }
  if (!IsRegular(st)) return Error(ErrorCode::kNotFound, "object " + key + " is not a file");
  return InfoFrom(key, st);
}

Status LocalBackend::Remove(const std::string& key) {
  BW_RETURN_IF_ERROR(ValidateKey(key));
  const std::string path = PathFor(key);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::Ok();
    return ErrnoError("removing " + path, errno);
  }
  return FsyncDir(ParentOf(path));
}

Result<bool> LocalBackend::RootExists() {
  struct stat st;
  if (::stat(root_.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoError("checking repository location " + root_, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kUsage, "repository location " + root_ + " is not a directory");
  }
  return true;
}

Status LocalBackend::CreateRoot() {
  // mkdir -p, syncing the parent of every directory we create.
  size_t pos = 1;
  while (pos <= root_.size()) {
    size_t slash = root_.find('/', pos);
    if (slash == std::string::npos) slash = root_.size();
    std::string dir = root_.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) == 0) {
      BW_RETURN_IF_ERROR(FsyncDir(ParentOf(dir)));
    } else if (errno != EEXIST) {
      return ErrnoError("creating repository directory " + dir, errno);
    }
    pos = slash + 1;
  }
  BW_ASSIGN_OR_RETURN(bool exists, RootExists());
  if (!exists) return Error(ErrorCode::kIo, "could not create " + root_);
  return Status::Ok();
}

}  // namespace bulwark::storage

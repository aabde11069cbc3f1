#include "sources/files/backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "chunk/chunker.h"
#include "core/cancel.h"
#include "core/host.h"
#include "core/thread_pool.h"
#include "repo/lock.h"
#include "repo/tree.h"
#include "repo/tree_reader.h"
#include "sources/files/fs_util.h"
#include "sources/files/list.h"

#ifndef BULWARK_VERSION
#define BULWARK_VERSION "dev"
#endif

namespace bulwark::sources::files {

namespace {

using repo::Node;
using repo::NodeType;
using repo::Tree;

constexpr int kDefaultReaders = 4;
// Files queued for the readers beyond the ones being read: the in-flight window that bounds
// memory (each queued file costs a name and a reference to its directory).
constexpr size_t kQueuedFilesPerReader = 32;

// Splits a readable stream into content-defined chunks, hashes and stores each one.
// Memory: one buffer of twice the maximum chunk size, reused across calls on one thread.
struct ChunkOutcome {
  std::vector<Id> ids;
  uint64_t bytes = 0;
  uint64_t bytes_new = 0;
  uint64_t blobs_new = 0;
  int read_errno = 0;          // set when reading the input failed
  std::optional<Error> fatal;  // the repository side failed (or cancelled)
};

ChunkOutcome ChunkAndStore(repo::Repository& repo, repo::BlobWriter& writer, int fd, Bytes& buf,
                           Progress* progress) {
  ChunkOutcome out;
  const chunk::ChunkerParams& params = repo.config().chunker;
  const size_t cap = static_cast<size_t>(params.max_size) * 2;
  if (buf.size() < cap) buf.resize(cap);
  size_t start = 0;
  size_t end = 0;
  bool eof = false;
  while (true) {
    if (!eof && end - start < params.max_size) {
      if (start > 0) {
        std::memmove(buf.data(), buf.data() + start, end - start);
        end -= start;
        start = 0;
      }
      ssize_t n = ReadFull(fd, buf.data() + end, cap - end);
      if (n < 0) {
        out.read_errno = errno;
        return out;
      }
      if (static_cast<size_t>(n) < cap - end) eof = true;
      end += static_cast<size_t>(n);
    }
    if (start == end) break;
    if (CancelRequested()) {
      out.fatal = Error(ErrorCode::kCancelled, "backup cancelled");
      return out;
    }
    ByteView avail(buf.data() + start, end - start);
    size_t len = chunk::FindBoundary(repo.gear(), params, avail);
    if (len == 0 || len > avail.size()) len = avail.size();
    Bytes data(avail.begin(), avail.begin() + static_cast<std::ptrdiff_t>(len));
    Id id = repo.BlobId(data);
    auto added = writer.Add(repo::BlobType::kData, id, std::move(data));
    if (!added.ok()) {
      out.fatal = added.error();
      return out;
    }
    if (*added) {
      out.bytes_new += len;
      ++out.blobs_new;
    }
    out.ids.push_back(id);
    out.bytes += len;
    if (progress != nullptr) progress->bytes_done.fetch_add(len, std::memory_order_relaxed);
    start += len;
  }
  return out;
}

// The user's paths as a small trie rooted at "/": inner nodes are ancestors that are stored
// only as containers (their metadata, but only the selected children), `target` nodes are
// walked completely.
struct PathTrie {
  std::map<std::string, PathTrie> children;
  bool target = false;
};

// One directory being assembled. Entries are filled by the walker (metadata) and by reader
// threads (file contents); `pending` counts the walker itself plus every file read and
// subdirectory not finished yet, and whoever drops it to zero encodes and stores the tree.
struct DirState {
  std::shared_ptr<DirState> parent;
  size_t index_in_parent = 0;
  std::string path;
  std::vector<Node> nodes;
  std::vector<uint8_t> keep;
  std::atomic<int64_t> pending{1};
  std::shared_ptr<UniqueFd> fd;
};

const Node* FindChild(const Tree* tree, const std::string& name) {
  if (tree == nullptr) return nullptr;
  auto it = std::lower_bound(tree->nodes.begin(), tree->nodes.end(), name,
                             [](const Node& n, const std::string& v) { return n.name < v; });
  if (it == tree->nodes.end() || it->name != name) return nullptr;
  return &*it;
}

class FilesBackup {
 public:
  FilesBackup(repo::Repository& repo, const FilesBackupOptions& options, repo::BlobWriter& writer)
      : repo_(repo),
        options_(options),
        writer_(writer),
        progress_(options.progress),
        pool_(options.reader_threads > 0 ? options.reader_threads : kDefaultReaders,
              kQueuedFilesPerReader *
                  (options.reader_threads > 0 ? options.reader_threads : kDefaultReaders)) {}

  // Walks everything under `trie` (rooted at "/") and returns the root tree ID.
  Result<Id> Run(const PathTrie& trie, const Tree* parent_root) {
    auto root = std::make_shared<DirState>();
    root->path = "/";
    UniqueFd fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("opening /", errno);
    root->fd = std::make_shared<UniqueFd>(std::move(fd));
    WalkDir(root, parent_root, &trie);
    Release(root);
    root.reset();
    pool_.Wait();
    {
      std::lock_guard lock(mu_);
      if (fatal_) return *fatal_;
    }
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
    if (!root_tree_) return Error(ErrorCode::kFailure, "internal error: root tree not stored");
    return *root_tree_;
  }

  FilesBackupCounters Counters() const {
    FilesBackupCounters c;
    c.files_new = files_new_;
    c.files_changed = files_changed_;
    c.files_unmodified = files_unmodified_;
    c.dirs = dirs_;
    c.others = others_;
    c.bytes_total = bytes_total_;
    c.bytes_read = bytes_read_;
    c.bytes_added = bytes_added_;
    c.blobs_new = blobs_new_;
    return c;
  }

  std::vector<std::string> TakeErrors() {
    std::lock_guard lock(mu_);
    std::sort(errors_.begin(), errors_.end());
    return std::move(errors_);
  }

 private:
  bool Stopped() const { return stop_.load(std::memory_order_relaxed) || CancelRequested(); }

  void Fail(Error e) {
    std::lock_guard lock(mu_);
    if (!fatal_) fatal_ = std::move(e);
    stop_.store(true);
  }

  void RecordError(const std::string& path, const std::string& reason) {
    if (progress_ != nullptr) progress_->errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    errors_.push_back(path + ": " + reason);
  }

  const std::string& CachedUser(uid_t uid) {
    auto it = users_.find(uid);
    if (it == users_.end()) it = users_.emplace(uid, UserName(uid)).first;
    return it->second;
  }
  const std::string& CachedGroup(gid_t gid) {
    auto it = groups_.find(gid);
    if (it == groups_.end()) it = groups_.emplace(gid, GroupName(gid)).first;
    return it->second;
  }

  void FillNode(Node& n, const std::string& name, NodeType type, const struct stat& st) {
    n.name = name;
    n.type = type;
    n.mode = st.st_mode & 07777;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.user = CachedUser(st.st_uid);
    n.group = CachedGroup(st.st_gid);
    n.mtime_ns = TimespecNs(st.st_mtim);
    n.atime_ns = TimespecNs(st.st_atim);
    n.ctime_ns = TimespecNs(st.st_ctim);
    n.inode = st.st_ino;
    n.device = st.st_dev;
    n.links = st.st_nlink;
    n.size = type == NodeType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
    n.rdev = (type == NodeType::kBlockDev || type == NodeType::kCharDev) ? st.st_rdev : 0;
    n.sparse = type == NodeType::kFile &&
               static_cast<uint64_t>(st.st_blocks) * 512 < static_cast<uint64_t>(st.st_size);
  }

  // Drops the caller's hold on `dir`; the last holder stores its tree and releases the parent.
  void Release(std::shared_ptr<DirState> dir) {
    while (dir) {
      if (dir->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      Tree tree;
      tree.nodes.reserve(dir->nodes.size());
      for (size_t i = 0; i < dir->nodes.size(); ++i) {
        if (dir->keep[i]) tree.nodes.push_back(std::move(dir->nodes[i]));
      }
      dir->nodes.clear();
      dir->nodes.shrink_to_fit();
      Id id;
      if (!Stopped()) {
        Bytes encoded = repo::EncodeTree(tree);
        id = repo_.BlobId(encoded);
        size_t len = encoded.size();
        auto added = writer_.Add(repo::BlobType::kTree, id, std::move(encoded));
        if (!added.ok()) {
          Fail(added.error());
        } else if (*added) {
          bytes_added_ += len;
          ++blobs_new_;
        }
      }
      std::shared_ptr<DirState> parent = std::move(dir->parent);
      if (!parent) {
        root_tree_ = id;
        return;
      }
      parent->nodes[dir->index_in_parent].subtree = id;
      dir = std::move(parent);
    }
  }

  // Lists `dir` (a real directory, or the virtual children given by `trie`) and handles
  // each entry. `parent_tree` is the same directory in the parent snapshot, if any.
  void WalkDir(const std::shared_ptr<DirState>& dir, const Tree* parent_tree,
               const PathTrie* trie) {
    std::vector<std::string> names;
    if (trie != nullptr && !trie->target) {
      for (const auto& [name, sub] : trie->children) names.push_back(name);
    } else {
      int dup = ::fcntl(dir->fd->get(), F_DUPFD_CLOEXEC, 0);
      DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
      if (d == nullptr) {
        int err = errno;
        if (dup >= 0) ::close(dup);
        RecordError(dir->path, std::strerror(err));
        return;
      }
      errno = 0;
      while (struct dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        names.emplace_back(e->d_name);
      }
      int err = errno;
      ::closedir(d);
      if (err != 0) RecordError(dir->path, std::string("listing: ") + std::strerror(err));
      std::sort(names.begin(), names.end());
    }
    dir->nodes.resize(names.size());
    dir->keep.assign(names.size(), 0);
    for (size_t i = 0; i < names.size(); ++i) {
      if (Stopped()) return;
      const PathTrie* sub = nullptr;
      if (trie != nullptr && !trie->target) sub = &trie->children.at(names[i]);
      HandleEntry(dir, i, names[i], parent_tree, sub);
    }
  }

  void HandleEntry(const std::shared_ptr<DirState>& dir, size_t idx, const std::string& name,
                   const Tree* parent_tree, const PathTrie* trie) {
    const std::string path = JoinPath(dir->path, name);
    // Ancestors of the selected paths are containers: follow symlinks to reach the target, and
    // do not apply excludes to them.
    const bool container = trie != nullptr && !trie->target;
    if (!container && MatchesAny(options_.excludes, name, path)) return;
    struct stat st;
    if (::fstatat(dir->fd->get(), name.c_str(), &st, container ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
      int err = errno;
      // A file deleted since it was listed is simply not part of this backup; a missing
      // path the user asked for is worth a message.
      if (err != ENOENT || trie != nullptr) RecordError(path, std::strerror(err));
      return;
    }
    NodeType type;
    if (!NodeTypeFromMode(st.st_mode, type)) {
      RecordError(path, "unsupported file type");
      return;
    }
    if (container && type != NodeType::kDir) {
      RecordError(path, "not a directory");
      return;
    }
    Node& node = dir->nodes[idx];
    FillNode(node, name, type, st);
    const Node* old = FindChild(parent_tree, name);
    switch (type) {
      case NodeType::kDir: {
        dir->keep[idx] = 1;
        ++dirs_;
        auto child = std::make_shared<DirState>();
        child->parent = dir;
        child->index_in_parent = idx;
        child->path = path;
        dir->pending.fetch_add(1, std::memory_order_relaxed);
        // O_NOATIME: listing a directory must not change what the next backup records.
        const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (container ? 0 : O_NOFOLLOW);
        UniqueFd fd(::openat(dir->fd->get(), name.c_str(), flags | O_NOATIME));
        if (!fd.valid() && errno == EPERM) fd.Reset(::openat(dir->fd->get(), name.c_str(), flags));
        if (!fd.valid()) {
          // Kept as an empty directory with its metadata, so a restore recreates it.
          RecordError(path, std::strerror(errno));
        } else {
          child->fd = std::make_shared<UniqueFd>(std::move(fd));
          std::optional<Tree> old_tree;
          if (old != nullptr && old->type == NodeType::kDir) {
            auto t = parent_trees_.Load(old->subtree);
            if (t.ok()) old_tree = std::move(*t);
          }
          WalkDir(child, old_tree ? &*old_tree : nullptr, trie);
          child->fd.reset();
        }
        Release(std::move(child));
        break;
      }
      case NodeType::kSymlink: {
        std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
        while (true) {
          ssize_t n = ::readlinkat(dir->fd->get(), name.c_str(), buf.data(), buf.size());
          if (n < 0) {
            RecordError(path, std::strerror(errno));
            return;
          }
          if (static_cast<size_t>(n) < buf.size()) {
            node.link_target.assign(buf.data(), static_cast<size_t>(n));
            break;
          }
          buf.resize(buf.size() * 2);
        }
        dir->keep[idx] = 1;
        ++others_;
        break;
      }
      case NodeType::kFile:
        HandleFile(dir, idx, path, old);
        break;
      default:
        dir->keep[idx] = 1;
        ++others_;
        break;
    }
  }

  bool Reusable(const Node& node, const Node* old) const {
    if (old == nullptr || old->type != NodeType::kFile) return false;
    if (old->size != node.size || old->mtime_ns != node.mtime_ns ||
        old->ctime_ns != node.ctime_ns || old->inode != node.inode) {
      return false;
    }
    // Content whose packs prune has condemned must be stored again, so read the file.
    for (const Id& id : old->content) {
      if (!repo_.index().HasUsable(repo::BlobType::kData, id)) return false;
    }
    return true;
  }

  void HandleFile(const std::shared_ptr<DirState>& dir, size_t idx, const std::string& path,
                  const Node* old) {
    Node& node = dir->nodes[idx];
    bytes_total_ += node.size;
    if (progress_ != nullptr) {
      progress_->files_total.fetch_add(1, std::memory_order_relaxed);
      progress_->bytes_total.fetch_add(node.size, std::memory_order_relaxed);
    }
    if (Reusable(node, old)) {
      node.content = old->content;
      dir->keep[idx] = 1;
      ++files_unmodified_;
      if (progress_ != nullptr) {
        progress_->files_done.fetch_add(1, std::memory_order_relaxed);
        progress_->bytes_done.fetch_add(node.size, std::memory_order_relaxed);
      }
      return;
    }
    if (old != nullptr && old->type == NodeType::kFile) {
      ++files_changed_;
    } else {
      ++files_new_;
    }
    dir->pending.fetch_add(1, std::memory_order_relaxed);
    // The task holds the directory's fd itself: the walker drops its own reference early.
    pool_.Submit([this, dir, idx, path, dirfd = dir->fd] { ReadFile(dir, dirfd, idx, path); });
  }

  // Runs on a reader thread.
  void ReadFile(std::shared_ptr<DirState> dir, const std::shared_ptr<UniqueFd>& dirfd, size_t idx,
                const std::string& path) {
    Node& node = dir->nodes[idx];
    if (!Stopped()) {
      int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
      UniqueFd fd(::openat(dirfd->get(), node.name.c_str(), flags | O_NOATIME));
      if (!fd.valid() && errno == EPERM) {
        fd.Reset(::openat(dirfd->get(), node.name.c_str(), flags));
      }
      struct stat st;
      if (!fd.valid()) {
        RecordError(path, std::strerror(errno));
      } else if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        RecordError(path, "changed type during backup");
      } else {
        thread_local Bytes buf;
        ChunkOutcome out = ChunkAndStore(repo_, writer_, fd.get(), buf, progress_);
        bytes_read_ += out.bytes;
        bytes_added_ += out.bytes_new;
        blobs_new_ += out.blobs_new;
        if (out.fatal) {
          Fail(*out.fatal);
        } else if (out.read_errno != 0) {
          RecordError(path, std::string("reading: ") + std::strerror(out.read_errno));
        } else {
          node.content = std::move(out.ids);
          // What was read is what a restore writes, even if the file changed meanwhile.
          if (node.size != out.bytes) {
            bytes_total_ += out.bytes;
            bytes_total_ -= node.size;
            node.size = out.bytes;
          }
          dir->keep[idx] = 1;
          if (progress_ != nullptr) progress_->files_done.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    Release(std::move(dir));
  }

  repo::Repository& repo_;
  repo::TreeReader parent_trees_{repo_};  // trees of the parent snapshot
  const FilesBackupOptions& options_;
  repo::BlobWriter& writer_;
  Progress* progress_;

  std::mutex mu_;
  std::vector<std::string> errors_;
  std::optional<Error> fatal_;
  std::atomic<bool> stop_{false};
  std::optional<Id> root_tree_;

  // Walker-thread caches.
  std::unordered_map<uid_t, std::string> users_;
  std::unordered_map<gid_t, std::string> groups_;

  std::atomic<uint64_t> files_new_{0}, files_changed_{0}, files_unmodified_{0}, dirs_{0},
      others_{0}, bytes_total_{0}, bytes_read_{0}, bytes_added_{0}, blobs_new_{0};

  ThreadPool pool_;  // last: joined first, while everything above is still alive
};

// Latest snapshot of the same component, kind and paths, as the default parent.
std::optional<repo::Snapshot> FindParent(const repo::Repository& repo, const std::string& component,
                                         const std::string& kind,
                                         const std::vector<std::string>& paths) {
  auto all = repo::LoadAllSnapshots(repo);
  if (!all.ok()) return std::nullopt;
  for (auto it = all->rbegin(); it != all->rend(); ++it) {
    if (it->component != component || it->kind != kind) continue;
    std::vector<std::string> p = it->paths;
    std::sort(p.begin(), p.end());
    if (p == paths) return *it;
  }
  return std::nullopt;
}

repo::Snapshot NewSnapshot(const FilesBackupOptions& options, const std::string& kind) {
  repo::Snapshot s;
  s.time_unix_ns = NowNs();
  s.hostname = options.hostname.empty() ? HostName() : options.hostname;
  s.username = UserName(::geteuid());
  s.component = options.component;
  s.kind = kind;
  s.tags = options.tags;
  s.program_version = BULWARK_VERSION;
  return s;
}

nlohmann::json SummaryJson(const FilesBackupCounters& c, double seconds) {
  return {{"files_new", c.files_new},
          {"files_changed", c.files_changed},
          {"files_unmodified", c.files_unmodified},
          {"dirs", c.dirs},
          {"others", c.others},
          {"bytes_total", c.bytes_total},
          {"bytes_read", c.bytes_read},
          {"bytes_added", c.bytes_added},
          {"bytes_stored", c.bytes_stored},
          {"blobs_new", c.blobs_new},
          {"duration_seconds", seconds}};
}

// Flushes the writer and writes the snapshot, if the lock still protects us.
Status Commit(repo::Repository& repo, repo::BlobWriter& writer, const repo::RepoLock& lock,
              FilesBackupResult& result) {
  if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
  BW_RETURN_IF_ERROR(writer.Flush());
  result.counters.bytes_stored = writer.stats().bytes_new_stored;
  if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
  if (!lock.StillValid()) {
    return Error(ErrorCode::kLocked,
                 "the repository lock could not be refreshed; snapshot not written (run the "
                 "backup again)");
  }
  result.snapshot.summary = SummaryJson(result.counters, result.duration_seconds);
  BW_ASSIGN_OR_RETURN(result.snapshot.id, repo::SaveSnapshot(repo, result.snapshot));
  return Status::Ok();
}

}  // namespace

Result<FilesBackupResult> BackupFiles(repo::Repository& repo, const FilesBackupOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  if (options.paths.empty()) return Error(ErrorCode::kUsage, "no paths to back up");
  std::vector<std::string> paths;
  for (const auto& p : options.paths) {
    BW_ASSIGN_OR_RETURN(std::string abs, AbsolutePath(p));
    paths.push_back(std::move(abs));
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());

  // Paths that do not exist are reported and skipped; with none left the backup fails.
  FilesBackupResult result;
  std::vector<std::string> existing;
  for (const auto& p : paths) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      result.errors.push_back(p + ": " + std::strerror(errno));
    } else {
      existing.push_back(p);
    }
  }
  if (existing.empty()) {
    return Error(ErrorCode::kNotFound,
                 result.errors.empty() ? "nothing to back up" : result.errors.front());
  }
  PathTrie trie;
  for (const auto& p : existing) {
    BW_ASSIGN_OR_RETURN(auto parts, SplitSnapshotPath(p));
    PathTrie* t = &trie;
    for (const auto& part : parts) {
      if (t->target) break;  // an ancestor is already selected completely
      t = &t->children[part];
    }
    t->target = true;
    t->children.clear();
  }

  BW_ASSIGN_OR_RETURN(auto lock, repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "backup"));

  result.snapshot = NewSnapshot(options, "files");
  result.snapshot.paths = paths;
  std::optional<Tree> parent_root;
  std::optional<repo::Snapshot> parent;
  if (options.parent) {
    auto s = repo::LoadSnapshot(repo, *options.parent);
    if (!s.ok()) return s.error().Wrap("loading parent snapshot " + options.parent->ShortHex());
    parent = std::move(*s);
  } else {
    parent = FindParent(repo, options.component, "files", paths);
  }
  if (parent) {
    result.snapshot.parent = parent->id;
    auto t = LoadTree(repo, parent->tree);
    if (t.ok()) parent_root = std::move(*t);
  }

  repo::BlobWriter writer(repo, options.writer);
  Id root;
  {
    FilesBackup backup(repo, options, writer);
    auto r = backup.Run(trie, parent_root ? &*parent_root : nullptr);
    if (!r.ok()) return r.error();
    root = *r;
    if (options.progress != nullptr) options.progress->totals_final.store(true);
    for (auto& e : backup.TakeErrors()) result.errors.push_back(std::move(e));
    result.counters = backup.Counters();
  }
  result.snapshot.tree = root;
  result.snapshot.errors = result.errors;
  result.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BW_RETURN_IF_ERROR(Commit(repo, writer, *lock, result));
  return result;
}

Result<FilesBackupResult> BackupStream(repo::Repository& repo, int fd, const std::string& filename,
                                       const FilesBackupOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  if (filename.empty() || filename == "." || filename == ".." ||
      filename.find('/') != std::string::npos) {
    return Error(ErrorCode::kUsage, "--filename must be a plain file name, got '" + filename + "'");
  }
  BW_ASSIGN_OR_RETURN(auto lock, repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "backup"));
  FilesBackupResult result;
  result.snapshot = NewSnapshot(options, "stdin");
  result.snapshot.paths = {filename};
  std::optional<repo::Snapshot> parent;
  if (options.parent) {
    result.snapshot.parent = *options.parent;
  } else if ((parent = FindParent(repo, options.component, "stdin", {filename}))) {
    result.snapshot.parent = parent->id;
  }

  repo::BlobWriter writer(repo, options.writer);
  Bytes buf;
  ChunkOutcome out = ChunkAndStore(repo, writer, fd, buf, options.progress);
  if (out.fatal) return *out.fatal;
  if (out.read_errno != 0) return ErrnoError("reading the input stream", out.read_errno);

  Node node;
  node.name = filename;
  node.type = NodeType::kFile;
  node.mode = 0644;
  node.uid = ::geteuid();
  node.gid = ::getegid();
  node.user = UserName(node.uid);
  node.group = GroupName(node.gid);
  node.mtime_ns = node.atime_ns = node.ctime_ns = result.snapshot.time_unix_ns;
  node.size = out.bytes;
  node.content = std::move(out.ids);
  Tree tree;
  tree.nodes.push_back(std::move(node));
  Bytes encoded = repo::EncodeTree(tree);
  const size_t tree_len = encoded.size();
  bool is_new = false;
  auto tree_id = writer.Add(repo::BlobType::kTree, std::move(encoded), &is_new);
  if (!tree_id.ok()) return tree_id.error();

  auto& c = result.counters;
  c.files_new = 1;
  c.bytes_total = c.bytes_read = out.bytes;
  c.bytes_added = out.bytes_new + (is_new ? tree_len : 0);
  c.blobs_new = out.blobs_new + (is_new ? 1 : 0);
  if (options.progress != nullptr) {
    options.progress->files_done.fetch_add(1);
    options.progress->files_total.fetch_add(1);
    options.progress->bytes_total.fetch_add(out.bytes);
    options.progress->totals_final.store(true);
  }
  result.snapshot.tree = *tree_id;
  result.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BW_RETURN_IF_ERROR(Commit(repo, writer, *lock, result));
  return result;
}

}  // namespace bulwark::sources::files

#include "sources/postgres/backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "chunk/chunker.h"
#include "core/cancel.h"
#include "core/host.h"
#include "repo/lock.h"
#include "repo/parallel.h"
#include "repo/tree.h"
#include "sources/files/fs_util.h"
#include "sources/files/list.h"
#include "sources/postgres/base_backup_stream.h"
#include "sources/postgres/data_dir.h"
#include "sources/postgres/page_checksum.h"
#include "sources/postgres/pg_conn.h"
#include "sources/postgres/pg_info.h"
#include "sources/postgres/tar_reader.h"
#include "sources/postgres/wal_names.h"

#ifndef BULWARK_VERSION
#define BULWARK_VERSION "dev"
#endif

namespace bulwark::sources::postgres {

namespace {

using files::UniqueFd;
using repo::Node;
using repo::NodeType;
using repo::Tree;

constexpr int kDefaultReaders = 4;
// Large relation files are split into ranges read by different threads, so one 1 GiB segment
// does not serialise the backup.
constexpr uint64_t kRangeBytes = 8u << 20;
constexpr size_t kReadBuffer = 1u << 20;
// Files whose mtime is within this of the parent backup's start may have changed during that
// backup without changing their mtime again afterwards (coarse timestamps), so they are re-read.
constexpr int64_t kMtimeSafetyNs = 5'000'000'000;

int OpenReadOnly(int dirfd, const char* path, int extra) {
  int flags = O_RDONLY | O_CLOEXEC | extra;
  int fd = ::openat(dirfd, path, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(dirfd, path, flags);
  return fd;
}

const Node* FindChild(const Tree* tree, const std::string& name) {
  if (tree == nullptr) return nullptr;
  auto it = std::lower_bound(tree->nodes.begin(), tree->nodes.end(), name,
                             [](const Node& n, const std::string& v) { return n.name < v; });
  if (it == tree->nodes.end() || it->name != name) return nullptr;
  return &*it;
}

// One directory of the data directory as scanned (sorted by name) or received (in arrival
// order, sorted before it is stored); files are filled in by the readers or the stream.
struct DirInfo {
  std::string rel;
  std::vector<Node> nodes;
  std::vector<std::unique_ptr<DirInfo>> subdirs;  // aligned with nodes; null for non-dirs
  std::vector<uint8_t> keep;
  // Received only: position of each name in nodes, and whether entries inside are stored
  // (false for directories kept empty, e.g. pg_wal/archive_status).
  std::unordered_map<std::string, size_t> index;
  bool contents = true;
};

// How much of a backup_label or tablespace_map received in the stream is kept.
constexpr size_t kMaxControlFile = 1u << 20;

struct FileJob {
  Node* node = nullptr;
  uint8_t* keep = nullptr;
  std::string abs;
  std::string rel;
  bool relation = false;
  uint32_t segment = 0;
  std::vector<std::vector<Id>> parts;
  std::vector<uint64_t> part_bytes;
  std::atomic<bool> failed{false};
  std::string error;  // set once, by the thread that sets failed
};

struct ReadTask {
  FileJob* job;
  size_t part;
  uint64_t offset;
  uint64_t length;  // bytes to read; UINT64_MAX = to the end (non-relation files)
};

// Takes the files either from the data directory (Run: a scan, then parallel readers) or from
// a BASE_BACKUP stream (as its BaseBackupSink: the tar archives are parsed as they arrive and
// each file's content goes through the same block/chunk path as it streams by).
class PgBackup : public BaseBackupSink, private TarVisitor {
 public:
  PgBackup(repo::Repository& repo, repo::BlobWriter& writer, const PgBackupOptions& options,
           const ClusterInfo& cluster, Lsn start_lsn, int64_t parent_start_ns)
      : repo_(repo),
        writer_(writer),
        options_(options),
        start_lsn_(start_lsn),
        parent_start_ns_(parent_start_ns),
        verify_(cluster.data_checksums && cluster.block_size == kPageSize),
        progress_(options.progress) {}

  // Scans the data directory, reads what changed, stores the trees; returns the root tree.
  Result<Id> Run(const Tree* parent_root) {
    root_.rel = "";
    BW_RETURN_IF_ERROR(Scan(options_.pgdata, root_, parent_root));
    if (progress_ != nullptr) progress_->totals_final.store(true);
    const int readers = options_.reader_threads > 0 ? options_.reader_threads : kDefaultReaders;
    BW_RETURN_IF_ERROR(repo::ParallelFor(tasks_.size(), readers, [&](size_t i) -> Status {
      if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
      return RunTask(tasks_[i]);
    }));
    for (auto& job : jobs_) Assemble(*job);
    return StoreTree(root_);
  }

  PgBackupCounters counters() const {
    PgBackupCounters c;
    c.files = files_;
    c.files_read = files_read_;
    c.files_unmodified = files_unmodified_;
    c.dirs = dirs_;
    c.bytes_total = bytes_total_;
    c.bytes_read = bytes_read_;
    c.bytes_added = bytes_added_;
    c.blobs_new = blobs_new_;
    c.pages_verified = pages_verified_;
    return c;
  }
  std::vector<CorruptPage> TakeCorrupt() {
    std::sort(corrupt_.begin(), corrupt_.end(), [](const CorruptPage& a, const CorruptPage& b) {
      return std::tie(a.file, a.block) < std::tie(b.file, b.block);
    });
    return std::move(corrupt_);
  }
  std::vector<std::string> TakeErrors() {
    std::sort(errors_.begin(), errors_.end());
    return std::move(errors_);
  }

  // --- Files from a BASE_BACKUP stream ---
  // Pages changed since the backup started are not verified; known once the server started.
  void set_start_lsn(Lsn lsn) { start_lsn_ = lsn; }

  // "base.tar" holds the data directory; "<oid>.tar" tablespace <oid>, stored inside
  // pg_tblspc/<oid> as the local backup stores it.
  Status BeginArchive(const std::string& name, const std::string& location) override {
    (void)location;
    if (name == "base.tar") {
      archive_root_.clear();
    } else {
      const std::string oid = name.size() > 4 && name.ends_with(".tar")
                                  ? name.substr(0, name.size() - 4)
                                  : std::string();
      if (oid.empty() ||
          !std::all_of(oid.begin(), oid.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Error(ErrorCode::kFailure, "BASE_BACKUP sent an unexpected archive '" + name + "'");
      }
      archive_root_ = "pg_tblspc/" + oid;
    }
    tar_ = std::make_unique<TarReader>(static_cast<TarVisitor&>(*this));
    return Status::Ok();
  }
  Status ArchiveData(ByteView data) override {
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
    return tar_->Feed(data);
  }
  Status EndArchive() override {
    Status st = tar_->Finish();
    tar_.reset();
    return st;
  }
  // After the stream: sorts and stores the received trees; returns the root tree.
  Result<Id> FinishStream() {
    SortReceived(root_);
    return StoreTree(root_);
  }
  const std::string& received_label() const { return label_file_; }
  const std::string& received_tablespace_map() const { return spcmap_file_; }

 private:
  // The directory at `rel` (relative to the data directory) in the received tree, created with
  // `like`'s owner and times (mode 0700) where the stream did not send it first; null when an
  // ancestor's contents are not stored.
  DirInfo* ReceivedDir(const std::string& rel, const TarEntry& like) {
    DirInfo* dir = &root_;
    size_t at = 0;
    while (at < rel.size()) {
      if (!dir->contents) return nullptr;
      size_t slash = rel.find('/', at);
      if (slash == std::string::npos) slash = rel.size();
      const std::string name = rel.substr(at, slash - at);
      auto it = dir->index.find(name);
      if (it == dir->index.end() || dir->nodes[it->second].type != NodeType::kDir) {
        TarEntry implied = like;
        implied.type = TarEntry::Type::kDir;
        implied.mode = 0700;
        size_t i = AddReceived(*dir, name, implied);
        auto sub = std::make_unique<DirInfo>();
        sub->rel = rel.substr(0, slash);
        dir->subdirs[i] = std::move(sub);
        ++dirs_;
        it = dir->index.find(name);
      }
      dir = dir->subdirs[it->second].get();
      at = slash + 1;
    }
    return dir->contents ? dir : nullptr;
  }

  // Adds (or replaces) the node `name` in `dir`; returns its position.
  size_t AddReceived(DirInfo& dir, const std::string& name, const TarEntry& e) {
    auto [it, inserted] = dir.index.emplace(name, dir.nodes.size());
    if (inserted) {
      dir.nodes.emplace_back();
      dir.subdirs.emplace_back();
      dir.keep.push_back(1);
    }
    Node& n = dir.nodes[it->second];
    n = Node();
    n.name = name;
    n.type = e.type == TarEntry::Type::kDir       ? NodeType::kDir
             : e.type == TarEntry::Type::kSymlink ? NodeType::kSymlink
                                                  : NodeType::kFile;
    n.mode = e.mode;
    n.uid = e.uid;
    n.gid = e.gid;
    n.user = e.uname;
    n.group = e.gname;
    n.mtime_ns = e.mtime * 1'000'000'000;
    n.atime_ns = n.mtime_ns;
    n.ctime_ns = n.mtime_ns;
    n.links = 1;
    n.link_target = e.link_target;
    n.size = n.type == NodeType::kFile ? e.size : 0;
    return it->second;
  }

  Status OnEntry(const TarEntry& e) override {
    const std::string rel = files::JoinPath(archive_root_, e.path);
    const size_t slash = rel.rfind('/');
    const std::string parent_rel = slash == std::string::npos ? "" : rel.substr(0, slash);
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    cur_ = Receiving();
    cur_.capture = rel == "backup_label"     ? &label_file_
                   : rel == "tablespace_map" ? &spcmap_file_
                                             : nullptr;
    if (cur_.capture != nullptr) cur_.capture->clear();
    const bool is_dir = e.type == TarEntry::Type::kDir ||
                        (e.type == TarEntry::Type::kSymlink && parent_rel == "pg_tblspc");
    const EntryRule rule = ClassifyEntry(parent_rel, name, is_dir);
    if (rule == EntryRule::kSkip) return Status::Ok();
    DirInfo* dir = ReceivedDir(parent_rel, e);
    if (dir == nullptr) return Status::Ok();
    if (is_dir) {
      // Tablespace links (sent when there is no tablespace_map) stand for the directories their
      // archives fill.
      if (e.type == TarEntry::Type::kSymlink) {
        ReceivedDir(rel, e);
        return Status::Ok();
      }
      auto it = dir->index.find(name);
      std::unique_ptr<DirInfo> sub;
      if (it != dir->index.end() && dir->subdirs[it->second]) {
        sub = std::move(dir->subdirs[it->second]);  // implied earlier: keep its contents
      } else {
        sub = std::make_unique<DirInfo>();
        sub->rel = rel;
        ++dirs_;
      }
      sub->contents = rule == EntryRule::kStore;
      size_t i = AddReceived(*dir, name, e);
      dir->subdirs[i] = std::move(sub);
      return Status::Ok();
    }
    size_t i = AddReceived(*dir, name, e);
    dir->subdirs[i].reset();
    if (e.type == TarEntry::Type::kSymlink) return Status::Ok();
    cur_.dir = dir;
    cur_.index = i;
    cur_.rel = rel;
    if (IsRelationDir(parent_rel)) {
      if (auto rf = ParseRelationFileName(name)) {
        cur_.relation = true;
        cur_.segment = rf->segment;
      }
    }
    ++files_;
    ++files_read_;
    bytes_total_ += e.size;
    if (progress_ != nullptr) progress_->files_total.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status OnData(ByteView data) override {
    if (cur_.capture != nullptr) {
      const size_t room = kMaxControlFile - std::min(kMaxControlFile, cur_.capture->size());
      cur_.capture->append(AsString(data.first(std::min(room, data.size()))));
      return Status::Ok();
    }
    if (cur_.dir == nullptr) return Status::Ok();  // left out
    cur_.buf.insert(cur_.buf.end(), data.begin(), data.end());
    return Drain(false);
  }

  Status OnFileEnd() override {
    if (cur_.dir == nullptr) return Status::Ok();
    BW_RETURN_IF_ERROR(Drain(true));
    Node& node = cur_.dir->nodes[cur_.index];
    node.content = std::move(cur_.ids);
    bytes_total_ += cur_.done;
    bytes_total_ -= node.size;
    node.size = cur_.done;
    bytes_read_ += cur_.done;
    if (progress_ != nullptr) progress_->files_done.fetch_add(1, std::memory_order_relaxed);
    cur_ = Receiving();
    return Status::Ok();
  }

  // Stores what the current file's buffer holds in whole blocks (relation files, each page
  // verified) or content-defined chunks; at the end of the file, everything.
  Status Drain(bool end) {
    Bytes& buf = cur_.buf;
    if (cur_.relation) {
      const size_t bs = options_.block_size;
      size_t at = 0;
      while (buf.size() - at >= bs || (end && at < buf.size())) {
        const size_t len = std::min(bs, buf.size() - at);
        if (verify_) VerifyPages(cur_.rel, cur_.segment, -1, buf.data() + at, len, cur_.done);
        BW_RETURN_IF_ERROR(Store(ByteView(buf.data() + at, len), cur_.ids, Encoder::kWorkers));
        at += len;
        cur_.done += len;
      }
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(at));
      return Status::Ok();
    }
    const chunk::ChunkerParams& params = repo_.config().chunker;
    size_t at = 0;
    while (buf.size() - at >= params.max_size || (end && at < buf.size())) {
      if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
      ByteView avail(buf.data() + at, buf.size() - at);
      size_t len = chunk::FindBoundary(repo_.gear(), params, avail);
      if (len == 0 || len > avail.size()) len = avail.size();
      BW_RETURN_IF_ERROR(Store(avail.first(len), cur_.ids, Encoder::kWorkers));
      at += len;
      cur_.done += len;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(at));
    return Status::Ok();
  }

  // Received directories in name order, as a scan produces them.
  static void SortReceived(DirInfo& dir) {
    std::vector<size_t> order(dir.nodes.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return dir.nodes[a].name < dir.nodes[b].name; });
    std::vector<Node> nodes;
    std::vector<std::unique_ptr<DirInfo>> subdirs;
    std::vector<uint8_t> keep;
    for (size_t i : order) {
      nodes.push_back(std::move(dir.nodes[i]));
      subdirs.push_back(std::move(dir.subdirs[i]));
      keep.push_back(dir.keep[i]);
    }
    dir.nodes = std::move(nodes);
    dir.subdirs = std::move(subdirs);
    dir.keep = std::move(keep);
    dir.index.clear();
    for (auto& sub : dir.subdirs) {
      if (sub) SortReceived(*sub);
    }
  }

  void RecordError(const std::string& rel, const std::string& reason) {
    if (progress_ != nullptr) progress_->errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    errors_.push_back(rel + ": " + reason);
  }

  void FillNode(Node& n, const std::string& name, NodeType type, const struct stat& st) {
    n.name = name;
    n.type = type;
    n.mode = st.st_mode & 07777;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    auto u = users_.find(st.st_uid);
    if (u == users_.end()) u = users_.emplace(st.st_uid, UserName(st.st_uid)).first;
    n.user = u->second;
    auto g = groups_.find(st.st_gid);
    if (g == groups_.end()) g = groups_.emplace(st.st_gid, GroupName(st.st_gid)).first;
    n.group = g->second;
    n.mtime_ns = files::TimespecNs(st.st_mtim);
    n.atime_ns = files::TimespecNs(st.st_atim);
    n.ctime_ns = files::TimespecNs(st.st_ctim);
    n.inode = st.st_ino;
    n.device = st.st_dev;
    n.links = 1;  // hard links do not occur in a data directory; restore each file on its own
    n.size = type == NodeType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
  }

  // A file unchanged since the parent backup (and not touched around its start) keeps the
  // parent's blocks.
  bool Reusable(const Node& node, const Node* old) const {
    if (parent_start_ns_ == 0 || old == nullptr || old->type != NodeType::kFile) return false;
    if (old->size != node.size || old->mtime_ns != node.mtime_ns) return false;
    if (node.mtime_ns >= parent_start_ns_ - kMtimeSafetyNs) return false;
    for (const Id& id : old->content) {
      if (!repo_.index().HasUsable(repo::BlobType::kData, id)) return false;
    }
    return true;
  }

  Status Scan(const std::string& abs, DirInfo& dir, const Tree* old_tree) {
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
    UniqueFd dfd(OpenReadOnly(AT_FDCWD, abs.c_str(), O_DIRECTORY));
    if (!dfd.valid()) {
      int err = errno;
      if (dir.rel.empty()) return ErrnoError("opening the data directory " + abs, err);
      RecordError(dir.rel, std::strerror(err));
      return Status::Ok();
    }
    std::vector<std::string> names;
    {
      int dup = ::fcntl(dfd.get(), F_DUPFD_CLOEXEC, 0);
      DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
      if (d == nullptr) {
        if (dup >= 0) ::close(dup);
        RecordError(dir.rel.empty() ? "." : dir.rel, std::strerror(errno));
        return Status::Ok();
      }
      while (struct dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        names.emplace_back(e->d_name);
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    const bool relation_dir = IsRelationDir(dir.rel);
    std::set<std::string> unlogged;
    if (relation_dir) {
      for (const auto& n : names) {
        auto rf = ParseRelationFileName(n);
        if (rf && rf->fork == "init") unlogged.insert(rf->relfilenode);
      }
    }
    // Tablespaces are symlinks in pg_tblspc; their contents are stored as if they were
    // directories there (restored in place; see docs/POSTGRES.md).
    const bool follow = dir.rel == "pg_tblspc";

    struct Pending {
      std::string name;
      struct stat st;
      NodeType type;
      EntryRule rule;
    };
    std::vector<Pending> entries;
    for (const auto& name : names) {
      struct stat st;
      if (::fstatat(dfd.get(), name.c_str(), &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) RecordError(files::JoinPath(dir.rel, name), std::strerror(errno));
        continue;  // removed since listed: not part of this backup
      }
      NodeType type;
      if (!files::NodeTypeFromMode(st.st_mode, type)) continue;
      if (type != NodeType::kFile && type != NodeType::kDir && type != NodeType::kSymlink) {
        continue;  // sockets, fifos: runtime objects, never data
      }
      EntryRule rule = ClassifyEntry(dir.rel, name, type == NodeType::kDir);
      if (rule == EntryRule::kSkip) continue;
      if (type == NodeType::kFile && relation_dir && SkipUnloggedFork(unlogged, name)) continue;
      entries.push_back({name, st, type, rule});
    }
    dir.nodes.resize(entries.size());
    dir.subdirs.resize(entries.size());
    dir.keep.assign(entries.size(), 1);
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      Node& node = dir.nodes[i];
      FillNode(node, e.name, e.type, e.st);
      const std::string rel = files::JoinPath(dir.rel, e.name);
      const Node* old = FindChild(old_tree, e.name);
      if (e.type == NodeType::kDir) {
        ++dirs_;
        auto sub = std::make_unique<DirInfo>();
        sub->rel = rel;
        if (e.rule == EntryRule::kStore) {
          std::optional<Tree> old_sub;
          if (old != nullptr && old->type == NodeType::kDir) {
            auto t = files::LoadTree(repo_, old->subtree);
            if (t.ok()) old_sub = std::move(*t);
          }
          BW_RETURN_IF_ERROR(
              Scan(files::JoinPath(abs, e.name), *sub, old_sub ? &*old_sub : nullptr));
        }
        dir.subdirs[i] = std::move(sub);
      } else if (e.type == NodeType::kSymlink) {
        std::vector<char> buf(4096);
        ssize_t n = ::readlinkat(dfd.get(), e.name.c_str(), buf.data(), buf.size());
        if (n < 0) {
          RecordError(rel, std::strerror(errno));
          dir.keep[i] = 0;
        } else {
          node.link_target.assign(buf.data(), static_cast<size_t>(n));
        }
      } else {
        AddFile(dir, i, files::JoinPath(abs, e.name), rel, relation_dir, old);
      }
    }
    return Status::Ok();
  }

  void AddFile(DirInfo& dir, size_t i, std::string abs, std::string rel, bool relation_dir,
               const Node* old) {
    Node& node = dir.nodes[i];
    ++files_;
    bytes_total_ += node.size;
    if (progress_ != nullptr) {
      progress_->files_total.fetch_add(1, std::memory_order_relaxed);
      progress_->bytes_total.fetch_add(node.size, std::memory_order_relaxed);
    }
    if (Reusable(node, old)) {
      node.content = old->content;
      ++files_unmodified_;
      if (progress_ != nullptr) {
        progress_->files_done.fetch_add(1, std::memory_order_relaxed);
        progress_->bytes_done.fetch_add(node.size, std::memory_order_relaxed);
      }
      return;
    }
    ++files_read_;
    auto job = std::make_unique<FileJob>();
    job->node = &node;
    job->keep = &dir.keep[i];
    job->abs = std::move(abs);
    job->rel = std::move(rel);
    if (relation_dir) {
      if (auto rf = ParseRelationFileName(node.name)) {
        job->relation = true;
        job->segment = rf->segment;
      }
    }
    if (job->relation) {
      // Ranges are whole blocks; the last one reads to the end of the file as it is then.
      const uint64_t range =
          std::max<uint64_t>(kRangeBytes / options_.block_size, 1) * options_.block_size;
      size_t parts = static_cast<size_t>(std::max<uint64_t>(1, (node.size + range - 1) / range));
      job->parts.resize(parts);
      job->part_bytes.assign(parts, 0);
      for (size_t p = 0; p < parts; ++p) {
        tasks_.push_back({job.get(), p, p * range, p + 1 == parts ? UINT64_MAX : range});
      }
    } else {
      job->parts.resize(1);
      job->part_bytes.assign(1, 0);
      tasks_.push_back({job.get(), 0, 0, UINT64_MAX});
    }
    jobs_.push_back(std::move(job));
  }

  // A block or chunk of a file. The readers (one thread each, more of them than cores)
  // compress and encrypt it themselves; the single thread receiving a remote stream hands it
  // to the writer's workers instead.
  enum class Encoder { kCaller, kWorkers };
  Status Store(ByteView data, std::vector<Id>& ids, Encoder encoder) {
    Id id = repo_.BlobId(data);
    const size_t len = data.size();
    BW_ASSIGN_OR_RETURN(
        bool added, encoder == Encoder::kCaller
                        ? writer_.AddInCaller(repo::BlobType::kData, id, data)
                        : writer_.Add(repo::BlobType::kData, id, Bytes(data.begin(), data.end())));
    if (added) {
      bytes_added_ += len;
      ++blobs_new_;
    }
    ids.push_back(id);
    if (progress_ != nullptr) progress_->bytes_done.fetch_add(len, std::memory_order_relaxed);
    return Status::Ok();
  }

  void FailJob(FileJob& job, const std::string& reason) {
    if (!job.failed.exchange(true)) {
      job.error = reason;
    }
  }

  // Checks every full page of `data`, which starts at byte `offset` of the file.
  // `fd` >= 0: the file, to re-read a page that does not verify (it may have been torn by a
  // concurrent write); -1: no second chance (the server already re-read such pages).
  void VerifyPages(const std::string& rel, uint32_t segment, int fd, const uint8_t* data,
                   size_t len, uint64_t offset) {
    for (size_t at = 0; at + kPageSize <= len; at += kPageSize) {
      const uint8_t* page = data + at;
      if (PageIsNew(page) || PageLsn(page) >= start_lsn_) continue;
      const uint32_t block = static_cast<uint32_t>((offset + at) / kPageSize);
      const uint32_t blkno = segment * kPagesPerSegment + block;
      uint16_t want = PageChecksum(page, blkno);
      ++pages_verified_;
      if (want == PageStoredChecksum(page)) continue;
      // A page the server was writing as we read it can be torn: read it once more.
      alignas(8) uint8_t again[kPageSize];
      ssize_t n = fd >= 0 ? ::pread(fd, again, kPageSize, static_cast<off_t>(offset + at)) : -1;
      if (n == static_cast<ssize_t>(kPageSize)) {
        if (PageIsNew(again) || PageLsn(again) >= start_lsn_) continue;
        want = PageChecksum(again, blkno);
        if (want == PageStoredChecksum(again)) continue;
        page = again;
      }
      std::lock_guard lock(mu_);
      corrupt_.push_back({rel, block, want, PageStoredChecksum(page)});
    }
  }

  Status RunTask(const ReadTask& t) {
    FileJob& job = *t.job;
    if (job.failed.load()) return Status::Ok();
    UniqueFd fd(OpenReadOnly(AT_FDCWD, job.abs.c_str(), O_NOFOLLOW | O_NOCTTY));
    if (!fd.valid()) {
      // A relation dropped during the backup is not needed: WAL replay removes it anyway.
      FailJob(job, errno == ENOENT ? "" : std::strerror(errno));
      return Status::Ok();
    }
    std::vector<Id>& ids = job.parts[t.part];
    uint64_t done = 0;
    if (job.relation) {
      thread_local Bytes buf;
      const size_t bs = options_.block_size;
      const size_t cap = std::max(kReadBuffer / bs, size_t{1}) * bs;
      if (buf.size() < cap) buf.resize(cap);
      while (done < t.length) {
        if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
        size_t want = static_cast<size_t>(std::min<uint64_t>(cap, t.length - done));
        size_t got = 0;
        while (got < want) {
          ssize_t r = ::pread(fd.get(), buf.data() + got, want - got,
                              static_cast<off_t>(t.offset + done + got));
          if (r < 0) {
            if (errno == EINTR) continue;
            FailJob(job, std::string("reading: ") + std::strerror(errno));
            return Status::Ok();
          }
          if (r == 0) break;
          got += static_cast<size_t>(r);
        }
        if (got == 0) break;
        if (verify_) VerifyPages(job.rel, job.segment, fd.get(), buf.data(), got, t.offset + done);
        for (size_t at = 0; at < got; at += bs) {
          size_t len = std::min(bs, got - at);
          BW_RETURN_IF_ERROR(Store(ByteView(buf.data() + at, len), ids, Encoder::kCaller));
        }
        done += got;
        if (got < want) break;  // end of file
      }
    } else {
      // Small files (configuration, transaction status, control file): content-defined chunks.
      const chunk::ChunkerParams& params = repo_.config().chunker;
      thread_local Bytes buf;
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
          ssize_t n = files::ReadFull(fd.get(), buf.data() + end, cap - end);
          if (n < 0) {
            FailJob(job, std::string("reading: ") + std::strerror(errno));
            return Status::Ok();
          }
          if (static_cast<size_t>(n) < cap - end) eof = true;
          end += static_cast<size_t>(n);
        }
        if (start == end) break;
        if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
        ByteView avail(buf.data() + start, end - start);
        size_t len = chunk::FindBoundary(repo_.gear(), params, avail);
        if (len == 0 || len > avail.size()) len = avail.size();
        BW_RETURN_IF_ERROR(Store(avail.first(len), ids, Encoder::kCaller));
        start += len;
        done += len;
      }
    }
    job.part_bytes[t.part] = done;
    bytes_read_ += done;
    return Status::Ok();
  }

  void Assemble(FileJob& job) {
    if (job.failed.load()) {
      *job.keep = 0;
      if (!job.error.empty()) RecordError(job.rel, job.error);
      return;
    }
    Node& node = *job.node;
    node.content.clear();
    uint64_t size = 0;
    for (size_t p = 0; p < job.parts.size(); ++p) {
      for (const Id& id : job.parts[p]) node.content.push_back(id);
      size += job.part_bytes[p];
      // A range that ended early (the file shrank during the backup) ends the file.
      if (p + 1 < job.parts.size() && job.part_bytes[p] == 0) break;
    }
    bytes_total_ += size;
    bytes_total_ -= node.size;
    node.size = size;
    if (progress_ != nullptr) progress_->files_done.fetch_add(1, std::memory_order_relaxed);
  }

  Result<Id> StoreTree(DirInfo& dir) {
    Tree tree;
    for (size_t i = 0; i < dir.nodes.size(); ++i) {
      if (!dir.keep[i]) continue;
      Node& node = dir.nodes[i];
      if (node.type == NodeType::kDir) {
        BW_ASSIGN_OR_RETURN(node.subtree, StoreTree(*dir.subdirs[i]));
      }
      tree.nodes.push_back(std::move(node));
    }
    Bytes encoded = repo::EncodeTree(tree);
    const size_t len = encoded.size();
    Id id = repo_.BlobId(encoded);
    BW_ASSIGN_OR_RETURN(bool added, writer_.Add(repo::BlobType::kTree, id, std::move(encoded)));
    if (added) {
      bytes_added_ += len;
      ++blobs_new_;
    }
    return id;
  }

  repo::Repository& repo_;
  repo::BlobWriter& writer_;
  const PgBackupOptions& options_;
  Lsn start_lsn_;
  const int64_t parent_start_ns_;
  const bool verify_;
  Progress* progress_;

  DirInfo root_;
  std::vector<std::unique_ptr<FileJob>> jobs_;
  std::vector<ReadTask> tasks_;
  std::unordered_map<uid_t, std::string> users_;
  std::unordered_map<gid_t, std::string> groups_;

  // The file being received.
  struct Receiving {
    DirInfo* dir = nullptr;  // null: not stored
    size_t index = 0;
    std::string rel;
    bool relation = false;
    uint32_t segment = 0;
    std::string* capture = nullptr;  // backup_label / tablespace_map: kept as text
    Bytes buf;                       // not yet stored
    uint64_t done = 0;               // bytes stored
    std::vector<Id> ids;
  };
  std::string archive_root_;
  std::unique_ptr<TarReader> tar_;
  Receiving cur_;
  std::string label_file_;
  std::string spcmap_file_;

  std::mutex mu_;
  std::vector<CorruptPage> corrupt_;
  std::vector<std::string> errors_;
  std::atomic<uint64_t> files_{0}, files_read_{0}, files_unmodified_{0}, dirs_{0}, bytes_total_{0},
      bytes_read_{0}, bytes_added_{0}, blobs_new_{0}, pages_verified_{0};
};

std::string BackupLabel(const PgBackupOptions& options, int64_t now_ns) {
  if (!options.label.empty()) return options.label;
  return "bulwark " + options.component + " " + repo::FormatTimeRfc3339(now_ns);
}

// "START TIMELINE: 1" from a backup label.
uint32_t LabelTimeline(const std::string& label) {
  const std::string key = "START TIMELINE: ";
  size_t at = label.find(key);
  if (at == std::string::npos) return 0;
  return static_cast<uint32_t>(std::strtoul(label.c_str() + at + key.size(), nullptr, 10));
}

// Waits until the archiver has archived WAL file `name` (the last one the backup needs), by
// the rule the server's own pg_backup_stop(true) applies: archived when its .done status file
// exists, or when neither its .ready file nor the segment is left (archived and recycled).
// Gives up after `timeout_seconds` (0: never), as a backup without its WAL cannot be restored.
Status WaitForArchived(const std::string& pgdata, const std::string& name, double timeout_seconds) {
  const std::string wal_dir = files::JoinPath(pgdata, "pg_wal");
  const std::string status = wal_dir + "/archive_status/" + name;
  auto exists = [](const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  };
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (true) {
    if (exists(status + ".done")) return Status::Ok();
    if (!exists(status + ".ready") && !exists(wal_dir + "/" + name)) return Status::Ok();
    if (CancelRequested()) {
      return Error(ErrorCode::kCancelled,
                   "backup cancelled while waiting for WAL " + name + " to be archived");
    }
    if (timeout_seconds > 0 && std::chrono::steady_clock::now() >= deadline) {
      return Error(ErrorCode::kFailure,
                   fmt::format("WAL file {} that the backup needs was not archived within {} s; "
                               "nothing was committed: check archive_command (the server's log "
                               "says why it fails) or raise --archive-timeout",
                               name, timeout_seconds));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

nlohmann::json CountersJson(const PgBackupCounters& c, double seconds) {
  return {{"files", c.files},
          {"files_new", c.files_read},
          {"files_changed", 0},
          {"files_unmodified", c.files_unmodified},
          {"dirs", c.dirs},
          {"bytes_total", c.bytes_total},
          {"bytes_read", c.bytes_read},
          {"bytes_added", c.bytes_added},
          {"bytes_stored", c.bytes_stored},
          {"blobs_new", c.blobs_new},
          {"pages_verified", c.pages_verified},
          {"duration_seconds", seconds}};
}

}  // namespace

Result<PgBackupResult> BackupPostgres(repo::Repository& repo, const PgBackupOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  if (options.block_size == 0 || options.block_size % kPageSize != 0 ||
      options.block_size > (4u << 20)) {
    return Error(ErrorCode::kUsage, "the block size must be a multiple of 8 KiB up to 4 MiB");
  }
  PgBackupOptions opts = options;
  ClusterInfo cluster;
  std::optional<ReplicationSession> session;
  std::string where;  // the cluster, for messages
  if (opts.remote) {
    BW_ASSIGN_OR_RETURN(ReplicationSession rs, ReplicationSession::Connect(opts.conninfo));
    BW_ASSIGN_OR_RETURN(RemoteCluster rc, rs.Inspect());
    session.emplace(std::move(rs));
    cluster = std::move(rc.cluster);
    opts.pgdata = rc.data_directory;  // as the server names it; "" when the role may not see it
    where = "the server at --db";
  } else {
    BW_ASSIGN_OR_RETURN(opts.pgdata, files::AbsolutePath(options.pgdata));
    BW_ASSIGN_OR_RETURN(cluster, InspectCluster(opts.pgdata, opts.conninfo));
    where = "the cluster at " + opts.pgdata;
  }

  // The component's history: the parent, and the cluster identity it must keep.
  BW_ASSIGN_OR_RETURN(auto all, repo::LoadAllSnapshots(repo));
  std::optional<repo::Snapshot> parent;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->component != opts.component || it->kind != kSnapshotKind) continue;
    std::string sysid = it->source.value("system_identifier", "");
    if (!sysid.empty() && sysid != cluster.system_identifier) {
      return Error(
          ErrorCode::kUsage,
          fmt::format("{} (system identifier {}) is not the cluster component '{}' was "
                      "backed up from (system identifier {} in snapshot {}); use another "
                      "component name for another cluster",
                      where, cluster.system_identifier, opts.component, sysid, it->id.ShortHex()));
    }
    if (!parent) parent = *it;
  }

  BW_ASSIGN_OR_RETURN(auto lock, repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "backup"));

  PgBackupResult result;
  result.type = opts.type;
  std::optional<Tree> parent_root;
  int64_t parent_start_ns = 0;
  if (parent) {
    auto t = files::LoadTree(repo, parent->tree);
    if (t.ok()) parent_root = std::move(*t);
    parent_start_ns = parent->source.value("backup_start_unix_ns", int64_t{0});
  }
  if (!parent_root || opts.type == BackupType::kFull) {
    result.type = BackupType::kFull;
    parent_start_ns = 0;
  }

  const int64_t start_ns = NowNs();
  const std::string label = BackupLabel(opts, start_ns);
  repo::BlobWriter writer(repo, opts.writer);
  Id root;
  Lsn start_lsn = 0;
  Lsn stop_lsn = 0;
  std::string labelfile;
  std::string spcmap;
  if (opts.remote) {
    // Every file comes through the stream: nothing can be reused from the parent without
    // reading it, but unchanged blocks are already in the repository and not stored again.
    PgBackup backup(repo, writer, opts, cluster, 0, 0);
    auto outcome = session->BaseBackup(label, backup, [&](Lsn lsn, uint64_t estimate) {
      backup.set_start_lsn(lsn);
      if (opts.progress != nullptr) {
        opts.progress->bytes_total.store(estimate);
        opts.progress->totals_final.store(true);
      }
    });
    if (!outcome.ok()) return outcome.error().Wrap("remote backup");
    BW_ASSIGN_OR_RETURN(root, backup.FinishStream());
    start_lsn = outcome->start_lsn;
    stop_lsn = outcome->end_lsn;
    labelfile = backup.received_label();
    spcmap = backup.received_tablespace_map();
    result.counters = backup.counters();
    result.corrupt_pages = backup.TakeCorrupt();
    result.errors = backup.TakeErrors();
    if (labelfile.empty()) {
      return Error(ErrorCode::kFailure, "BASE_BACKUP sent no backup_label");
    }
    // The server verified checksums too (re-reading pages torn by concurrent writes); what it
    // found and this backup did not is reported as it said it.
    if (outcome->server_checksum_failure && result.corrupt_pages.empty()) {
      for (const auto& w : outcome->server_warnings) result.errors.push_back("server: " + w);
      if (result.errors.empty()) {
        result.errors.push_back("server: checksum verification failure during base backup");
      }
    }
  } else {
    PgConnection& conn = *cluster.connection;
    auto started_rows = conn.Query("SELECT pg_backup_start($1, true)::text", {label});
    if (!started_rows.ok()) return started_rows.error().Wrap("starting the backup");
    BW_ASSIGN_OR_RETURN(start_lsn, ParseLsn(started_rows->At(0, 0)));
    {
      PgBackup backup(repo, writer, opts, cluster, start_lsn, parent_start_ns);
      // Failing here ends the session without pg_backup_stop, which aborts the backup on the
      // server side.
      BW_ASSIGN_OR_RETURN(
          root, backup.Run(result.type == BackupType::kIncremental && parent_root ? &*parent_root
                                                                                  : nullptr));
      result.counters = backup.counters();
      result.corrupt_pages = backup.TakeCorrupt();
      result.errors = backup.TakeErrors();
    }
    // Without waiting for the archive: the server would check it once a second, and that
    // second is a fifth of a 1 GB backup. WaitForArchived checks the same status files.
    auto stopped = conn.Query("SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)");
    if (!stopped.ok()) return stopped.error().Wrap("finishing the backup (pg_backup_stop)");
    BW_ASSIGN_OR_RETURN(stop_lsn, ParseLsn(stopped->At(0, 0)));
    labelfile = stopped->At(0, 1);
    spcmap = stopped->At(0, 2);
    const uint64_t seg_size = cluster.wal_segment_size;
    if (seg_size == 0 || stop_lsn == 0) return Error(ErrorCode::kFailure, "bad stop position");
    BW_RETURN_IF_ERROR(WaitForArchived(
        opts.pgdata, WalFileName(LabelTimeline(labelfile), (stop_lsn - 1) / seg_size, seg_size),
        opts.archive_timeout_seconds));
  }
  const int64_t stop_ns = NowNs();
  const uint32_t timeline = LabelTimeline(labelfile);
  if (timeline == 0) return Error(ErrorCode::kFailure, "the backup label names no timeline");

  repo::Snapshot& s = result.snapshot;
  s.time_unix_ns = start_ns;
  s.hostname = opts.hostname.empty() ? HostName() : opts.hostname;
  s.username = UserName(::geteuid());
  s.component = opts.component;
  s.kind = kSnapshotKind;
  s.tags = opts.tags;
  if (!opts.pgdata.empty()) s.paths = {opts.pgdata};
  if (parent) s.parent = parent->id;
  s.tree = root;
  s.program_version = BULWARK_VERSION;
  const uint64_t seg = cluster.wal_segment_size;
  nlohmann::json corrupt = nlohmann::json::array();
  for (const auto& c : result.corrupt_pages) {
    corrupt.push_back({{"file", c.file},
                       {"block", c.block},
                       {"expected_checksum", c.expected},
                       {"found_checksum", c.found}});
    s.errors.push_back(
        fmt::format("{}: block {}: page checksum mismatch (calculated {:#06x}, "
                    "page has {:#06x})",
                    c.file, c.block, c.expected, c.found));
  }
  for (const auto& e : result.errors) s.errors.push_back(e);
  s.source = {
      {"pgdata", opts.pgdata},
      {"backup_type", result.type == BackupType::kFull ? "full" : "incr"},
      {"system_identifier", cluster.system_identifier},
      {"server_version", cluster.server_version},
      {"server_version_num", cluster.server_version_num},
      {"timeline", timeline},
      {"start_lsn", FormatLsn(start_lsn)},
      {"stop_lsn", FormatLsn(stop_lsn)},
      {"wal_segment_size", seg},
      {"wal_start", WalFileName(timeline, SegmentOf(start_lsn, seg), seg)},
      {"wal_stop", WalFileName(timeline, SegmentBefore(stop_lsn, seg), seg)},
      {"backup_label", labelfile},
      {"tablespace_map", spcmap},
      {"backup_start_unix_ns", start_ns},
      {"backup_stop_unix_ns", stop_ns},
      {"backup_stop_time", repo::FormatTimeRfc3339(stop_ns)},
      {"data_checksums", cluster.data_checksums},
      {"block_size", opts.block_size},
      {"pages_verified", result.counters.pages_verified},
      {"corrupt_pages", corrupt},
  };
  if (opts.remote) s.source["remote"] = true;

  if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
  BW_RETURN_IF_ERROR(writer.Flush());
  result.counters.bytes_stored = writer.stats().bytes_new_stored;
  if (!lock->StillValid()) {
    return Error(ErrorCode::kLocked,
                 "the repository lock could not be refreshed; snapshot not written (run the "
                 "backup again)");
  }
  result.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  s.summary = CountersJson(result.counters, result.duration_seconds);
  BW_ASSIGN_OR_RETURN(s.id, repo::SaveSnapshot(repo, s));
  return result;
}

}  // namespace bulwark::sources::postgres

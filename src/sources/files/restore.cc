#include "sources/files/restore.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/cancel.h"
#include "core/thread_pool.h"
#include "repo/tree.h"
#include "repo/tree_reader.h"
#include "sources/files/background_sync.h"
#include "sources/files/fs_util.h"
#include "sources/files/list.h"

namespace bulwark::sources::files {

namespace {

using repo::Node;
using repo::NodeType;

// A batch is planned and executed as a unit (packs fetched, files written and renamed); the
// walker plans the next batch while the workers execute the last one, and at most two are
// held at a time. The limits bound the memory that takes however many files the snapshot
// holds, and keep the first batch small so the workers start early.
constexpr size_t kBatchBlobUses = 16 * 1024;
constexpr size_t kBatchFiles = 16 * 1024;
// Nearby blobs of one pack are fetched in one range read when the gap between them is small;
// a range never exceeds kMaxRange, which with the worker count bounds fetch memory.
constexpr uint64_t kMaxRange = 8u << 20;
constexpr uint64_t kMaxGap = 256u << 10;
constexpr size_t kFilesPerCreateTask = 128;

// The target's file system is synced in the background each time this much more was written.
// That thread is also what starts writeback: workers that start it themselves (per-file
// sync_file_range) block in the block layer's writeback throttling instead of decoding. The
// final sync waits for at most this much: 64 MiB restored 1.4 GiB 4% faster than 128 MiB (and
// as fast as 32 MiB).
constexpr uint64_t kBackgroundSyncBytes = 64u << 20;

// One regular file being restored in the current batch.

struct FileTask {
  std::string path;       // final path under the target
  std::string temp_path;  // where it is written until complete
  std::string snap_path;  // for messages
  Node meta;              // content cleared
  uint64_t size = 0;
  std::atomic<int64_t> remaining{0};  // blob writes still to do
  std::atomic<bool> damaged{false};
  std::atomic<bool> failed{false};  // could not be written (already reported)
  UniqueFd fd;  // open from the first write to Finalize, when a descriptor slot was free
  bool created = false;
  bool ok = false;  // renamed into place
  std::mutex mu;
  std::string damage;  // first damage reason
};

// One place a blob's plaintext goes.
struct BlobUse {
  uint32_t offset;
  uint32_t length;
  uint32_t raw_length;
  Id id;
  FileTask* file;
  uint64_t file_offset;
};

struct LinkKey {
  uint64_t device;
  uint64_t inode;
  auto operator<=>(const LinkKey&) const = default;
};

// First restored path of a hard-linked inode.
struct Primary {
  std::string path;
  enum State { kPending, kOk, kFailed } state = kPending;
};

struct PendingLink {
  std::string path;
  std::string snap_path;
  LinkKey key;
};

// A directory on the path from the restore root to the current node, created lazily (with an
// include filter, only directories leading to included nodes are created).
struct ChainDir {
  std::string path;
  Node meta;
  bool created = false;
  bool failed = false;
};

// Files planned together, executed by the pool while the next batch is planned.
struct Batch {
  std::vector<std::unique_ptr<FileTask>> files;
  std::vector<FileTask*> empty_files;       // of `files`, with no data
  std::map<Id, std::vector<BlobUse>> plan;  // per pack, the places its blobs go
  std::map<FileTask*, LinkKey> link_tasks;  // files of this batch that others link to
  std::vector<PendingLink> links;           // links to make once this batch is done
  size_t uses = 0;
  std::atomic<size_t> tasks_left{0};
};

class Restorer {
 public:
  Restorer(repo::Repository& repo, const repo::Snapshot& snapshot,
           const FilesRestoreOptions& options)
      : repo_(repo),
        snapshot_(snapshot),
        options_(options),
        progress_(options.progress),
        is_root_(::geteuid() == 0),
        workers_(options.workers > 0 ? options.workers
                                     : std::max(4, 2 * ThreadPool::DefaultThreads())),
        pool_(workers_, static_cast<size_t>(workers_) * 2) {}

  Result<FilesRestoreResult> Run() {
    if (options_.target.empty()) return Error(ErrorCode::kUsage, "no restore target given");
    BW_RETURN_IF_ERROR(MakeDirs(options_.target));
    background_sync_.emplace(options_.target, kBackgroundSyncBytes);
    BW_ASSIGN_OR_RETURN(auto parts, SplitSnapshotPath(options_.subpath));
    std::string snap_root = "/";
    for (const auto& p : parts) snap_root = JoinPath(snap_root, p);
    BW_ASSIGN_OR_RETURN(Node start, FindNode(repo_, snapshot_, snap_root));

    std::vector<ChainDir> chain;
    Status walked;
    if (start.type == NodeType::kDir) {
      bool included = Unfiltered() || (!parts.empty() && Selected(start.name, snap_root));
      walked = Walk(start.subtree, snap_root, options_.target, included, chain);
    } else if (Unfiltered() || Selected(start.name, snap_root)) {
      walked = RestoreNode(start, snap_root, JoinPath(options_.target, start.name));
    }
    if (walked.ok()) walked = FlushBatch();
    if (walked.ok()) walked = RetireBatches(0);
    if (!walked.ok()) {
      AbandonBatches();
      return walked.error();
    }
    // Directory metadata last and deepest first (reverse creation order), so creating
    // entries inside them no longer changes their times and read-only modes do not get in
    // the way.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) SetMetadata(it->first, it->second);
    if (progress_ != nullptr) progress_->totals_final.store(true);

    background_sync_.reset();
    UniqueFd fd(::open(options_.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid() || ::syncfs(fd.get()) != 0) {
      return ErrnoError("syncing restored data in " + options_.target, errno);
    }
    std::sort(result_.damaged.begin(), result_.damaged.end());
    std::sort(result_.errors.begin(), result_.errors.end());
    return std::move(result_);
  }

 private:
  // Half the descriptor limit (the rest stays for packs, sockets and the other commands'
  // needs), at most 4096.
  static int MaxOpenFiles() {
    struct rlimit lim;
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 4096;
    return static_cast<int>(std::min<rlim_t>(lim.rlim_cur / 2, 4096));
  }

  bool Stopped() const { return stop_.load(std::memory_order_relaxed) || CancelRequested(); }

  void Fail(Error e) {
    std::lock_guard lock(mu_);
    if (!fatal_) fatal_ = std::move(e);
    stop_.store(true);
  }

  Status StopStatus() {
    std::lock_guard lock(mu_);
    if (fatal_) return *fatal_;
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "restore cancelled");
    return Status::Ok();
  }

  void RecordError(const std::string& path, const std::string& reason) {
    if (progress_ != nullptr) progress_->errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    result_.errors.push_back(path + ": " + reason);
  }

  void RecordDamage(const std::string& path, const std::string& reason) {
    if (progress_ != nullptr) progress_->errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    result_.damaged.push_back(path + ": " + reason);
  }

  static Status MakeDirs(const std::string& path) {
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      partial = path.substr(0, pos);
      if (partial.empty()) continue;
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("creating " + partial, errno);
      }
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError("restore target " + path, errno);
    if (!S_ISDIR(st.st_mode)) return Error(ErrorCode::kUsage, path + " is not a directory");
    return Status::Ok();
  }

  // Removes a non-directory at `path` so a node of another kind can be created there.
  static void ClearPath(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) ::unlink(path.c_str());
  }

  // Owner (as root, by numeric ID), mode (not for symlinks), then times, without following
  // symlinks. With fd >= 0 the file is addressed by its descriptor.
  void SetMetadata(const std::string& path, const Node& meta, int fd = -1) {
    const bool symlink = meta.type == NodeType::kSymlink;
    if (is_root_) {
      int rc =
          fd >= 0 ? ::fchown(fd, meta.uid, meta.gid) : ::lchown(path.c_str(), meta.uid, meta.gid);
      if (rc != 0) RecordError(path, std::string("chown: ") + std::strerror(errno));
    }
    if (!symlink) {
      int rc = fd >= 0 ? ::fchmod(fd, meta.mode) : ::chmod(path.c_str(), meta.mode);
      if (rc != 0) RecordError(path, std::string("chmod: ") + std::strerror(errno));
    }
    struct timespec times[2] = {NsTimespec(meta.atime_ns), NsTimespec(meta.mtime_ns)};
    int rc = fd >= 0 ? ::futimens(fd, times)
                     : ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) RecordError(path, std::string("setting times: ") + std::strerror(errno));
  }

  // Creates every directory of the chain not created yet; false if one cannot be.
  bool EnsureChain(std::vector<ChainDir>& chain) {
    for (auto& d : chain) {
      if (d.failed) return false;
      if (d.created) continue;
      if (::mkdir(d.path.c_str(), 0700) != 0) {
        int err = errno;
        struct stat st;
        if (err == EEXIST && ::lstat(d.path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
          ::unlink(d.path.c_str());
          err = ::mkdir(d.path.c_str(), 0700) == 0 ? 0 : errno;
        } else if (err == EEXIST) {
          err = 0;
        }
        if (err != 0) {
          if (err == ENOSPC || err == EDQUOT) Fail(ErrnoError("creating " + d.path, err));
          RecordError(d.path, std::strerror(err));
          d.failed = true;
          return false;
        }
      }
      d.created = true;
      ++result_.dirs;
      dirs_.emplace_back(d.path, d.meta);
    }
    return true;
  }

  bool Unfiltered() const { return options_.includes.empty() && options_.paths.empty(); }
  bool Selected(const std::string& name, const std::string& snap_path) const {
    return options_.paths.count(snap_path) != 0 ||
           (!options_.includes.empty() && MatchesAny(options_.includes, name, snap_path));
  }

  Status Walk(const Id& tree_id, const std::string& snap_dir, const std::string& target_dir,
              bool included, std::vector<ChainDir>& chain) {
    auto tree = trees_.Load(tree_id);
    if (!tree.ok()) {
      if (tree.error().code() == ErrorCode::kNotFound ||
          tree.error().code() == ErrorCode::kIntegrity) {
        RecordDamage(snap_dir, "directory listing lost: " + tree.error().message());
        return Status::Ok();
      }
      return tree.error();
    }
    for (auto& node : tree->nodes) {
      if (Stopped()) return StopStatus();
      const std::string snap_path = JoinPath(snap_dir, node.name);
      const std::string path = JoinPath(target_dir, node.name);
      const bool inc = included || Unfiltered() || Selected(node.name, snap_path);
      if (node.type == NodeType::kDir) {
        ChainDir d{path, node, false, false};
        d.meta.content.clear();
        chain.push_back(std::move(d));
        if (inc) EnsureChain(chain);
        if (!chain.back().failed) {
          BW_RETURN_IF_ERROR(Walk(node.subtree, snap_path, path, inc, chain));
        }
        chain.pop_back();
      } else if (inc) {
        if (!EnsureChain(chain)) continue;
        BW_RETURN_IF_ERROR(RestoreNode(node, snap_path, path));
      }
    }
    return Status::Ok();
  }

  Status RestoreNode(Node& node, const std::string& snap_path, const std::string& path) {
    switch (node.type) {
      case NodeType::kFile:
        return PlanFile(node, snap_path, path);
      case NodeType::kDir:
        return Status::Ok();  // handled by Walk
      case NodeType::kSymlink:
        ClearPath(path);
        if (::symlink(node.link_target.c_str(), path.c_str()) != 0) {
          RecordError(path, std::string("creating symlink: ") + std::strerror(errno));
          return Status::Ok();
        }
        break;
      default: {
        mode_t type = node.type == NodeType::kFifo       ? S_IFIFO
                      : node.type == NodeType::kCharDev  ? S_IFCHR
                      : node.type == NodeType::kBlockDev ? S_IFBLK
                                                         : S_IFSOCK;
        ClearPath(path);
        if (::mknod(path.c_str(), type | 0600, static_cast<dev_t>(node.rdev)) != 0) {
          RecordError(path, std::string("creating special file: ") + std::strerror(errno));
          return Status::Ok();
        }
        break;
      }
    }
    SetMetadata(path, node);
    ++result_.others;
    return Status::Ok();
  }

  Status PlanFile(Node& node, const std::string& snap_path, const std::string& path) {
    std::optional<LinkKey> key;
    if (node.links > 1) {
      key = LinkKey{node.device, node.inode};
      auto it = primaries_.find(*key);
      if (it != primaries_.end()) {
        current_->links.push_back({path, snap_path, *key});
        return Status::Ok();
      }
    }
    auto task = std::make_unique<FileTask>();
    task->path = path;
    task->snap_path = snap_path;
    // Temporary names are short so they fit next to a 255-byte name's directory entry.
    size_t slash = path.rfind('/');
    task->temp_path = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                      ".bulwark-" + std::to_string(pid_) + "-" + std::to_string(temp_counter_++) +
                      ".tmp";
    uint64_t offset = 0;
    std::vector<std::pair<Id, BlobUse>>& uses = plan_scratch_;
    uses.clear();
    uses.reserve(node.content.size());
    for (const Id& id : node.content) {
      auto loc = repo_.index().Find(repo::BlobType::kData, id);
      if (!loc) {
        RecordDamage(snap_path, "data missing from the repository (blob " + id.ShortHex() +
                                    " is in no index)");
        if (key) primaries_[*key] = Primary{path, Primary::kFailed};
        return Status::Ok();
      }
      uses.emplace_back(loc->pack,
                        BlobUse{loc->offset, loc->length, loc->raw_length, id, task.get(), offset});
      offset += loc->raw_length;
    }
    node.content.clear();
    task->meta = std::move(node);
    task->size = offset;
    task->remaining.store(static_cast<int64_t>(uses.size()));
    if (key) {
      primaries_[*key] = Primary{path, Primary::kPending};
      current_->link_tasks[task.get()] = *key;
    }
    // Consecutive blocks of a file mostly share a pack: look the pack up once per run of them.
    std::vector<BlobUse>* pack_uses = nullptr;
    const Id* pack_id = nullptr;
    for (const auto& [pack, use] : uses) {
      if (pack_id == nullptr || pack != *pack_id) {
        pack_uses = &current_->plan[pack];
        pack_id = &pack;
      }
      pack_uses->push_back(use);
    }
    current_->uses += uses.size();
    if (progress_ != nullptr) {
      progress_->files_total.fetch_add(1, std::memory_order_relaxed);
      progress_->bytes_total.fetch_add(offset, std::memory_order_relaxed);
    }
    current_->files.push_back(std::move(task));
    if (current_->uses >= kBatchBlobUses || current_->files.size() >= kBatchFiles) {
      return FlushBatch();
    }
    return Status::Ok();
  }

  // --- batch execution (worker threads) ---

  void FailFile(FileTask& f, const Error& e) {
    if (e.code() == ErrorCode::kNoSpace) Fail(e);
    if (!f.failed.exchange(true)) RecordError(f.path, e.message());
  }

  // Opens the file's temporary for writing, creating it on first use: files are created only
  // once their first data has been decoded, so a file whose data is all damaged never exists.
  // Sparse files get their full size at once so skipped zero chunks read back as holes.
  // On failure the file is marked failed and the fd is invalid. The caller holds f.mu.
  UniqueFd OpenTempLocked(FileTask& f) {
    if (f.created) {
      UniqueFd fd(::open(f.temp_path.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd.valid()) FailFile(f, ErrnoError("opening " + f.temp_path, errno));
      return fd;
    }
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
    UniqueFd fd(::open(f.temp_path.c_str(), flags, 0600));
    if (!fd.valid() && errno == EEXIST) {
      ::unlink(f.temp_path.c_str());  // left over by an interrupted restore with our pid
      fd.Reset(::open(f.temp_path.c_str(), flags, 0600));
    }
    if (!fd.valid()) {
      FailFile(f, ErrnoError("creating " + f.path, errno));
      return fd;
    }
    f.created = true;
    if (f.meta.sparse && ::ftruncate(fd.get(), static_cast<off_t>(f.size)) != 0) {
      FailFile(f, ErrnoError("sizing " + f.path, errno));
      fd.Reset();
    }
    return fd;
  }

  // The descriptor to write `f` with. The file keeps it open until Finalize, so a file of
  // thousands of 16 KiB blocks is opened once, not once per block; when max_open_fds_ files
  // are open already, `scratch` gets a descriptor for this one write. -1 if the file failed.
  int WriteFd(FileTask& f, UniqueFd& scratch) {
    std::lock_guard lock(f.mu);
    if (f.fd.valid()) return f.fd.get();
    UniqueFd fd = OpenTempLocked(f);
    if (!fd.valid()) return -1;
    if (open_fds_.fetch_add(1, std::memory_order_relaxed) < max_open_fds_) {
      f.fd = std::move(fd);
      return f.fd.get();
    }
    open_fds_.fetch_sub(1, std::memory_order_relaxed);
    scratch = std::move(fd);
    return scratch.get();
  }

  // After the last write: the file's own descriptor (opened now if it had none).
  UniqueFd FinalFd(FileTask& f) {
    std::lock_guard lock(f.mu);
    if (f.fd.valid()) {
      open_fds_.fetch_sub(1, std::memory_order_relaxed);
      return std::move(f.fd);
    }
    return OpenTempLocked(f);  // all chunks were holes, an empty file, or no slot was free
  }

  void MarkDamaged(FileTask& f, const std::string& reason) {
    std::lock_guard lock(f.mu);
    if (!f.damaged.exchange(true)) f.damage = reason;
  }

  // `uses` blob writes of `f` are over (written, or given up).
  void Done(FileTask& f, int64_t uses = 1) {
    if (uses > 0 && f.remaining.fetch_sub(uses, std::memory_order_acq_rel) == uses) Finalize(f);
  }

  // Last write of a file: apply metadata and rename it into place, or drop it.
  void Finalize(FileTask& f) {
    if (f.damaged.load() || f.failed.load() || Stopped()) {
      if (f.fd.valid()) FinalFd(f).Reset();
      if (f.created) ::unlink(f.temp_path.c_str());
      if (f.damaged.load()) {
        std::lock_guard lock(f.mu);
        RecordDamage(f.snap_path, f.damage);
      }
      return;
    }
    UniqueFd fd = FinalFd(f);
    if (!fd.valid()) {
      if (f.created) ::unlink(f.temp_path.c_str());
      return;
    }
    SetMetadata(f.path, f.meta, fd.get());
    fd.Reset();
    if (::rename(f.temp_path.c_str(), f.path.c_str()) != 0) {
      RecordError(f.path, std::string("renaming into place: ") + std::strerror(errno));
      ::unlink(f.temp_path.c_str());
      return;
    }
    f.ok = true;
    files_done_.fetch_add(1, std::memory_order_relaxed);
    if (progress_ != nullptr) progress_->files_done.fetch_add(1, std::memory_order_relaxed);
  }

  // For files that were sparse: a chunk can straddle data and a hole, so only the runs of
  // file-system blocks that hold a non-zero byte are written; zero blocks stay holes.
  static Status WriteSkippingZeroBlocks(int fd, ByteView data, uint64_t file_offset,
                                        const std::string& what) {
    constexpr uint64_t kBlock = 4096;
    size_t pos = 0;
    while (pos < data.size()) {
      // Block boundaries are aligned to the file, not to the chunk.
      size_t step = static_cast<size_t>(
          std::min<uint64_t>(kBlock - (file_offset + pos) % kBlock, data.size() - pos));
      if (IsAllZero(data.subspan(pos, step))) {
        pos += step;
        continue;
      }
      size_t end = pos + step;
      while (end < data.size()) {
        size_t next = std::min<size_t>(kBlock, data.size() - end);
        if (IsAllZero(data.subspan(end, next))) break;
        end += next;
      }
      BW_RETURN_IF_ERROR(WriteAll(fd, data.subspan(pos, end - pos),
                                  static_cast<int64_t>(file_offset + pos), what));
      pos = end;
    }
    return Status::Ok();
  }

  bool Writable(const FileTask& f) const {
    return !f.failed.load() && !f.damaged.load() && !Stopped();
  }

  // Writes `data` at `offset` of `f`, unless the file failed, is damaged or the restore
  // stopped. Files that were sparse keep their all-zero blocks as holes (the file was
  // truncated to its full size, so they read back as zeros).
  void WriteData(FileTask& f, ByteView data, uint64_t offset) {
    if (!Writable(f)) return;
    if (!(f.meta.sparse && IsAllZero(data))) {
      UniqueFd scratch;
      const int fd = WriteFd(f, scratch);
      if (fd < 0) return;
      Status s = f.meta.sparse
                     ? WriteSkippingZeroBlocks(fd, data, offset, "writing " + f.path)
                     : WriteAll(fd, data, static_cast<int64_t>(offset), "writing " + f.path);
      if (!s.ok()) {
        FailFile(f, s.error());
        return;
      }
    }
    background_sync_->Add(data.size());
    bytes_written_.fetch_add(data.size(), std::memory_order_relaxed);
    if (progress_ != nullptr)
      progress_->bytes_done.fetch_add(data.size(), std::memory_order_relaxed);
  }

  void WriteUse(const BlobUse& use, ByteView plain) {
    WriteData(*use.file, plain, use.file_offset);
    Done(*use.file);
  }

  static std::string DamageReason(const Id& pack, const Error& e) {
    if (e.code() == ErrorCode::kNotFound)
      return "data missing (pack " + pack.ShortHex() + " not found)";
    return "damaged data in pack " + pack.ShortHex();
  }

  // A blob that could not be had: its places are damaged, unless storage failed (I/O,
  // network), which fails the whole restore.
  void LoseBlob(const Id& pack, const BlobUse* begin, const BlobUse* end, const Error& e) {
    if (e.code() != ErrorCode::kIntegrity && e.code() != ErrorCode::kNotFound) {
      Fail(e.Wrap("reading pack " + pack.ShortHex()));
    }
    for (const BlobUse* u = begin; u != end; ++u) {
      MarkDamaged(*u->file, DamageReason(pack, e));
      Done(*u->file);
    }
  }

  // Adjacent blobs of one file (not a sparse one), decoded side by side into one buffer and
  // written with one call: the kernel spends far more on thousands of 16 KiB writes than on a
  // few large ones. The blobs' Done waits for the write.
  struct WriteRun {
    FileTask* file = nullptr;
    uint64_t offset = 0;  // in the file
    size_t size = 0;      // bytes decoded so far
    int64_t uses = 0;
  };
  static constexpr size_t kMaxRunBytes = 1u << 20;

  void FlushRun(WriteRun& run, ByteView buffer) {
    if (run.file == nullptr) return;
    if (run.size > 0) WriteData(*run.file, buffer.first(run.size), run.offset);
    Done(*run.file, run.uses);
    run = WriteRun{};
  }

  // Fetches one range of a pack and writes every blob in it to all its places.
  void RunRange(const Id& pack, const BlobUse* begin, const BlobUse* end) {
    if (Stopped()) {
      for (const BlobUse* u = begin; u != end; ++u) Done(*u->file);
      return;
    }
    const std::string key = repo::PackKey(pack);
    uint64_t start = begin->offset;
    uint64_t stop = 0;
    for (const BlobUse* u = begin; u != end; ++u) {
      stop = std::max<uint64_t>(stop, uint64_t{u->offset} + u->length);
    }
    // Each worker keeps its read, decode and write buffers for the whole restore.
    static thread_local Bytes range_buffer;
    static thread_local Bytes run_buffer;
    static thread_local std::vector<const BlobUse*> order;
    static thread_local repo::DecodeBuffers decode_buffers;
    auto range = repo_.backend().GetRangeInto(key, start, stop - start, range_buffer);
    if (!range.ok()) {
      RunRangeBlobByBlob(pack, begin, end);
      return;
    }
    if (run_buffer.size() < kMaxRunBytes) run_buffer.resize(kMaxRunBytes);
    // In file order: several files' blocks share a pack (parallel readers), and the blocks of
    // one file that this range holds then decode into one buffer and go out in one write.
    order.clear();
    for (const BlobUse* u = begin; u != end; ++u) order.push_back(u);
    std::sort(order.begin(), order.end(), [](const BlobUse* a, const BlobUse* b) {
      return a->file != b->file ? std::less<const FileTask*>()(a->file, b->file)
                                : a->file_offset < b->file_offset;
    });
    WriteRun run;
    for (const BlobUse* u : order) {
      ByteView sealed = range->subspan(u->offset - start, u->length);
      if (u->file->meta.sparse || u->raw_length > kMaxRunBytes) {
        auto plain = repo_.DecodeBlobInto(repo::BlobType::kData, u->id, sealed, u->raw_length,
                                          decode_buffers, blob_check_);
        if (plain.ok()) {
          WriteUse(*u, *plain);
        } else {
          LoseBlob(pack, u, u + 1, plain.error());
        }
        continue;
      }
      if (run.file != u->file || run.offset + run.size != u->file_offset ||
          run.size + u->raw_length > kMaxRunBytes) {
        FlushRun(run, run_buffer);
        run.file = u->file;
        run.offset = u->file_offset;
      }
      MutableByteView dest(run_buffer.data() + run.size, u->raw_length);
      Status decoded = repo_.DecodeBlobTo(repo::BlobType::kData, u->id, sealed, dest,
                                          decode_buffers, blob_check_);
      if (decoded.ok()) {
        run.size += dest.size();
        ++run.uses;
      } else {
        LoseBlob(pack, u, u + 1, decoded.error());
      }
    }
    FlushRun(run, run_buffer);
  }

  // When a range as a whole cannot be read (e.g. a truncated pack): each blob on its own, so
  // only the blobs that are really lost are reported.
  void RunRangeBlobByBlob(const Id& pack, const BlobUse* begin, const BlobUse* end) {
    const std::string key = repo::PackKey(pack);
    static thread_local Bytes single_buffer;
    static thread_local repo::DecodeBuffers decode_buffers;
    for (const BlobUse* g = begin; g != end;) {
      const BlobUse* gend = g;
      while (gend != end && gend->offset == g->offset && gend->id == g->id) ++gend;
      auto one = repo_.backend().GetRangeInto(key, g->offset, g->length, single_buffer);
      auto plain = one.ok() ? repo_.DecodeBlobInto(repo::BlobType::kData, g->id, *one,
                                                   g->raw_length, decode_buffers, blob_check_)
                            : Result<ByteView>(one.error());
      if (!plain.ok()) {
        LoseBlob(pack, g, gend, plain.error());
      } else {
        for (const BlobUse* u = g; u != gend; ++u) WriteUse(*u, *plain);
      }
      g = gend;
    }
  }

  // Starts executing the current batch and begins a new one; retires the batches that are
  // done, waiting for the older one if two are running.
  Status FlushBatch() {
    Batch& batch = *current_;
    if (batch.files.empty() && batch.links.empty()) return StopStatus();
    // The tasks: empty files (no data to wait for) in groups, then per pack the ranges of
    // nearby blobs. Counted before the first is submitted, so the batch cannot look done early.
    std::vector<std::function<void()>> tasks;
    std::vector<FileTask*>& empty = batch.empty_files;
    for (auto& f : batch.files) {
      if (f->remaining.load() == 0) empty.push_back(f.get());
    }
    for (size_t i = 0; i < empty.size(); i += kFilesPerCreateTask) {
      size_t j = std::min(empty.size(), i + kFilesPerCreateTask);
      tasks.push_back([this, &empty, i, j] {
        for (size_t k = i; k < j; ++k) Finalize(*empty[k]);
      });
    }
    for (auto& [pack, uses] : batch.plan) {
      std::sort(uses.begin(), uses.end(), [](const BlobUse& a, const BlobUse& b) {
        return a.offset != b.offset ? a.offset < b.offset : a.file_offset < b.file_offset;
      });
      size_t i = 0;
      while (i < uses.size()) {
        uint64_t range_start = uses[i].offset;
        uint64_t range_end = uint64_t{uses[i].offset} + uses[i].length;
        size_t j = i + 1;
        while (j < uses.size()) {
          uint64_t s = uses[j].offset;
          uint64_t e = std::max<uint64_t>(range_end, s + uses[j].length);
          if (s > range_end + kMaxGap || e - range_start > kMaxRange) break;
          range_end = e;
          ++j;
        }
        const Id p = pack;
        const BlobUse* b = uses.data() + i;
        const BlobUse* e = uses.data() + j;
        tasks.push_back([this, p, b, e] { RunRange(p, b, e); });
        // Storage starts on every range of the batch now, ahead of the workers (the tasks
        // are submitted below): reads that wait behind the restore's own writeback cost more
        // than the disk time they need.
        repo_.backend().Prefetch(repo::PackKey(pack), range_start, range_end - range_start);
        i = j;
      }
    }
    batch.tasks_left.store(tasks.size());
    running_.push_back(std::move(current_));
    current_ = std::make_unique<Batch>();
    for (auto& task : tasks) {
      pool_.Submit([this, &batch, task = std::move(task)] {
        task();
        TaskDone(batch);
      });
    }
    return RetireBatches(1);
  }

  void TaskDone(Batch& batch) {
    // Nothing of `batch` is touched once the count is zero: the walker may free it at once.
    if (batch.tasks_left.fetch_sub(1) != 1) return;
    std::lock_guard lock(batches_mu_);
    batches_cv_.notify_all();
  }

  // Retires running batches, oldest first, while more than `keep_running` are running or the
  // oldest is done: waits for it, makes its hard links (to files of it or of earlier
  // batches) and drops it.
  Status RetireBatches(size_t keep_running) {
    while (!running_.empty()) {
      Batch& batch = *running_.front();
      if (running_.size() <= keep_running && batch.tasks_left.load() != 0) break;
      {
        std::unique_lock lock(batches_mu_);
        batches_cv_.wait(lock, [&] { return batch.tasks_left.load() == 0; });
      }
      for (auto& [task, key] : batch.link_tasks) {
        primaries_[key].state = task->ok ? Primary::kOk : Primary::kFailed;
      }
      for (const auto& link : batch.links) {
        const Primary& p = primaries_[link.key];
        if (p.state != Primary::kOk) {
          RecordDamage(link.snap_path,
                       "hard link to a file that could not be restored (" + p.path + ")");
          continue;
        }
        ClearPath(link.path);
        if (::link(p.path.c_str(), link.path.c_str()) != 0) {
          RecordError(link.path, std::string("creating hard link: ") + std::strerror(errno));
          continue;
        }
        files_done_.fetch_add(1, std::memory_order_relaxed);
      }
      RemoveTemporaries(batch);
      running_.pop_front();
    }
    return StopStatus();
  }

  // Removes the temporary files of a batch's files that did not complete (cancel, error).
  static void RemoveTemporaries(const Batch& batch) {
    for (const auto& f : batch.files) {
      if (f->created && !f->ok && f->remaining.load() > 0) ::unlink(f->temp_path.c_str());
    }
  }

  // After a fatal error: lets every submitted task finish, then removes what is incomplete.
  void AbandonBatches() {
    pool_.Wait();
    for (const auto& batch : running_) RemoveTemporaries(*batch);
    running_.clear();
    current_ = std::make_unique<Batch>();
  }

  repo::Repository& repo_;
  repo::TreeReader trees_{repo_};
  const repo::Snapshot& snapshot_;
  const FilesRestoreOptions& options_;
  Progress* progress_;
  const bool is_root_;
  const int workers_;
  const repo::Repository::BlobCheck blob_check_ =
      options_.rehash ? repo::Repository::BlobCheck::kRehash : repo::Repository::BlobCheck::kTag;

  std::mutex mu_;
  FilesRestoreResult result_;
  std::optional<Error> fatal_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> files_done_{0};
  // Files holding a descriptor open between writes, and how many may.
  std::atomic<int> open_fds_{0};
  const int max_open_fds_ = MaxOpenFiles();

  // Walker state.
  std::vector<std::pair<std::string, Node>> dirs_;  // created directories, in creation order
  std::map<LinkKey, Primary> primaries_;
  uint64_t temp_counter_ = 0;
  const pid_t pid_ = ::getpid();

  // Batches: the one being planned, and those submitted to the pool, oldest first.
  std::unique_ptr<Batch> current_ = std::make_unique<Batch>();
  std::deque<std::unique_ptr<Batch>> running_;
  std::mutex batches_mu_;  // with batches_cv_: a batch's last task finished
  std::condition_variable batches_cv_;
  std::vector<std::pair<Id, BlobUse>> plan_scratch_;  // one file's uses, kept for its capacity

  std::optional<BackgroundSync> background_sync_;  // while files are written
  ThreadPool pool_;                                // last: joined first

 public:
  uint64_t bytes_written() const { return bytes_written_.load(); }
  uint64_t files_done() const { return files_done_.load(); }
};

}  // namespace

Result<FilesRestoreResult> RestoreSnapshot(repo::Repository& repo, const repo::Snapshot& snapshot,
                                           const FilesRestoreOptions& options) {
  Restorer restorer(repo, snapshot, options);
  auto r = restorer.Run();
  if (!r.ok()) return r.error();
  r->bytes_written = restorer.bytes_written();
  r->files = restorer.files_done();
  return r;
}

}  // namespace bulwark::sources::files

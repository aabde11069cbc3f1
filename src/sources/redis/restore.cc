#include "sources/redis/restore.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>

#include "repo/redis_stream_store.h"
#include "sources/files/list.h"
#include "sources/files/restore.h"
#include "sources/redis/backup.h"
#include "sources/redis/resp_stream.h"

namespace bulwark::sources::redis {

Result<RedisRestoreResult> RestoreRedis(repo::Repository& repo, const repo::Snapshot& snapshot,
                                        const RedisRestoreOptions& options) {
  if (snapshot.kind != kRedisSnapshotKind) {
    return Error(ErrorCode::kUsage, fmt::format("snapshot {} is of kind '{}', not a Redis snapshot",
                                                snapshot.id.ShortHex(), snapshot.kind));
  }
  if (options.target.empty()) return Error(ErrorCode::kUsage, "--target is required");
  RedisRestoreResult result;
  result.path = options.target + "/" + kRdbFileName;
  struct stat st;
  if (!options.force && ::lstat(result.path.c_str(), &st) == 0) {
    return Error(ErrorCode::kUsage,
                 result.path + " already exists; restore into an empty directory or use --force");
  }
  files::FilesRestoreOptions fopts;
  fopts.target = options.target;
  fopts.subpath = std::string("/") + kRdbFileName;
  fopts.progress = options.progress;
  BW_ASSIGN_OR_RETURN(auto res, files::RestoreSnapshot(repo, snapshot, fopts));
  if (!res.damaged.empty()) {
    return Error(ErrorCode::kIntegrity, "damaged repository data: " + res.damaged.front() +
                                            " (run `bulwark check --read-data`)");
  }
  if (!res.errors.empty()) return Error(ErrorCode::kFailure, res.errors.front());

  int fd = ::open(result.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening the restored " + result.path, errno);
  FdRdbSource source(fd);
  auto info = ParseRdb(source);
  ::close(fd);
  if (!info.ok()) {
    return Error(ErrorCode::kIntegrity,
                 "the restored " + result.path + " does not verify: " + info.error().message());
  }
  result.rdb = std::move(*info);
  return result;
}

}  // namespace bulwark::sources::redis

namespace bulwark::sources::redis {

namespace {

Status WriteAll(int fd, ByteView data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("writing " + path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// An output file written in full and fsynced, or removed.
class OutFile {
 public:
  static Result<OutFile> Create(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoError("creating " + path, errno);
    return OutFile(fd, path);
  }
  OutFile(OutFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  OutFile& operator=(OutFile&&) = delete;
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Write(ByteView data) { return WriteAll(fd_, data, path_); }
  Status Close() {
    if (::fsync(fd_) != 0) return ErrnoError("syncing " + path_, errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoError("closing " + path_, errno);
    return Status::Ok();
  }

 private:
  OutFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

Status CopyFile(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoError("opening " + from, errno);
  auto out = OutFile::Create(to);
  if (!out.ok()) {
    ::close(in);
    return out.error();
  }
  Bytes buf(1u << 20);
  while (true) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(in);
      return ErrnoError("reading " + from, e);
    }
    if (n == 0) break;
    if (Status st = out->Write(ByteView(buf.data(), static_cast<size_t>(n))); !st.ok()) {
      ::close(in);
      return st;
    }
  }
  ::close(in);
  return out->Close();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Error(ErrorCode::kFailure, "removing " + path + ": " + ec.message());
  return Status::Ok();
}

// The records of `snapshot` that continue its stream without a gap, from its offset on.
std::vector<const repo::RedisStreamRecord*> Chain(
    const std::vector<repo::RedisStreamRecord>& records, const repo::Snapshot& snapshot) {
  std::vector<const repo::RedisStreamRecord*> chain;
  uint64_t expected = snapshot.source.value("offset", uint64_t{0});
  for (const auto& r : records) {  // sorted by snapshot, then start offset
    if (r.snapshot != snapshot.id || r.start_offset != expected || r.batches.empty()) continue;
    chain.push_back(&r);
    expected = r.end_offset;
  }
  return chain;
}

}  // namespace

Result<RedisPitrPlan> PlanRedisPitr(repo::Repository& repo,
                                    const std::optional<repo::Snapshot>& base,
                                    const std::string& component_hint, int64_t t) {
  const std::string when = repo::FormatTimeRfc3339(t);
  if (base && base->kind != kRedisSnapshotKind) {
    return Error(ErrorCode::kUsage, fmt::format("snapshot {} is of kind '{}', not a Redis snapshot",
                                                base->id.ShortHex(), base->kind));
  }
  if (base && IsIncrementalRedisSnapshot(*base)) {
    return Error(ErrorCode::kUsage,
                 fmt::format("snapshot {} is incremental: --time starts from a full snapshot and "
                             "its captured stream (give its full snapshot {} or \"latest\", or "
                             "restore {} without --time)",
                             base->id.ShortHex(),
                             base->source.value("base_snapshot", std::string()).substr(0, 8),
                             base->id.ShortHex()));
  }
  BW_ASSIGN_OR_RETURN(auto all, repo::LoadAllSnapshots(repo));  // oldest first
  std::string component = base ? base->component : component_hint;
  if (component.empty()) {
    for (const auto& s : all) {
      if (s.kind == kRedisSnapshotKind) component = s.component;
    }
  }
  std::vector<repo::Snapshot> snaps;
  for (auto& s : all) {
    if (s.kind == kRedisSnapshotKind && s.component == component &&
        !IsIncrementalRedisSnapshot(s)) {
      snaps.push_back(std::move(s));
    }
  }
  if (snaps.empty()) {
    return Error(ErrorCode::kNotFound,
                 fmt::format("no Redis snapshot of component '{}' in the repository", component));
  }
  if (t < snaps.front().time_unix_ns) {
    return Error(ErrorCode::kUsage,
                 fmt::format("{} is before the oldest Redis snapshot of '{}' ({})", when, component,
                             repo::FormatTimeRfc3339(snaps.front().time_unix_ns)));
  }
  // Each snapshot's stream is read only when needed: a repository holds many of them.
  std::map<Id, std::vector<repo::RedisStreamRecord>> streams;
  auto stream_of =
      [&](const repo::Snapshot& s) -> Result<const std::vector<repo::RedisStreamRecord>*> {
    auto it = streams.find(s.id);
    if (it == streams.end()) {
      BW_ASSIGN_OR_RETURN(auto records, repo::ListRedisStreamRecords(repo, component, s.id));
      it = streams.emplace(s.id, std::move(records)).first;
    }
    return &it->second;
  };
  // The newest batch is in one of the two newest streams (the older one ends at the switch to
  // the newer one, whose first batches may carry earlier times).
  int64_t newest_batch = 0;
  int streams_seen = 0;
  for (auto it = snaps.rbegin(); it != snaps.rend() && streams_seen < 2; ++it) {
    BW_ASSIGN_OR_RETURN(auto* records, stream_of(*it));
    if (records->empty()) continue;
    ++streams_seen;
    for (const auto& r : *records) {
      if (!r.batches.empty()) newest_batch = std::max(newest_batch, r.batches.back().unix_ns);
    }
  }
  if (t > newest_batch) {
    return Error(ErrorCode::kUsage,
                 newest_batch == 0
                     ? fmt::format("no replication stream of '{}' was captured (run `bulwark "
                                   "redis-stream`); {} cannot be restored",
                                   component, when)
                     : fmt::format("{} is after the newest captured batch of '{}' ({})", when,
                                   component, repo::FormatTimeRfc3339(newest_batch)));
  }

  // The newest snapshot at or before T whose gap-free stream reaches T.
  std::vector<const repo::Snapshot*> candidates;
  if (base) {
    candidates.push_back(&*base);
  } else {
    for (auto it = snaps.rbegin(); it != snaps.rend(); ++it) candidates.push_back(&*it);
  }
  const repo::Snapshot* chosen = nullptr;
  std::vector<const repo::RedisStreamRecord*> chain;
  std::string why;
  for (const repo::Snapshot* s : candidates) {
    if (s->time_unix_ns > t) {
      why = fmt::format("snapshot {} was taken after {}", s->id.ShortHex(), when);
      continue;
    }
    BW_ASSIGN_OR_RETURN(auto* records, stream_of(*s));
    auto c = Chain(*records, *s);
    const int64_t reach = c.empty() ? s->time_unix_ns : c.back()->batches.back().unix_ns;
    if (reach >= t) {
      chosen = s;
      chain = std::move(c);
      break;
    }
    if (why.empty()) {
      why = fmt::format("the stream after snapshot {} ends at {}", s->id.ShortHex(),
                        repo::FormatTimeRfc3339(reach));
    }
  }
  if (chosen == nullptr) {
    return Error(ErrorCode::kUsage,
                 fmt::format("no captured stream of '{}' covers {} ({})", component, when, why));
  }

  RedisPitrPlan plan;
  plan.snapshot = *chosen;
  plan.from_offset = chosen->source.value("offset", uint64_t{0});
  plan.to_offset = plan.from_offset;
  for (const auto* r : chain) {
    for (const auto& b : r->batches) {
      if (b.unix_ns > t) break;
      plan.to_offset = b.offset;
      plan.last_batch_unix_ns = b.unix_ns;
    }
    if (r->start_offset < plan.to_offset) plan.chain.push_back(*r);
  }
  return plan;
}

Result<RedisPitrPlan> PlanRedisIncremental(const repo::Repository& repo,
                                           const repo::Snapshot& snapshot) {
  if (!IsIncrementalRedisSnapshot(snapshot)) {
    return Error(ErrorCode::kUsage, fmt::format("snapshot {} is not an incremental Redis snapshot",
                                                snapshot.id.ShortHex()));
  }
  RedisPitrPlan plan;
  plan.snapshot = snapshot;
  plan.from_offset = snapshot.source.value("base_offset", uint64_t{0});
  plan.to_offset = snapshot.source.value("offset", uint64_t{0});
  BW_ASSIGN_OR_RETURN(repo::Tree tree, files::LoadTree(repo, snapshot.tree));
  const repo::Node* stream = nullptr;
  for (const auto& n : tree.nodes) {
    if (n.name == kStreamFileName) stream = &n;
  }
  if (stream == nullptr || plan.to_offset < plan.from_offset ||
      stream->size != plan.to_offset - plan.from_offset) {
    return Error(ErrorCode::kIntegrity,
                 fmt::format("incremental snapshot {} does not hold the stream from offset {} to "
                             "{} its record names (run `bulwark check`)",
                             snapshot.id.ShortHex(), plan.from_offset, plan.to_offset));
  }
  plan.snapshot_stream = stream->content;
  return plan;
}

Status ReadRedisStream(const repo::Repository& repo, const RedisPitrPlan& plan,
                       const std::function<Status(ByteView)>& sink) {
  uint64_t read = 0;
  for (const Id& id : plan.snapshot_stream) {
    auto blob = repo.LoadBlob(repo::BlobType::kData, id);
    if (!blob.ok()) {
      return Error(ErrorCode::kIntegrity,
                   fmt::format("the stream.resp of snapshot {} is unreadable after {} bytes: {} "
                               "(run `bulwark check --read-data`)",
                               plan.snapshot.id.ShortHex(), read, blob.error().message()));
    }
    read += blob->size();
    BW_RETURN_IF_ERROR(sink(*blob));
  }
  for (const auto& r : plan.chain) {
    if (r.start_offset >= plan.to_offset) break;
    const uint64_t want = std::min(r.end_offset, plan.to_offset) - r.start_offset;
    Status st = repo::ReadRedisStreamBytes(repo, r, want, sink);
    if (!st.ok()) {
      if (st.error().code() != ErrorCode::kIntegrity && st.error().code() != ErrorCode::kNotFound)
        return st;
      return Error(ErrorCode::kIntegrity,
                   fmt::format("stream data of snapshot {} at offset {} is unreadable: {} "
                               "(run `bulwark check --read-data`)",
                               plan.snapshot.id.ShortHex(), r.start_offset, st.error().message()));
    }
  }
  return Status::Ok();
}

Result<RedisPitrResult> RestoreRedisAt(repo::Repository& repo,
                                       const std::optional<repo::Snapshot>& base,
                                       const RedisPitrOptions& options) {
  if (options.target.empty()) return Error(ErrorCode::kUsage, "--target is required");
  BW_ASSIGN_OR_RETURN(RedisPitrPlan plan,
                      PlanRedisPitr(repo, base, options.component, options.time_unix_ns));
  return RestoreRedisPlan(repo, plan, options);
}

Result<RedisPitrResult> RestoreRedisPlan(repo::Repository& repo, const RedisPitrPlan& plan,
                                         const RedisPitrOptions& options) {
  if (options.target.empty()) return Error(ErrorCode::kUsage, "--target is required");
  const repo::Snapshot* chosen = &plan.snapshot;
  RedisPitrResult result;
  result.snapshot = plan.snapshot;
  result.from_offset = plan.from_offset;
  result.to_offset = plan.to_offset;
  result.last_batch_unix_ns = plan.last_batch_unix_ns;

  // Refuse an occupied target before writing anything.
  result.aof_dir = options.target + "/" + kAofDirName;
  struct stat st;
  if (!options.force && ::lstat(result.aof_dir.c_str(), &st) == 0) {
    return Error(ErrorCode::kUsage, result.aof_dir +
                                        " already exists; restore into an empty directory or "
                                        "use --force");
  }
  RedisRestoreOptions ropts;
  ropts.target = options.target;
  ropts.force = options.force;
  ropts.progress = options.progress;
  BW_ASSIGN_OR_RETURN(auto rdb, RestoreRedis(repo, *chosen, ropts));
  result.rdb = std::move(rdb.rdb);

  // Built beside the target name, then renamed into place.
  const std::string tmp = result.aof_dir + ".tmp";
  BW_RETURN_IF_ERROR(RemoveTree(tmp));
  if (::mkdir(tmp.c_str(), 0700) != 0) return ErrnoError("creating " + tmp, errno);
  const std::string base_name = "appendonly.aof.1.base.rdb";
  const std::string incr_name = "appendonly.aof.1.incr.aof";
  // The AOF's base is the restored dump.rdb: a second name for it, not a second copy (Redis
  // replaces either file by renaming a new one over it, never by writing into it).
  if (::link(rdb.path.c_str(), (tmp + "/" + base_name).c_str()) != 0) {
    BW_RETURN_IF_ERROR(CopyFile(rdb.path, tmp + "/" + base_name));
  }
  {
    BW_ASSIGN_OR_RETURN(OutFile incr, OutFile::Create(tmp + "/" + incr_name));
    AofFilter aof([&incr](ByteView bytes) { return incr.Write(bytes); });
    BW_RETURN_IF_ERROR(ReadRedisStream(repo, plan, [&aof](ByteView b) { return aof.Append(b); }));
    if (Status fin = aof.Finish(); !fin.ok()) return fin.error().Wrap("writing " + incr_name);
    result.commands = aof.commands();
    result.dropped_commands = aof.dropped();
    BW_RETURN_IF_ERROR(incr.Close());
  }
  {
    BW_ASSIGN_OR_RETURN(OutFile manifest, OutFile::Create(tmp + "/appendonly.aof.manifest"));
    const std::string text =
        fmt::format("file {} seq 1 type b\nfile {} seq 1 type i\n", base_name, incr_name);
    BW_RETURN_IF_ERROR(manifest.Write(AsBytes(text)));
    BW_RETURN_IF_ERROR(manifest.Close());
  }
  BW_RETURN_IF_ERROR(RemoveTree(result.aof_dir));
  if (::rename(tmp.c_str(), result.aof_dir.c_str()) != 0) {
    return ErrnoError("renaming " + tmp + " to " + result.aof_dir, errno);
  }
  return result;
}

}  // namespace bulwark::sources::redis

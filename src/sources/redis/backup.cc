#include "sources/redis/backup.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "chunk/chunker.h"
#include "core/cancel.h"
#include "core/host.h"
#include "repo/lock.h"
#include "repo/tree.h"
#include "sources/files/list.h"
#include "sources/redis/resp_stream.h"
#include "sources/redis/server_info.h"

namespace bulwark::sources::redis {

namespace {

// Receives the payload on its own thread so the socket is always drained as fast as the server
// sends (a stalled replica is disconnected by the primary's output-buffer limit). It strips
// the framing and writes plain RDB bytes into the spill buffer, which never makes it wait for
// the consumer when spilling is on; its final status is read after the buffer ends.
class Receiver {
 public:
  Receiver(ReplicationClient& client, TransferHeader header, SpillBuffer& buffer)
      : client_(client), header_(std::move(header)), buffer_(buffer) {}
  ~Receiver() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  // Stops early (consumer failed): the receiver's next Write fails and it returns.
  void Stop() {
    buffer_.Cancel();
    if (thread_.joinable() && !done_.load()) client_.Shutdown();
    if (thread_.joinable()) thread_.join();
  }
  // Valid once the buffer has ended (Next returned no bytes).
  const Status& status() const { return status_; }
  uint64_t received() const { return received_.load(); }
  // Replication stream bytes that came after a diskless transfer's end mark (valid after Stop).
  const Bytes& tail() const { return tail_; }

 private:
  void Run() {
    status_ = header_.diskless ? RunDiskless() : RunSized();
    done_.store(true);
    buffer_.Finish();
  }

  Error Cut(const std::string& what) const {
    std::string expected = header_.diskless ? "" : fmt::format(" of {}", header_.length);
    return Error(ErrorCode::kFailure, fmt::format("the RDB transfer was cut after {}{} bytes: {}",
                                                  received_.load(), expected, what));
  }

  // Hands `data` on; false when the consumer gave up (or the spill file failed: status set).
  bool Ship(ByteView data, Status& status) {
    received_ += data.size();
    auto ok = buffer_.Write(data);
    if (!ok.ok()) status = ok.error();
    return ok.ok() && *ok;
  }

  Status RunSized() {
    Bytes block(kBlock);
    uint64_t left = header_.length;
    Status status;
    while (left > 0) {
      if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, kBlock));
      auto n = client_.ReadSome(MutableByteView(block.data(), want));
      if (!n.ok()) return Cut(n.error().message());
      if (*n == 0) return Cut("the server closed the connection");
      left -= *n;
      if (!Ship(ByteView(block.data(), *n), status)) return status;
    }
    return status;
  }

  Status RunDiskless() {
    const std::string& mark = header_.eof_mark;
    // block[0, held) are the last bytes received, held back until we know they are not the
    // end mark; new bytes are read after them.
    Bytes block(kBlock + mark.size());
    size_t held = 0;
    Status status;
    while (true) {
      if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
      auto n = client_.ReadSome(MutableByteView(block.data() + held, kBlock));
      if (!n.ok()) return Cut(n.error().message());
      if (*n == 0) return Cut("the server closed the connection before the end mark");
      const size_t total = held + *n;
      const void* at = ::memmem(block.data(), total, mark.data(), mark.size());
      if (at != nullptr) {
        // Anything after the mark is replication stream: not ours.
        size_t body = static_cast<size_t>(static_cast<const uint8_t*>(at) - block.data());
        if (body > 0) (void)Ship(ByteView(block.data(), body), status);
        tail_.assign(block.begin() + static_cast<std::ptrdiff_t>(body + mark.size()),
                     block.begin() + static_cast<std::ptrdiff_t>(total));
        return status;
      }
      if (total > mark.size()) {
        size_t ship = total - mark.size();
        if (!Ship(ByteView(block.data(), ship), status)) return status;
        std::memmove(block.data(), block.data() + ship, mark.size());
        held = mark.size();
      } else {
        held = total;
      }
    }
  }

  static constexpr size_t kBlock = 1u << 20;
  ReplicationClient& client_;
  TransferHeader header_;
  SpillBuffer& buffer_;
  std::thread thread_;
  Status status_;
  Bytes tail_;
  std::atomic<uint64_t> received_{0};
  std::atomic<bool> done_{false};
};

// Splits the RDB into content-defined chunks and hands them to the writer as they complete,
// so an unchanged keyspace (same bytes) maps to the same chunks as last time.
class ChunkSink {
 public:
  ChunkSink(repo::Repository& repo, repo::BlobWriter& writer) : repo_(repo), writer_(writer) {}

  Status Append(ByteView data) {
    const auto& params = repo_.config().chunker;
    buf_.insert(buf_.end(), data.begin(), data.end());
    while (buf_.size() - start_ >= params.max_size) BW_RETURN_IF_ERROR(Cut());
    if (start_ > (8u << 20)) {  // compact now and then, not per chunk
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
      start_ = 0;
    }
    return Status::Ok();
  }

  Status Finish() {
    while (start_ < buf_.size()) BW_RETURN_IF_ERROR(Cut());
    return Status::Ok();
  }

  std::vector<Id>& ids() { return ids_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t bytes_new() const { return bytes_new_; }
  uint64_t blobs_new() const { return blobs_new_; }

 private:
  Status Cut() {
    ByteView avail(buf_.data() + start_, buf_.size() - start_);
    size_t len = chunk::FindBoundary(repo_.gear(), repo_.config().chunker, avail);
    if (len == 0 || len > avail.size()) len = avail.size();
    Bytes data(avail.begin(), avail.begin() + static_cast<std::ptrdiff_t>(len));
    Id id = repo_.BlobId(data);
    BW_ASSIGN_OR_RETURN(bool is_new, writer_.Add(repo::BlobType::kData, id, std::move(data)));
    if (is_new) {
      bytes_new_ += len;
      ++blobs_new_;
    }
    ids_.push_back(id);
    bytes_ += len;
    start_ += len;
    return Status::Ok();
  }

  repo::Repository& repo_;
  repo::BlobWriter& writer_;
  Bytes buf_;
  size_t start_ = 0;
  std::vector<Id> ids_;
  uint64_t bytes_ = 0;
  uint64_t bytes_new_ = 0;
  uint64_t blobs_new_ = 0;
};

// What the parser reads: buffered payload bytes, each piece also fed to the chunk sink.
class BufferSource : public RdbSource {
 public:
  BufferSource(SpillBuffer& buffer, Receiver& receiver, ChunkSink& sink, Progress* progress)
      : buffer_(buffer), receiver_(receiver), sink_(sink), progress_(progress) {}

  Result<size_t> Read(MutableByteView buf) override {
    while (pos_ >= piece_.size()) {
      if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
      BW_ASSIGN_OR_RETURN(piece_, buffer_.Next());
      pos_ = 0;
      if (piece_.empty()) {
        if (!receiver_.status().ok()) return receiver_.status().error();
        return size_t{0};
      }
      BW_RETURN_IF_ERROR(sink_.Append(piece_));
      if (progress_ != nullptr) progress_->bytes_done.fetch_add(piece_.size());
    }
    size_t n = std::min(buf.size(), piece_.size() - pos_);
    std::memcpy(buf.data(), piece_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  SpillBuffer& buffer_;
  Receiver& receiver_;
  ChunkSink& sink_;
  Progress* progress_;
  ByteView piece_;  // valid until the next buffer_.Next()
  size_t pos_ = 0;
};

void StartSnapshot(const RedisBackupOptions& options, repo::Snapshot& snapshot,
                   std::vector<std::string> paths) {
  snapshot.time_unix_ns = NowNs();
  snapshot.hostname = options.hostname.empty() ? HostName() : options.hostname;
  snapshot.username = UserName(::geteuid());
  snapshot.component = options.component;
  snapshot.kind = kRedisSnapshotKind;
  snapshot.tags = options.tags;
  snapshot.paths = std::move(paths);
  snapshot.program_version = BULWARK_VERSION;
}

// dump.rdb and stream.resp: a keyspace and its writes, readable by their owner only.
repo::Node FileNode(const std::string& name, uint64_t size, std::vector<Id> content,
                    int64_t time_ns) {
  repo::Node node;
  node.name = name;
  node.type = repo::NodeType::kFile;
  node.mode = 0600;
  node.uid = ::geteuid();
  node.gid = ::getegid();
  node.user = UserName(node.uid);
  node.group = GroupName(node.gid);
  node.mtime_ns = node.atime_ns = node.ctime_ns = time_ns;
  node.size = size;
  node.content = std::move(content);
  return node;
}

// Stores the tree; adds its size to `added` when it is new. Returns whether it is.
Result<bool> AddTree(repo::BlobWriter& writer, const repo::Tree& tree, Id& id, uint64_t& added) {
  Bytes encoded = repo::EncodeTree(tree);
  const size_t len = encoded.size();
  bool is_new = false;
  BW_ASSIGN_OR_RETURN(id, writer.Add(repo::BlobType::kTree, std::move(encoded), &is_new));
  if (is_new) added += len;
  return is_new;
}

nlohmann::json SourceJson(const RedisBackupOptions& options, const RedisBackupResult& r) {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [db, n] : r.rdb.keys_per_db) keys[std::to_string(db)] = n;
  auto aux = [&](const char* k) {
    auto it = r.rdb.aux.find(k);
    return it == r.rdb.aux.end() ? std::string() : it->second;
  };
  nlohmann::json source = {{"endpoint", options.endpoint.Display()},
                           {"replid", r.resync.replid},
                           {"offset", r.resync.offset},
                           {"redis_version", aux("redis-ver")},
                           {"rdb_version", r.rdb.version},
                           {"rdb_bytes", r.rdb.bytes},
                           {"rdb_crc64", fmt::format("{:016x}", r.rdb.checksum)},
                           {"checksum_verified", r.rdb.checksum_verified},
                           {"keys", r.rdb.keys},
                           {"keys_with_expiry", r.rdb.keys_with_expiry},
                           {"keys_per_db", keys},
                           {"transfer", r.diskless ? "diskless" : "disk"}};
  if (!r.full_reason.empty()) source["full_reason"] = r.full_reason;
  return source;
}

// Flushes the writer and saves the snapshot (its tree already set) with `source` and a summary.
Result<RedisBackupResult> Commit(repo::Repository& repo, repo::BlobWriter& writer,
                                 const repo::RepoLock& lock,
                                 std::chrono::steady_clock::time_point started,
                                 nlohmann::json source, uint64_t bytes_total, uint64_t bytes_read,
                                 RedisBackupResult& result) {
  if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
  BW_RETURN_IF_ERROR(writer.Flush());
  result.bytes_stored = writer.stats().bytes_new_stored;
  if (!lock.StillValid()) {
    return Error(ErrorCode::kLocked,
                 "the repository lock could not be refreshed; snapshot not written (run the "
                 "backup again)");
  }
  result.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.snapshot.source = std::move(source);
  result.snapshot.summary = {
      {"bytes_total", bytes_total},        {"bytes_read", bytes_read},
      {"bytes_added", result.bytes_added}, {"bytes_stored", result.bytes_stored},
      {"blobs_new", result.blobs_new},     {"duration_seconds", result.duration_seconds}};
  BW_ASSIGN_OR_RETURN(result.snapshot.id, repo::SaveSnapshot(repo, result.snapshot));
  return std::move(result);
}

// Receives, verifies and commits; `buffer` holds the received bytes the parser has not read.
Result<RedisBackupResult> ReceiveInto(repo::Repository& repo, const RedisBackupOptions& options,
                                      ReplicationClient& client, const FullResync& resync,
                                      const repo::RepoLock& lock, SpillBuffer* buffer,
                                      std::chrono::steady_clock::time_point started,
                                      const std::string& full_reason) {
  RedisBackupResult result;
  result.resync = resync;
  result.full_reason = full_reason;
  BW_ASSIGN_OR_RETURN(TransferHeader header, client.ReadTransferHeader());
  result.diskless = header.diskless;
  if (options.progress != nullptr && !header.diskless) {
    options.progress->bytes_total.store(header.length);
    options.progress->totals_final.store(true);
  }

  repo::BlobWriter writer(repo, options.writer);
  ChunkSink sink(repo, writer);
  Receiver receiver(client, header, *buffer);
  receiver.Start();
  BufferSource source(*buffer, receiver, sink, options.progress);
  auto parsed = ParseRdb(source);
  receiver.Stop();
  client.Unread(receiver.tail());
  if (!parsed.ok()) {
    // A cut transfer shows as a short RDB to the parser; the receiver knows the real cause.
    if (!receiver.status().ok()) return receiver.status().error();
    return parsed.error().Wrap(fmt::format("verifying the RDB from {} ({} bytes received)",
                                           options.endpoint.Display(), receiver.received()));
  }
  if (!receiver.status().ok()) return receiver.status().error();
  if (!header.diskless && parsed->bytes != header.length) {
    return Error(ErrorCode::kFailure,
                 fmt::format("the RDB ended after {} of the {} bytes announced", parsed->bytes,
                             header.length));
  }
  result.rdb = std::move(*parsed);
  result.buffer = buffer->stats();
  BW_RETURN_IF_ERROR(sink.Finish());

  StartSnapshot(options, result.snapshot, {kRdbFileName});
  repo::Tree tree;
  tree.nodes.push_back(
      FileNode(kRdbFileName, sink.bytes(), std::move(sink.ids()), result.snapshot.time_unix_ns));
  BW_ASSIGN_OR_RETURN(bool tree_new,
                      AddTree(writer, tree, result.snapshot.tree, result.bytes_added));
  result.bytes_added += sink.bytes_new();
  result.blobs_new = sink.blobs_new() + (tree_new ? 1 : 0);

  return Commit(repo, writer, lock, started, SourceJson(options, result), sink.bytes(),
                sink.bytes(), result);
}

// The snapshot an incremental one continues: the component's newest Redis snapshot.
struct IncrementalBase {
  repo::Snapshot parent;
  std::string replid;
  uint64_t offset = 0;        // the parent's end: its RDB's offset or its stream's end
  uint64_t base_offset = 0;   // the offset of the dump.rdb (the full snapshot's)
  uint64_t stream_bytes = 0;  // the parent's stream.resp (0 for a full snapshot)
};

// nullopt (and why) when there is none to continue, or its stream has grown too long.
Result<std::optional<IncrementalBase>> FindIncrementalBase(const repo::Repository& repo,
                                                           const RedisBackupOptions& options,
                                                           std::string& why) {
  BW_ASSIGN_OR_RETURN(auto all, repo::LoadAllSnapshots(repo));  // oldest first
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->kind != kRedisSnapshotKind || it->component != options.component) continue;
    IncrementalBase base;
    const nlohmann::json& src = it->source;
    base.replid = src.value("replid", std::string());
    base.offset = src.value("offset", uint64_t{0});
    base.base_offset = src.value("base_offset", base.offset);
    base.stream_bytes = src.value("stream_bytes", uint64_t{0});
    const uint64_t rdb_bytes = src.value("rdb_bytes", uint64_t{0});
    if (base.replid.size() != 40 || !src.contains("offset")) {
      why = fmt::format("snapshot {} has no replication offset", it->id.ShortHex());
      return std::optional<IncrementalBase>();
    }
    if (static_cast<double>(base.stream_bytes) >
        options.max_stream_ratio * static_cast<double>(rdb_bytes)) {
      why = fmt::format(
          "the stream since the last full snapshot ({} bytes) exceeds {:g}% of its "
          "RDB ({} bytes)",
          base.stream_bytes, options.max_stream_ratio * 100, rdb_bytes);
      return std::optional<IncrementalBase>();
    }
    base.parent = std::move(*it);
    return std::optional<IncrementalBase>(std::move(base));
  }
  return std::optional<IncrementalBase>();
}

// The incremental snapshot: the stream (base.offset, info.master_repl_offset] that follows
// +CONTINUE on `client`, stored after the parent's stream.resp, with the parent's dump.rdb.
Result<RedisBackupResult> ReceiveIncremental(repo::Repository& repo,
                                             const RedisBackupOptions& options,
                                             ReplicationClient& client, const IncrementalBase& base,
                                             const std::string& new_replid, const ServerInfo& info,
                                             const repo::RepoLock& lock,
                                             std::chrono::steady_clock::time_point started) {
  const uint64_t want = info.master_repl_offset - base.offset;
  BW_ASSIGN_OR_RETURN(repo::Tree parent_tree, files::LoadTree(repo, base.parent.tree));
  const repo::Node* rdb_node = nullptr;
  const repo::Node* stream_node = nullptr;
  for (const auto& n : parent_tree.nodes) {
    if (n.name == kRdbFileName) rdb_node = &n;
    if (n.name == kStreamFileName) stream_node = &n;
  }
  const uint64_t parent_stream = stream_node != nullptr ? stream_node->size : 0;
  if (rdb_node == nullptr || parent_stream != base.stream_bytes) {
    return Error(ErrorCode::kIntegrity,
                 fmt::format("snapshot {} does not hold the dump.rdb and stream its record names "
                             "(take a full snapshot with --full; run `bulwark check`)",
                             base.parent.id.ShortHex()));
  }
  if (options.progress != nullptr) {
    options.progress->bytes_total.store(want);
    options.progress->totals_final.store(true);
  }

  RedisBackupResult result;
  result.incremental = true;
  repo::BlobWriter writer(repo, options.writer);
  ChunkSink sink(repo, writer);
  // Only whole commands may end the stream: the offset INFO reported lies between two.
  AofFilter commands([](ByteView) { return Status::Ok(); });
  Bytes block(1u << 20);
  uint64_t got = 0;
  auto cut = [&](const std::string& what) {
    return Error(ErrorCode::kFailure,
                 fmt::format("the replication stream from {} was cut after {} of {} bytes: {}",
                             options.endpoint.Display(), got, want, what));
  };
  while (got < want) {
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
    const size_t ask = static_cast<size_t>(std::min<uint64_t>(want - got, block.size()));
    auto n = client.ReadSome(MutableByteView(block.data(), ask));
    if (!n.ok()) return cut(n.error().message());
    if (*n == 0) return cut("the server closed the connection");
    const ByteView piece(block.data(), *n);
    BW_RETURN_IF_ERROR(commands.Append(piece));
    BW_RETURN_IF_ERROR(sink.Append(piece));
    got += *n;
    if (options.progress != nullptr) options.progress->bytes_done.fetch_add(*n);
  }
  if (Status st = commands.Finish(); !st.ok()) {
    return st.error().Wrap(
        fmt::format("the replication stream up to offset {}", info.master_repl_offset));
  }
  BW_RETURN_IF_ERROR(sink.Finish());

  result.stream_bytes_new = got;
  result.stream_bytes_total = base.stream_bytes + got;
  result.resync.replid = new_replid.empty() ? base.replid : new_replid;
  result.resync.offset = info.master_repl_offset;
  const nlohmann::json& psrc = base.parent.source;
  result.rdb.version = psrc.value("rdb_version", 0);
  result.rdb.bytes = psrc.value("rdb_bytes", uint64_t{0});
  result.rdb.keys = info.TotalKeys();
  result.rdb.keys_with_expiry = info.TotalExpires();

  StartSnapshot(options, result.snapshot, {kRdbFileName, kStreamFileName});
  repo::Tree tree;
  tree.nodes.push_back(*rdb_node);
  std::vector<Id> stream_ids;
  if (stream_node != nullptr) stream_ids = stream_node->content;
  stream_ids.insert(stream_ids.end(), sink.ids().begin(), sink.ids().end());
  tree.nodes.push_back(FileNode(kStreamFileName, result.stream_bytes_total, std::move(stream_ids),
                                result.snapshot.time_unix_ns));
  BW_ASSIGN_OR_RETURN(bool tree_new,
                      AddTree(writer, tree, result.snapshot.tree, result.bytes_added));
  result.bytes_added += sink.bytes_new();
  result.blobs_new = sink.blobs_new() + (tree_new ? 1 : 0);

  nlohmann::json source = psrc;  // the dump.rdb's fields (rdb_*, checksum_verified) carry over
  nlohmann::json keys = nlohmann::json::object();
  for (const DbKeys& db : info.keyspace) keys[std::to_string(db.db)] = db.keys;
  source.erase("full_reason");
  source["endpoint"] = options.endpoint.Display();
  source["replid"] = result.resync.replid;
  source["offset"] = result.resync.offset;
  source["incremental"] = true;
  source["parent"] = base.parent.id.Hex();
  source["base_snapshot"] = psrc.value("base_snapshot", base.parent.id.Hex());
  source["base_offset"] = base.base_offset;
  source["stream_bytes"] = result.stream_bytes_total;
  source["stream_bytes_new"] = got;
  source["stream_commands_new"] = commands.commands();
  if (!info.redis_version.empty()) source["redis_version"] = info.redis_version;
  source["keys"] = result.rdb.keys;
  source["keys_with_expiry"] = result.rdb.keys_with_expiry;
  source["keys_per_db"] = keys;
  source["transfer"] = "continue";
  return Commit(repo, writer, lock, started, std::move(source),
                result.rdb.bytes + result.stream_bytes_total, got, result);
}

}  // namespace

bool IsIncrementalRedisSnapshot(const repo::Snapshot& snapshot) {
  return snapshot.kind == kRedisSnapshotKind && snapshot.source.is_object() &&
         snapshot.source.value("incremental", false);
}

Result<RedisBackupResult> BackupRedis(repo::Repository& repo, const RedisBackupOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  SpillOptions spill;
  spill.memory_bytes = options.max_buffered_bytes;
  spill.spill_dir = options.spill_dir;
  BW_ASSIGN_OR_RETURN(std::unique_ptr<SpillBuffer> buffer, SpillBuffer::Create(spill));
  BW_ASSIGN_OR_RETURN(ReplicationClient client,
                      ReplicationClient::Connect(options.endpoint, options.timeout_seconds));
  BW_RETURN_IF_ERROR(client.Handshake());
  BW_ASSIGN_OR_RETURN(auto lock,
                      repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "backup redis"));
  std::string full_reason = options.full ? "--full" : "";
  std::optional<IncrementalBase> base;
  if (!options.full) {
    BW_ASSIGN_OR_RETURN(base, FindIncrementalBase(repo, options, full_reason));
  }
  if (base) {
    // The server's offset now is where the snapshot ends: read on a second connection, as
    // INFO (unlike the replication rights) may be missing from the ACL user.
    constexpr char kRights[] = "+psync +replconf +ping +info";
    BW_ASSIGN_OR_RETURN(RedisConnection probe,
                        RedisConnection::Connect(options.endpoint, options.timeout_seconds));
    BW_RETURN_IF_ERROR(Authenticate(probe, kRights));
    auto info = QueryServerInfo(probe, "", kRights);
    if (!info.ok()) {
      if (info.error().code() != ErrorCode::kUsage) return info.error();
      full_reason = info.error().message();
    } else if (!info->has_repl_offset || info->master_repl_offset < base->offset) {
      full_reason = fmt::format(
          "the server's replication offset ({}) is before the last "
          "snapshot's ({})",
          info->master_repl_offset, base->offset);
    } else {
      BW_ASSIGN_OR_RETURN(PsyncReply reply, client.PsyncFrom(base->replid, base->offset + 1));
      if (!reply.full) {
        return ReceiveIncremental(repo, options, client, *base, reply.new_replid, *info, *lock,
                                  started);
      }
      full_reason = fmt::format(
          "the server could not continue the stream of snapshot {} at offset {} (another "
          "server, a restart, or the offset has left its repl-backlog-size)",
          base->parent.id.ShortHex(), base->offset);
      return ReceiveInto(repo, options, client, reply.resync, *lock, buffer.get(), started,
                         full_reason);
    }
  }
  BW_ASSIGN_OR_RETURN(FullResync resync, client.Psync());
  return ReceiveInto(repo, options, client, resync, *lock, buffer.get(), started, full_reason);
}

Result<RedisBackupResult> ReceiveSnapshot(repo::Repository& repo, const RedisBackupOptions& options,
                                          ReplicationClient& client, const FullResync& resync,
                                          const repo::RepoLock& lock) {
  SpillOptions spill;
  spill.memory_bytes = options.max_buffered_bytes;
  spill.spill_dir = options.spill_dir;
  BW_ASSIGN_OR_RETURN(std::unique_ptr<SpillBuffer> buffer, SpillBuffer::Create(spill));
  return ReceiveInto(repo, options, client, resync, lock, buffer.get(),
                     std::chrono::steady_clock::now(), "");
}

}  // namespace bulwark::sources::redis

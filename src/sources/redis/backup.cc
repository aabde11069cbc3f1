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

nlohmann::json SourceJson(const RedisBackupOptions& options, const RedisBackupResult& r) {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [db, n] : r.rdb.keys_per_db) keys[std::to_string(db)] = n;
  auto aux = [&](const char* k) {
    auto it = r.rdb.aux.find(k);
    return it == r.rdb.aux.end() ? std::string() : it->second;
  };
  return {{"endpoint", options.endpoint.Display()},
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
}

// Receives, verifies and commits; `buffer` holds the received bytes the parser has not read.
Result<RedisBackupResult> ReceiveInto(repo::Repository& repo, const RedisBackupOptions& options,
                                      ReplicationClient& client, const FullResync& resync,
                                      const repo::RepoLock& lock, SpillBuffer* buffer,
                                      std::chrono::steady_clock::time_point started) {
  RedisBackupResult result;
  result.resync = resync;
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

  result.snapshot.time_unix_ns = NowNs();
  result.snapshot.hostname = options.hostname.empty() ? HostName() : options.hostname;
  result.snapshot.username = UserName(::geteuid());
  result.snapshot.component = options.component;
  result.snapshot.kind = kRedisSnapshotKind;
  result.snapshot.tags = options.tags;
  result.snapshot.paths = {kRdbFileName};
  result.snapshot.program_version = BULWARK_VERSION;

  repo::Node node;
  node.name = kRdbFileName;
  node.type = repo::NodeType::kFile;
  node.mode = 0600;  // a keyspace dump: readable by its owner only
  node.uid = ::geteuid();
  node.gid = ::getegid();
  node.user = UserName(node.uid);
  node.group = GroupName(node.gid);
  node.mtime_ns = node.atime_ns = node.ctime_ns = result.snapshot.time_unix_ns;
  node.size = sink.bytes();
  node.content = std::move(sink.ids());
  repo::Tree tree;
  tree.nodes.push_back(std::move(node));
  Bytes encoded = repo::EncodeTree(tree);
  const size_t tree_len = encoded.size();
  bool tree_new = false;
  BW_ASSIGN_OR_RETURN(result.snapshot.tree,
                      writer.Add(repo::BlobType::kTree, std::move(encoded), &tree_new));
  result.bytes_added = sink.bytes_new() + (tree_new ? tree_len : 0);
  result.blobs_new = sink.blobs_new() + (tree_new ? 1 : 0);

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
  result.snapshot.source = SourceJson(options, result);
  result.snapshot.summary = {
      {"bytes_total", sink.bytes()},       {"bytes_read", sink.bytes()},
      {"bytes_added", result.bytes_added}, {"bytes_stored", result.bytes_stored},
      {"blobs_new", result.blobs_new},     {"duration_seconds", result.duration_seconds}};
  BW_ASSIGN_OR_RETURN(result.snapshot.id, repo::SaveSnapshot(repo, result.snapshot));
  return result;
}

}  // namespace

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
  BW_ASSIGN_OR_RETURN(FullResync resync, client.Psync());
  return ReceiveInto(repo, options, client, resync, *lock, buffer.get(), started);
}

Result<RedisBackupResult> ReceiveSnapshot(repo::Repository& repo, const RedisBackupOptions& options,
                                          ReplicationClient& client, const FullResync& resync,
                                          const repo::RepoLock& lock) {
  SpillOptions spill;
  spill.memory_bytes = options.max_buffered_bytes;
  spill.spill_dir = options.spill_dir;
  BW_ASSIGN_OR_RETURN(std::unique_ptr<SpillBuffer> buffer, SpillBuffer::Create(spill));
  return ReceiveInto(repo, options, client, resync, lock, buffer.get(),
                     std::chrono::steady_clock::now());
}

}  // namespace bulwark::sources::redis

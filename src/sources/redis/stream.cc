#include "sources/redis/stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "core/cancel.h"
#include "repo/blob_writer.h"
#include "repo/lock.h"
#include "repo/redis_stream_store.h"
#include "repo/snapshot.h"
#include "sources/redis/resp_stream.h"

namespace bulwark::sources::redis {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr size_t kPiece = 1u << 20;         // stream bytes per data blob
constexpr int64_t kCoalesceNs = 1'000'000;  // batches closer than this share one index entry

class Streamer {
 public:
  Streamer(repo::Repository& repo, const RedisStreamOptions& options) : repo_(repo), o_(options) {}

  Result<RedisStreamResult> Run() {
    BW_ASSIGN_OR_RETURN(lock_,
                        repo::RepoLock::Acquire(repo_, repo::LockKind::kShared, "redis-stream"));
    int backoff_ms = 0;
    while (!CancelRequested()) {
      if (backoff_ms > 0 && !Sleep(backoff_ms)) break;
      backoff_ms = NextBackoff(backoff_ms);
      auto client = ReplicationClient::Connect(o_.backup.endpoint, o_.backup.timeout_seconds);
      if (!client.ok()) {
        if (!positioned_) return client.error();
        Log(client.error().message() + "; retrying");
        continue;
      }
      if (Status st = client->Handshake(); !st.ok()) {
        if (!positioned_ || st.error().code() == ErrorCode::kUsage) return st.error();
        Log(st.error().message() + "; retrying");
        continue;
      }
      std::optional<FullResync> full;
      if (!positioned_) {
        auto r = client->Psync();
        if (!r.ok()) return r.error();
        full = *r;
      } else {
        auto r = client->PsyncFrom(replid_, offset_ + 1);
        if (!r.ok()) {
          if (r.error().code() == ErrorCode::kUsage) return r.error();
          Log(r.error().message() + "; retrying");
          continue;
        }
        if (r->full) {
          full = r->resync;
          ++result_.full_resyncs;
          Log(
              fmt::format("the server cannot continue at offset {} (+FULLRESYNC {} {}): taking "
                          "a new snapshot",
                          offset_, r->resync.replid, r->resync.offset));
        } else {
          ++result_.continues;
          if (!r->new_replid.empty()) replid_ = r->new_replid;
          Log(fmt::format("+CONTINUE at offset {} (replid {})", offset_, replid_));
        }
      }
      if (full) {
        BW_RETURN_IF_ERROR(EnsureLock());
        auto snap = ReceiveSnapshot(repo_, o_.backup, *client, *full, *lock_);
        if (!snap.ok()) {
          if (snap.error().code() == ErrorCode::kCancelled) break;
          if (!positioned_ || snap.error().code() == ErrorCode::kUsage) return snap.error();
          Log(snap.error().message() + "; retrying");
          continue;
        }
        snapshot_ = snap->snapshot.id;
        replid_ = full->replid;
        offset_ = full->offset;
        positioned_ = true;
        ++result_.snapshots;
        Log(fmt::format("snapshot {} saved ({} keys, replid {}, offset {}); streaming",
                        snapshot_.ShortHex(), snap->rdb.keys, replid_, offset_));
      }
      lost_.clear();
      BW_RETURN_IF_ERROR(Pump(*client));
      if (lost_.empty()) break;  // cancelled
      backoff_ms = 0;            // it worked until now: first retry at once
      BW_RETURN_IF_ERROR(Flush());
      pending_.clear();  // an incomplete command: the server sends it again after PSYNC
      Log(fmt::format("the stream stopped at offset {}: {}; reconnecting", offset_, lost_));
    }
    BW_RETURN_IF_ERROR(Flush());
    result_.replid = replid_;
    result_.offset = offset_;
    return result_;
  }

 private:
  void Log(const std::string& line) {
    if (o_.log) o_.log(line);
  }

  int NextBackoff(int ms) const { return ms == 0 ? 100 : std::min(ms * 2, o_.max_backoff_ms); }

  // False when cancelled meanwhile.
  bool Sleep(int ms) {
    auto until = SteadyClock::now() + std::chrono::milliseconds(ms);
    while (SteadyClock::now() < until) {
      if (CancelRequested()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return !CancelRequested();
  }

  Status EnsureLock() {
    if (lock_->StillValid()) return Status::Ok();
    lock_.reset();
    BW_ASSIGN_OR_RETURN(lock_,
                        repo::RepoLock::Acquire(repo_, repo::LockKind::kShared, "redis-stream"));
    return Status::Ok();
  }

  Status Ack(ReplicationClient& client) {
    return client.SendCommand({"REPLCONF", "ACK", std::to_string(offset_)});
  }

  // Reads the stream until cancelled (ok, lost_ empty) or the connection fails (ok, lost_
  // says why); an error is a repository failure or a stream that is not RESP.
  Status Pump(ReplicationClient& client) {
    if (Status st = Ack(client); !st.ok()) {
      lost_ = st.error().message();
      return Status::Ok();
    }
    Bytes buf(256u << 10);
    auto last_flush = SteadyClock::now();
    auto last_read = last_flush;
    const auto interval = std::chrono::milliseconds(o_.flush_interval_ms);
    // A primary PINGs its replicas every repl-ping-replica-period (10 s by default): silence
    // for longer than the timeout is a dead connection.
    const auto silence = std::chrono::seconds(std::max(o_.backup.timeout_seconds, 1));
    while (!CancelRequested()) {
      auto n = client.ReadWithin(MutableByteView(buf.data(), buf.size()), 100);
      if (!n.ok()) {
        lost_ = n.error().message();
        return Status::Ok();
      }
      bool ack_due = false;
      if (!n->has_value() && SteadyClock::now() - last_read > silence) {
        lost_ = fmt::format("nothing received for {} s", o_.backup.timeout_seconds);
        return Status::Ok();
      }
      if (n->has_value()) {
        last_read = SteadyClock::now();
        if (**n == 0) {
          lost_ = "the server closed the connection";
          return Status::Ok();
        }
        const int64_t now = NowNs();
        pending_.insert(pending_.end(), buf.begin(),
                        buf.begin() + static_cast<std::ptrdiff_t>(**n));
        bool advanced = false;
        while (true) {
          auto cmd =
              ParseCommand(ByteView(pending_.data() + complete_, pending_.size() - complete_));
          if (!cmd.ok()) {
            return cmd.error().Wrap(fmt::format("at offset {}", offset_ + complete_));
          }
          if (!cmd->has_value()) break;
          const auto& args = (*cmd)->args;
          if (args.size() >= 2 && IsWord(args[0], "REPLCONF") && IsWord(args[1], "GETACK")) {
            ack_due = true;
          }
          complete_ += (*cmd)->length;
          advanced = true;
        }
        if (advanced) {
          const uint64_t end = offset_ + complete_;
          if (!batches_.empty() && now - batches_.back().unix_ns < kCoalesceNs) {
            batches_.back() = {end, now};
          } else {
            batches_.push_back({end, now});
          }
        }
      }
      if (ack_due || SteadyClock::now() - last_flush >= interval) {
        BW_RETURN_IF_ERROR(Flush());
        last_flush = SteadyClock::now();
        if (Status st = Ack(client); !st.ok()) {
          lost_ = st.error().message();
          return Status::Ok();
        }
      }
    }
    return Status::Ok();
  }

  // Stores the whole commands held (pending_[0, complete_)) as one segment.
  Status Flush() {
    if (complete_ == 0) return Status::Ok();
    BW_RETURN_IF_ERROR(EnsureLock());
    repo::RedisStreamRecord rec;
    rec.component = o_.backup.component;
    rec.snapshot = snapshot_;
    rec.replid = replid_;
    rec.start_offset = offset_;
    rec.end_offset = offset_ + complete_;
    rec.batches = batches_;
    {
      repo::WriterOptions wo;
      wo.workers = 1;
      wo.uploaders = 1;
      repo::BlobWriter writer(repo_, wo);
      for (size_t at = 0; at < complete_; at += kPiece) {
        const size_t len = std::min(kPiece, complete_ - at);
        const auto from = pending_.begin() + static_cast<std::ptrdiff_t>(at);
        BW_ASSIGN_OR_RETURN(Id id,
                            writer.Add(repo::BlobType::kData,
                                       Bytes(from, from + static_cast<std::ptrdiff_t>(len))));
        rec.blobs.push_back(id);
      }
      BW_RETURN_IF_ERROR(writer.Flush());
    }
    rec.stored_unix_ns = NowNs();
    BW_RETURN_IF_ERROR(repo::PutRedisStreamRecord(repo_, rec));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(complete_));
    offset_ += complete_;
    ++result_.segments;
    result_.bytes += complete_;
    complete_ = 0;
    batches_.clear();
    return Status::Ok();
  }

  repo::Repository& repo_;
  const RedisStreamOptions& o_;
  std::unique_ptr<repo::RepoLock> lock_;
  bool positioned_ = false;  // a snapshot was taken: replid_/offset_/snapshot_ are valid
  std::string replid_;
  uint64_t offset_ = 0;  // stored (durable) offset: the stream offset of pending_[0] - 1
  Id snapshot_;
  Bytes pending_;        // received bytes not stored yet
  size_t complete_ = 0;  // pending_[0, complete_) are whole commands
  std::vector<repo::RedisStreamBatch> batches_;
  std::string lost_;
  RedisStreamResult result_;
};

}  // namespace

Result<RedisStreamResult> StreamRedis(repo::Repository& repo, const RedisStreamOptions& options) {
  if (options.backup.component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  Streamer streamer(repo, options);
  return streamer.Run();
}

Result<RedisStreamStatus> GetRedisStreamStatus(const repo::Repository& repo,
                                               const std::string& component) {
  RedisStreamStatus st;
  BW_ASSIGN_OR_RETURN(auto snaps, repo::LoadAllSnapshots(repo));
  for (const auto& s : snaps) {  // oldest first
    if (s.component != component || s.kind != kRedisSnapshotKind) continue;
    st.has_snapshot = true;
    st.last_snapshot_unix_ns = s.time_unix_ns;
    st.last_snapshot_id = s.id.Hex();
    st.replid = s.source.value("replid", std::string());
    st.offset = s.source.value("offset", uint64_t{0});
  }
  BW_ASSIGN_OR_RETURN(auto records, repo::ListRedisStreamRecords(repo, component));
  for (const auto& r : records) {
    ++st.segments;
    st.stream_bytes += r.end_offset - r.start_offset;
    if (r.batches.empty() || r.batches.back().unix_ns <= st.last_batch_unix_ns) continue;
    st.last_batch_unix_ns = r.batches.back().unix_ns;
    if (r.batches.back().unix_ns > st.last_snapshot_unix_ns) {
      st.replid = r.replid;
      st.offset = r.end_offset;
    }
  }
  return st;
}

}  // namespace bulwark::sources::redis

#include "sources/redis/stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
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

constexpr size_t kPiece = 1u << 20;  // stream bytes per data blob (large segments)
// A segment is stored early, before the flush interval, once this many bytes of whole
// commands are held: it stays inline (repo::kRedisStreamMaxInline) and memory stays bounded.
constexpr size_t kFlushBytes = 4u << 20;
constexpr int64_t kCoalesceNs = 1'000'000;  // batches closer than this share one index entry
constexpr size_t kMaxHistory = 1u << 20;    // old-stream batches kept during a snapshot switch

// Appends a batch ending at `end`, merged into the last one when they are close in time.
void AddBatch(std::vector<repo::RedisStreamBatch>& batches, uint64_t end, int64_t now) {
  if (!batches.empty() && now - batches.back().unix_ns < kCoalesceNs) {
    batches.back() = {end, now};
  } else {
    batches.push_back({end, now});
  }
}

// A periodic snapshot taken on a second replication connection while the first one keeps
// streaming, so that no point in time goes uncovered while the RDB transfers. Written by its
// thread until `done`, read by the streamer after.
struct NextSnapshot {
  std::thread thread;
  std::atomic<bool> done{false};
  std::optional<Error> error;
  std::optional<ReplicationClient> client;  // positioned at the new snapshot's stream
  FullResync resync;
  Id snapshot;
  uint64_t keys = 0;
};

class Streamer {
 public:
  Streamer(repo::Repository& repo, const RedisStreamOptions& options) : repo_(repo), o_(options) {}
  ~Streamer() { AbandonNextSnapshot(); }

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
        last_snapshot_ = SteadyClock::now();
        ++result_.snapshots;
        Log(fmt::format("snapshot {} saved ({} keys, replid {}, offset {}); streaming",
                        snapshot_.ShortHex(), snap->rdb.keys, replid_, offset_));
      }
      std::optional<ReplicationClient> current(std::move(*client));
      while (true) {
        lost_.clear();
        BW_RETURN_IF_ERROR(Pump(*current));
        if (!switch_to_) break;
        current.reset();  // the old connection: its stream is stored up to the switch
        current.emplace(std::move(*switch_to_));
        switch_to_.reset();
      }
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

  // Starts the next periodic snapshot on its own connection and lock.
  void StartNextSnapshot() {
    next_ = std::make_unique<NextSnapshot>();
    history_.clear();
    NextSnapshot* n = next_.get();
    n->thread = std::thread([this, n] {
      auto fail = [n](const Error& e) {
        n->error = e;
        n->done.store(true, std::memory_order_release);
      };
      auto client = ReplicationClient::Connect(o_.backup.endpoint, o_.backup.timeout_seconds);
      if (!client.ok()) return fail(client.error());
      if (Status st = client->Handshake(); !st.ok()) return fail(st.error());
      auto full = client->Psync();
      if (!full.ok()) return fail(full.error());
      auto lock = repo::RepoLock::Acquire(repo_, repo::LockKind::kShared, "redis-stream snapshot");
      if (!lock.ok()) return fail(lock.error());
      auto snap = ReceiveSnapshot(repo_, o_.backup, *client, *full, **lock);
      if (!snap.ok()) return fail(snap.error());
      n->resync = *full;
      n->snapshot = snap->snapshot.id;
      n->keys = snap->rdb.keys;
      n->client.emplace(std::move(*client));
      n->done.store(true, std::memory_order_release);
    });
  }

  void AbandonNextSnapshot() {
    if (!next_) return;
    if (next_->thread.joinable()) next_->thread.join();
    next_.reset();
    history_.clear();
  }

  // With the next snapshot committed: stores this stream up to now and prepares the switch to
  // the new connection (ok, switch_to_ set). A failed snapshot is logged and tried again a
  // minute later (ok, nothing to switch to).
  Status FinishNextSnapshot() {
    next_->thread.join();
    std::unique_ptr<NextSnapshot> n = std::move(next_);
    if (n->error) {
      if (n->error->code() != ErrorCode::kCancelled) {
        Log("periodic snapshot failed: " + n->error->message() + "; trying again in a minute");
        last_snapshot_ = SteadyClock::now() - std::chrono::seconds(std::max<int64_t>(
                                                  o_.snapshot_interval_seconds - 60, 0));
      }
      history_.clear();
      return Status::Ok();
    }
    // The old stream is complete up to now: a batch at its end says so, so that a time after
    // its last command but before the switch (when the new snapshot may already carry a later
    // time) still restores from it.
    AddBatch(batches_, offset_ + complete_, NowNs());
    BW_RETURN_IF_ERROR(Flush());
    // The commands the primary kept for the new connection during its RDB transfer arrive in
    // a burst; the old connection saw them as they happened, so they keep those times.
    overlap_.clear();
    if (n->resync.replid == replid_) {
      for (const auto& b : history_) {
        if (b.offset > n->resync.offset) overlap_.push_back(b);
      }
    }
    history_.clear();
    Log(
        fmt::format("periodic snapshot {} saved ({} keys, replid {}, offset {}); the stream "
                    "continues from it (the previous snapshot's stream ends at offset {})",
                    n->snapshot.ShortHex(), n->keys, n->resync.replid, n->resync.offset, offset_));
    snapshot_ = n->snapshot;
    replid_ = n->resync.replid;
    offset_ = n->resync.offset;
    pending_.clear();
    complete_ = 0;
    batches_.clear();
    ++result_.snapshots;
    last_snapshot_ = SteadyClock::now();
    switch_to_.emplace(std::move(*n->client));
    return Status::Ok();
  }

  // When the command ending at `end` was first seen (on the old connection, before a switch).
  int64_t StampFor(uint64_t end, int64_t now) {
    while (!overlap_.empty() && overlap_.front().offset < end) overlap_.pop_front();
    return overlap_.empty() ? now : std::min(now, overlap_.front().unix_ns);
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
      if (next_ && next_->done.load(std::memory_order_acquire)) {
        BW_RETURN_IF_ERROR(FinishNextSnapshot());
        if (switch_to_) return Status::Ok();
      } else if (!next_ && o_.snapshot_interval_seconds > 0 &&
                 SteadyClock::now() - last_snapshot_ >=
                     std::chrono::seconds(o_.snapshot_interval_seconds)) {
        StartNextSnapshot();
      }
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
          AddBatch(batches_, end, StampFor(end, now));
          if (next_ && history_.size() < kMaxHistory) AddBatch(history_, end, now);
        }
      }
      if (ack_due || complete_ >= kFlushBytes || SteadyClock::now() - last_flush >= interval) {
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

  // Stores the whole commands held (pending_[0, complete_)) as one segment (inline up to
  // repo::kRedisStreamMaxInline bytes, else in data blobs); with no command but a batch (the
  // end marker of a stream before a snapshot switch), an empty segment.
  Status Flush() {
    if (complete_ == 0 && batches_.empty()) return Status::Ok();
    BW_RETURN_IF_ERROR(EnsureLock());
    repo::RedisStreamRecord rec;
    rec.component = o_.backup.component;
    rec.snapshot = snapshot_;
    rec.replid = replid_;
    rec.start_offset = offset_;
    rec.end_offset = offset_ + complete_;
    rec.batches = batches_;
    rec.stored_unix_ns = NowNs();
    if (complete_ <= repo::kRedisStreamMaxInline) {
      // The usual case: one object, one create-only PUT.
      BW_RETURN_IF_ERROR(
          repo::PutInlineRedisStreamRecord(repo_, rec, ByteView(pending_.data(), complete_)));
    } else {
      // A segment too large to hold inline (a huge command): its bytes go to data blobs.
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
      rec.stored_unix_ns = NowNs();
      BW_RETURN_IF_ERROR(repo::PutRedisStreamRecord(repo_, rec));
    }
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
  SteadyClock::time_point last_snapshot_;
  std::unique_ptr<NextSnapshot> next_;
  std::vector<repo::RedisStreamBatch> history_;  // this stream's batches since next_ began
  std::deque<repo::RedisStreamBatch> overlap_;   // the old stream's batches after the switch
  std::optional<ReplicationClient> switch_to_;
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
  // Counted from the listing: loading every segment would cost one read each.
  BW_ASSIGN_OR_RETURN(auto listing, const_cast<repo::Repository&>(repo).backend().List(
                                        repo::RedisStreamComponentPrefix(repo, component)));
  st.segments = listing.size();
  BW_ASSIGN_OR_RETURN(auto snaps, repo::LoadAllSnapshots(repo));
  std::vector<const repo::Snapshot*> mine;  // newest first
  for (auto it = snaps.rbegin(); it != snaps.rend(); ++it) {
    if (it->component == component && it->kind == kRedisSnapshotKind) mine.push_back(&*it);
  }
  if (mine.empty()) return st;
  st.has_snapshot = true;
  st.last_snapshot_unix_ns = mine.front()->time_unix_ns;
  st.last_snapshot_id = mine.front()->id.Hex();
  st.replid = mine.front()->source.value("replid", std::string());
  st.offset = mine.front()->source.value("offset", uint64_t{0});
  if (listing.empty()) return st;
  // The newest stream: that of the newest snapshot that has one (a snapshot taken a moment
  // ago may have none yet, while the previous one's stream runs on until the switch).
  for (const repo::Snapshot* s : mine) {
    BW_ASSIGN_OR_RETURN(auto records, repo::ListRedisStreamRecords(repo, component, s->id));
    for (const auto& r : records) {
      st.stream_bytes += r.end_offset - r.start_offset;
      if (r.batches.empty() || r.batches.back().unix_ns <= st.last_batch_unix_ns) continue;
      st.last_batch_unix_ns = r.batches.back().unix_ns;
      if (r.batches.back().unix_ns > st.last_snapshot_unix_ns) {
        st.replid = r.replid;
        st.offset = r.end_offset;
      }
    }
    if (st.last_batch_unix_ns != 0) break;
  }
  return st;
}

}  // namespace bulwark::sources::redis

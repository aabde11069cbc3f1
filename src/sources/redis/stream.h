// Continuous capture of a Redis primary (`bulwark redis-stream`): a full sync stored as a
// normal redis snapshot, then the replication stream kept as time-indexed segments
// (repo/redis_stream_store.h), each normally one object, stored twice a second (and early when
// 4 MiB are held), with REPLCONF ACK for the durable offset. Reconnects with backoff and PSYNC
// <replid> <offset+1>; a +FULLRESYNC answer starts a new snapshot, and so does each snapshot
// interval (on a second connection, in a thread of its own, while the stream goes on).
// StreamRedis runs on the calling thread until CancelRequested() (then it stores what it holds
// and returns ok) or an error that retrying cannot fix.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"
#include "repo/repository.h"
#include "sources/redis/backup.h"

namespace bulwark::sources::redis {

struct RedisStreamOptions {
  RedisBackupOptions backup;    // endpoint, component, tags, timeouts, spill settings
  int flush_interval_ms = 500;  // while commands arrive, a segment at least this often
  // A fresh snapshot this often (0: only when the primary cannot continue the stream), taken
  // on a second connection while the first keeps streaming; later segments continue it, so a
  // restore replays at most this much stream and forget can expire the older part.
  int64_t snapshot_interval_seconds = 900;
  int max_backoff_ms = 10000;
  std::function<void(const std::string&)> log;  // one line per event (may be empty)
};

struct RedisStreamResult {
  uint64_t snapshots = 0;
  uint64_t segments = 0;
  uint64_t bytes = 0;  // stream bytes stored
  uint64_t continues = 0;
  uint64_t full_resyncs = 0;  // after the first snapshot
  std::string replid;
  uint64_t offset = 0;  // durable offset at the end
};

// kUsage for credentials/ACL problems (not retried), kLocked if the repository lock is lost
// and cannot be taken again; connection failures are retried forever.
Result<RedisStreamResult> StreamRedis(repo::Repository& repo, const RedisStreamOptions& options);

// What redis-status reports for a component.
struct RedisStreamStatus {
  bool has_snapshot = false;
  int64_t last_snapshot_unix_ns = 0;
  std::string last_snapshot_id;
  int64_t last_batch_unix_ns = 0;  // 0: no stream captured
  std::string replid;
  uint64_t offset = 0;
  uint64_t segments = 0;      // stored segments of every snapshot of the component
  uint64_t stream_bytes = 0;  // stream bytes after the newest snapshot that has a stream
};
Result<RedisStreamStatus> GetRedisStreamStatus(const repo::Repository& repo,
                                               const std::string& component);

}  // namespace bulwark::sources::redis

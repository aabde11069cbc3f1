// Redis source, restore side: writes a "redis" snapshot's dump.rdb (bit for bit the RDB that
// was received) into a directory, so that `redis-server --dir DIR --dbfilename dump.rdb` loads
// it, and re-verifies the written file with the RDB parser; RestoreRedisAt adds the captured
// replication stream up to a time as a Redis 7 multi-part AOF. One call per restore, from any
// one thread; the repository index must be loaded.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/redis_stream_store.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "sources/redis/rdb_parser.h"

namespace bulwark::sources::redis {

struct RedisRestoreOptions {
  std::string target;  // created if missing
  bool force = false;  // replace an existing target/dump.rdb
  Progress* progress = nullptr;
};

struct RedisRestoreResult {
  std::string path;  // target/dump.rdb
  RdbInfo rdb;       // from re-reading the restored file
};

// Of an incremental snapshot this writes only the dump.rdb it shares with its full snapshot:
// RestoreRedisPlan(PlanRedisIncremental) adds its stream.
// kUsage if the snapshot is not of kind "redis" or dump.rdb exists without force; kIntegrity
// if the repository data is damaged or the restored file does not verify.
Result<RedisRestoreResult> RestoreRedis(repo::Repository& repo, const repo::Snapshot& snapshot,
                                        const RedisRestoreOptions& options);

inline constexpr char kAofDirName[] = "appendonlydir";

struct RedisPitrOptions {
  std::string target;
  bool force = false;
  int64_t time_unix_ns = 0;  // restore the keyspace as it was at this time
  std::string component;     // for "latest"; empty: the newest redis snapshot's component
  Progress* progress = nullptr;
};

struct RedisPitrResult {
  repo::Snapshot snapshot;  // the base
  std::string aof_dir;      // target/appendonlydir
  RdbInfo rdb;
  uint64_t from_offset = 0;  // the stream bytes (from_offset, to_offset] were applied
  uint64_t to_offset = 0;
  int64_t last_batch_unix_ns = 0;  // receipt time of the last batch applied (0: none)
  uint64_t commands = 0;           // commands written to the incremental AOF
  uint64_t dropped_commands = 0;   // PING, REPLCONF, and a transaction cut at the end
};

// The base snapshot and the captured stream that lead to a point in time.
struct RedisPitrPlan {
  repo::Snapshot snapshot;  // the base
  // An incremental snapshot's own stream.resp (its data blobs, in order), which comes first.
  std::vector<Id> snapshot_stream;
  std::vector<repo::RedisStreamRecord> chain;  // records holding (from_offset, to_offset]
  uint64_t from_offset = 0;                    // the snapshot's replication offset
  uint64_t to_offset = 0;                      // end of the last batch received by the time
  int64_t last_batch_unix_ns = 0;              // its receipt time (0: none)
};

// Picks the base and the stream for `time_unix_ns` as RestoreRedisAt describes (`base` given or
// the newest fitting snapshot of `component`; empty: the newest redis snapshot's component).
// kUsage for a time no captured stream covers, kNotFound without a Redis snapshot.
Result<RedisPitrPlan> PlanRedisPitr(repo::Repository& repo,
                                    const std::optional<repo::Snapshot>& base,
                                    const std::string& component, int64_t time_unix_ns);

// An incremental snapshot restores like a point in time: its dump.rdb, then its stream.resp
// (from its base offset to its own offset). kUsage for any other snapshot.
Result<RedisPitrPlan> PlanRedisIncremental(const repo::Repository& repo,
                                           const repo::Snapshot& snapshot);

// Passes the plan's stream bytes (from_offset, to_offset] to `sink` in order, in pieces cut
// anywhere. kIntegrity for unreadable stream data.
Status ReadRedisStream(const repo::Repository& repo, const RedisPitrPlan& plan,
                       const std::function<Status(ByteView)>& sink);

// Point-in-time restore. `base` is an explicit full snapshot, or nullopt to pick the newest full
// redis snapshot (of the component) taken at or before the time whose captured stream reaches
// it (incremental snapshots carry no captured stream of their own).
// Writes target/dump.rdb (the base snapshot) and target/appendonlydir/ (the base RDB, the
// stream's commands up to the last batch received at or before the time, and the manifest),
// so `redis-server --dir target --appendonly yes` loads the keyspace at that time. kUsage,
// before anything is written, for a time before the oldest snapshot or after the newest
// captured batch, or one no snapshot's stream covers (a gap).
Result<RedisPitrResult> RestoreRedisAt(repo::Repository& repo,
                                       const std::optional<repo::Snapshot>& base,
                                       const RedisPitrOptions& options);

// Writes what `plan` describes, as RestoreRedisAt does (options.time_unix_ns and component are
// not used): for PlanRedisIncremental, the keyspace at the incremental snapshot's offset.
Result<RedisPitrResult> RestoreRedisPlan(repo::Repository& repo, const RedisPitrPlan& plan,
                                         const RedisPitrOptions& options);

}  // namespace bulwark::sources::redis

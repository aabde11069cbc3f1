// Redis source, restore side: writes a "redis" snapshot's dump.rdb (bit for bit the RDB that
// was received) into a directory, so that `redis-server --dir DIR --dbfilename dump.rdb` loads
// it, and re-verifies the written file with the RDB parser; RestoreRedisAt adds the captured
// replication stream up to a time as a Redis 7 multi-part AOF. One call per restore, from any
// one thread; the repository index must be loaded.
#pragma once

#include <optional>
#include <string>

#include "core/progress.h"
#include "core/result.h"
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

// Point-in-time restore. `base` is an explicit snapshot, or nullopt to pick the newest redis
// snapshot (of the component) taken at or before the time whose captured stream reaches it.
// Writes target/dump.rdb (the base snapshot) and target/appendonlydir/ (the base RDB, the
// stream's commands up to the last batch received at or before the time, and the manifest),
// so `redis-server --dir target --appendonly yes` loads the keyspace at that time. kUsage,
// before anything is written, for a time before the oldest snapshot or after the newest
// captured batch, or one no snapshot's stream covers (a gap).
Result<RedisPitrResult> RestoreRedisAt(repo::Repository& repo,
                                       const std::optional<repo::Snapshot>& base,
                                       const RedisPitrOptions& options);

}  // namespace bulwark::sources::redis

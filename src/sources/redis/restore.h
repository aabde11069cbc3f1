// Redis source, restore side: writes a "redis" snapshot's dump.rdb (bit for bit the RDB that
// was received) into a directory, so that `redis-server --dir DIR --dbfilename dump.rdb` loads
// it, and re-verifies the written file with the RDB parser. One call per restore, from any
// one thread; the repository index must be loaded.
#pragma once

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

}  // namespace bulwark::sources::redis

// Redis source, restore into a live server (`restore redis --to redis://...`): streams a
// "redis" snapshot's dump.rdb from the repository through the RDB parser and sends every key as
// RESTORE (its RDB serialisation + RDB version + CRC-64, the DUMP format) with its absolute
// expiry, in the right database, then for a point in time the captured replication stream's
// commands up to it; pipelined in batches bounded by configuration. Refuses a server that
// holds keys unless forced. One call per restore, from any one thread; the repository index
// must be loaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/progress.h"
#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "sources/redis/rdb_parser.h"
#include "sources/redis/redis_connection.h"

namespace bulwark::sources::redis {

struct RedisRestoreToOptions {
  RedisEndpoint endpoint;
  int timeout_seconds = 60;
  // Restore into a server that already holds keys: keys of the snapshot replace those of the
  // same name (RESTORE ... REPLACE, FUNCTION RESTORE REPLACE); other keys stay.
  bool force = false;
  std::optional<int64_t> time_unix_ns;  // also replay the captured stream up to this time
  std::string component;                // with a time and no explicit snapshot
  // Commands sent before their replies are read: at most this many bytes (one larger command
  // is sent alone) and this many commands.
  size_t batch_bytes = 8u << 20;
  size_t batch_commands = 10000;
  Progress* progress = nullptr;  // bytes_done = RDB bytes read
};

struct RedisRestoreToResult {
  repo::Snapshot snapshot;  // the base
  RdbInfo rdb;
  uint64_t keys_existing = 0;  // keys the server held before (only with force)
  uint64_t keys_restored = 0;  // RESTORE commands sent (a key already expired is not created)
  uint64_t functions = 0;      // function libraries restored
  // Point in time and incremental snapshots only:
  uint64_t from_offset = 0;
  uint64_t to_offset = 0;
  int64_t last_batch_unix_ns = 0;
  uint64_t commands = 0;          // stream commands replayed
  uint64_t dropped_commands = 0;  // PING, REPLCONF, PUBLISH, a transaction cut at the end
  uint64_t keys_after = 0;        // keys in the server at the end (INFO keyspace)
};

// `snapshot` is the snapshot to restore; with a time it may be nullopt (the newest snapshot of
// options.component whose stream reaches the time). kUsage for a server that holds keys
// without force (before anything is written), for wrong credentials or missing ACL rights, and
// for times outside the capture; kIntegrity for damaged repository data; kFailure when the
// server refuses a key (the error names it; keys sent before it stay in the server).
Result<RedisRestoreToResult> RestoreRedisTo(repo::Repository& repo,
                                            const std::optional<repo::Snapshot>& snapshot,
                                            const RedisRestoreToOptions& options);

// The DUMP/RESTORE payload of a value: its type byte, its RDB serialisation, the RDB version
// (2 bytes, little endian) and the CRC-64 of all that (8 bytes, little endian).
std::string DumpPayload(uint8_t type, ByteView value, int rdb_version);

}  // namespace bulwark::sources::redis

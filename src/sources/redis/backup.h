// Redis source, backup side: connects to a Redis primary as a replica, receives the full-resync
// RDB (on-disk or diskless form) on a receiver thread that never stalls the socket, verifies
// it with the streaming RDB parser while chunking and storing it, and commits a snapshot of
// kind "redis" holding one file "dump.rdb" only when the whole RDB verified. One call runs one
// backup from any one thread; the repository index must be loaded (Repository::LoadIndex).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/blob_writer.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "sources/redis/rdb_parser.h"
#include "sources/redis/replication_client.h"

namespace bulwark::sources::redis {

inline constexpr char kRedisSnapshotKind[] = "redis";
inline constexpr char kRdbFileName[] = "dump.rdb";

struct RedisBackupOptions {
  RedisEndpoint endpoint;
  std::string component;  // required
  std::vector<std::string> tags;
  std::string hostname;      // empty: this host's name
  int timeout_seconds = 60;  // connect, and silence from the server (it sends keep-alives)
  // Received bytes that may wait for the chunker/writer; beyond this the receiver waits (and
  // the server's output buffer for this replica grows). Large, so bursts are absorbed.
  size_t max_buffered_bytes = 256u << 20;
  repo::WriterOptions writer;
  Progress* progress = nullptr;  // bytes_done = RDB bytes received
};

struct RedisBackupResult {
  repo::Snapshot snapshot;  // as saved (id set)
  RdbInfo rdb;
  FullResync resync;
  bool diskless = false;
  uint64_t bytes_added = 0;   // plaintext of new blobs (data + tree)
  uint64_t bytes_stored = 0;  // sealed bytes of new blobs
  uint64_t blobs_new = 0;
  double duration_seconds = 0;
};

// Errors: kUsage for wrong credentials / missing ACL permissions (see ReplicationClient),
// kFailure for a loading server, a malformed or unsupported RDB, or a transfer cut short (the
// message says how many bytes arrived). Nothing is committed on any error.
Result<RedisBackupResult> BackupRedis(repo::Repository& repo, const RedisBackupOptions& options);

}  // namespace bulwark::sources::redis

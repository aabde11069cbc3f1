// Redis source, backup side: connects to a Redis primary as a replica, receives the full-resync
// RDB (on-disk or diskless form) on a receiver thread that never stalls the socket, verifies
// it with the streaming RDB parser while chunking and storing it, and commits a snapshot of
// kind "redis" holding one file "dump.rdb" only when the whole RDB verified. When the
// component's last snapshot can be continued (PSYNC <replid> <offset> answered +CONTINUE), the
// snapshot is incremental instead: the same dump.rdb plus "stream.resp", the replication stream
// from the RDB's offset to the server's offset at backup time, of which only the new part is
// stored. One call runs one backup from any one thread; the repository index must be loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/blob_writer.h"
#include "repo/lock.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "sources/redis/rdb_parser.h"
#include "sources/redis/replication_client.h"
#include "sources/redis/spill_buffer.h"

namespace bulwark::sources::redis {

inline constexpr char kRedisSnapshotKind[] = "redis";
inline constexpr char kRdbFileName[] = "dump.rdb";
inline constexpr char kStreamFileName[] = "stream.resp";

// Whether the snapshot is incremental (dump.rdb of an earlier full snapshot + stream.resp).
bool IsIncrementalRedisSnapshot(const repo::Snapshot& snapshot);

struct RedisBackupOptions {
  RedisEndpoint endpoint;
  std::string component;  // required
  std::vector<std::string> tags;
  std::string hostname;      // empty: this host's name
  int timeout_seconds = 60;  // connect, and silence from the server (it sends keep-alives)
  // Received bytes that may wait in memory for the parser/chunker/writer. Beyond this they go
  // to an unlinked temporary file in spill_dir (bounded by disk, not RAM), so the socket is
  // still drained at the server's pace. Without a spill_dir the receiver waits instead (and
  // the primary's output buffer for this replica grows).
  size_t max_buffered_bytes = 32u << 20;
  std::string spill_dir;
  // The spill buffer absorbs the backlog, so the writer's queue only has to keep its workers
  // busy (chunks average 1 MiB): a small one keeps the peak memory low. zstd level 1: an RDB's
  // compressible strings are LZF-compressed already, and on market-data values level 1 both
  // ran twice as fast as level 3 and stored less (docs/BENCHMARKS.md).
  repo::WriterOptions writer{.max_queued_bytes = 16u << 20, .compression_level = 1};
  Progress* progress = nullptr;  // bytes_done = RDB bytes received
  // Take a full snapshot even when the last one could be continued.
  bool full = false;
  // A full snapshot once the stream since the last one exceeds this share of its RDB (a restore
  // replays the whole stream; the next full snapshot starts a new one).
  double max_stream_ratio = 0.5;
};

struct RedisBackupResult {
  repo::Snapshot snapshot;  // as saved (id set)
  RdbInfo rdb;
  FullResync resync;
  bool diskless = false;
  SpillStats buffer;
  uint64_t bytes_added = 0;   // plaintext of new blobs (data + tree)
  uint64_t bytes_stored = 0;  // sealed bytes of new blobs
  uint64_t blobs_new = 0;
  double duration_seconds = 0;
  // Incremental only (rdb then describes the dump.rdb it shares with its full snapshot, but
  // rdb.keys the keys the server held at the snapshot's offset).
  bool incremental = false;
  uint64_t stream_bytes_new = 0;    // stream received by this backup
  uint64_t stream_bytes_total = 0;  // stream.resp: everything since the full snapshot
  // Full only: why no incremental snapshot was taken (empty: no earlier snapshot).
  std::string full_reason;
};

// Tries an incremental snapshot first (unless options.full), which needs +info besides the
// replication rights; falls back to a full one and says why in full_reason.
// Errors: kUsage for wrong credentials / missing ACL permissions (see ReplicationClient),
// kFailure for a loading server, a malformed or unsupported RDB, or a transfer cut short (the
// message says how many bytes arrived). Nothing is committed on any error.
Result<RedisBackupResult> BackupRedis(repo::Repository& repo, const RedisBackupOptions& options);

// The second half of BackupRedis, for a caller that keeps the connection (redis-stream):
// receives the RDB that follows the +FULLRESYNC `resync` on `client`, verifies it and commits
// the snapshot (the caller holds `lock`, a shared repository lock). Afterwards the client is
// positioned at the first byte of the replication stream (offset resync.offset + 1).
Result<RedisBackupResult> ReceiveSnapshot(repo::Repository& repo, const RedisBackupOptions& options,
                                          ReplicationClient& client, const FullResync& resync,
                                          const repo::RepoLock& lock);

}  // namespace bulwark::sources::redis

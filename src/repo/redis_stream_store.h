// Redis replication stream area of the repository: one small sealed record per stored
// segment of a Redis replication stream (raw RESP bytes between two offsets, with the wall
// clock time at which each batch of whole commands arrived), whose bytes live as data blobs in
// ordinary packs. Each record names the redis snapshot whose stream it continues. Records are
// stored under
//   redis-stream/<HMAC(component)>/<HMAC(component, snapshot)>/<HMAC(component, snapshot,
//   start offset)>
// (keyed with the repository MAC key, domain-separated, as in wal_store.h), create-only and
// never modified; the key is the AEAD's associated data. The per-snapshot folder lets restore
// read one snapshot's stream and forget drop a forgotten snapshot's stream without decoding
// anything. Functions are safe from any thread given a Repository.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/object_lock.h"
#include "repo/repository.h"

namespace bulwark::repo {

inline constexpr const char* kRedisStreamPrefix = "redis-stream/";

struct RedisStreamBatch {
  uint64_t offset = 0;  // replication offset just after the batch's last whole command
  int64_t unix_ns = 0;  // when Bulwark received it
};

struct RedisStreamRecord {
  std::string component;
  Id snapshot;                // the redis snapshot whose stream this continues
  std::string replid;         // replication ID the bytes were received under
  uint64_t start_offset = 0;  // the bytes are the stream's (start_offset, end_offset]
  uint64_t end_offset = 0;
  std::vector<RedisStreamBatch> batches;  // ascending; the last one ends at end_offset
  std::vector<Id> blobs;                  // data blobs in order, end_offset - start_offset bytes
  int64_t stored_unix_ns = 0;
};

std::string RedisStreamComponentPrefix(const Repository& repo, const std::string& component);
std::string RedisStreamSnapshotPrefix(const Repository& repo, const std::string& component,
                                      const Id& snapshot);
std::string RedisStreamRecordKey(const Repository& repo, const std::string& component,
                                 const Id& snapshot, uint64_t start_offset);

// Stores the record create-only (kAlreadyExists if one with that key exists). Durable when ok.
Status PutRedisStreamRecord(Repository& repo, const RedisStreamRecord& record);
// Every record of the component (loaded in parallel), sorted by snapshot then start offset.
Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component);
// Only the records continuing `snapshot`, sorted by start offset.
Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component,
                                                              const Id& snapshot);
// One record by its key (authenticated; kNotFound when it is gone).
Result<RedisStreamRecord> LoadRedisStreamRecord(const Repository& repo, const std::string& key);
// Data blobs referenced by every record of every component (prune counts them as used).
Status ForEachRedisStreamBlob(const Repository& repo, const std::function<void(const Id&)>& fn);

// Retention of the stream area: a record is kept while the snapshot it continues exists.
struct RedisStreamExpireResult {
  uint64_t removed = 0;  // records removed (or, dry run, that would be)
  uint64_t bytes = 0;    // their object sizes (the stream bytes go with the next prune)
  LockedTally locked;    // records whose snapshot is gone but that are under object lock
};
// Removes the records (of `component`; empty = every component) whose snapshot no longer
// exists or is in `forgotten` (those a forget removes or, in a dry run, would remove).
Result<RedisStreamExpireResult> ExpireRedisStream(Repository& repo, const std::string& component,
                                                  const std::set<Id>& forgotten, bool dry_run);

Bytes EncodeRedisStreamRecord(const RedisStreamRecord& record);
Result<RedisStreamRecord> DecodeRedisStreamRecord(ByteView plaintext);

}  // namespace bulwark::repo

// Redis replication stream area of the repository: one sealed record per stored segment of a
// Redis replication stream (raw RESP bytes between two offsets, with the wall clock time at
// which each batch of whole commands arrived). Each record names the redis snapshot whose
// stream it continues. A small segment carries its bytes inline (zstd, sealed apart from the
// header, so the segment is ONE object and one PUT); a larger one names data blobs in ordinary
// packs. Records are stored under
//   redis-stream/<HMAC(component)>/<HMAC(component, snapshot)>/<HMAC(component, snapshot,
//   start offset)>[.i]
// (keyed with the repository MAC key, domain-separated, as in wal_store.h; ".i" marks the
// inline form, so prune and copy know from the listing that such a record names no blob),
// create-only and never modified; the key is the AEAD's associated data. The per-snapshot
// folder lets restore read one snapshot's stream and forget drop a forgotten snapshot's stream
// without decoding anything. Functions are safe from any thread given a Repository.
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
inline constexpr const char* kRedisStreamInlineSuffix = ".i";
// Segments up to this many stream bytes may be stored inline (larger ones use data blobs), so
// reading or writing one segment holds at most this much (plus its compressed form) in memory.
inline constexpr size_t kRedisStreamMaxInline = 8u << 20;

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
  // Where the end_offset - start_offset bytes are: inline in the record's object (their keyed
  // hash, as a data blob ID, is inline_id), or the data blobs in order.
  bool is_inline = false;
  Id inline_id;
  std::vector<Id> blobs;
  int64_t stored_unix_ns = 0;
};

std::string RedisStreamComponentPrefix(const Repository& repo, const std::string& component);
std::string RedisStreamSnapshotPrefix(const Repository& repo, const std::string& component,
                                      const Id& snapshot);
std::string RedisStreamRecordKey(const Repository& repo, const std::string& component,
                                 const Id& snapshot, uint64_t start_offset, bool is_inline = false);
// Whether the record stored under `key` is of the inline form (from the key alone).
bool IsInlineRedisStreamKey(const std::string& key);

// Stores the record, whose stream bytes are already in data blobs (record.blobs; is_inline
// false), create-only (kAlreadyExists if one with that key exists). Durable when ok.
Status PutRedisStreamRecord(Repository& repo, const RedisStreamRecord& record);
// Stores the record with `bytes` (end_offset - start_offset of them, at most
// kRedisStreamMaxInline) inline: one create-only object; record.blobs must be empty, is_inline
// and inline_id are filled in here. Durable when ok.
Status PutInlineRedisStreamRecord(Repository& repo, const RedisStreamRecord& record,
                                  ByteView bytes);
// Passes the record's first `limit` stream bytes (at most end_offset - start_offset) to `sink`
// in order, in pieces: from its own object (inline) or its blobs. kIntegrity when they are
// unreadable or fewer than the record says, kNotFound when the inline record is gone.
Status ReadRedisStreamBytes(const Repository& repo, const RedisStreamRecord& record, uint64_t limit,
                            const std::function<Status(ByteView)>& sink);
// Every record of the component (loaded in parallel), sorted by snapshot then start offset.
Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component);
// Only the records continuing `snapshot`, sorted by start offset.
Result<std::vector<RedisStreamRecord>> ListRedisStreamRecords(const Repository& repo,
                                                              const std::string& component,
                                                              const Id& snapshot);
// One record (its header: the inline bytes are read by ReadRedisStreamBytes) by its key
// (authenticated; kNotFound when it is gone).
Result<RedisStreamRecord> LoadRedisStreamRecord(const Repository& repo, const std::string& key);
// Data blobs referenced by every record of every component (prune counts them as used). Reads
// only the records of the blob form.
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

// The record's header (JSON; the plaintext of the blob form's whole object, and the first seal
// of the inline form's).
Bytes EncodeRedisStreamRecord(const RedisStreamRecord& record);
Result<RedisStreamRecord> DecodeRedisStreamRecord(ByteView plaintext);

// The stored object of the inline form: u32 LE length of the sealed header || sealed header ||
// sealed data. The data plaintext is framed like a blob (0x00 raw, 0x01 zstd frame).
Bytes EncodeInlineRedisStreamObject(const Repository& repo, const std::string& key,
                                    const RedisStreamRecord& record, ByteView bytes);

}  // namespace bulwark::repo

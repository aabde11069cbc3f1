// BlobWriter: the storing half of the backup pipeline. Callers hand it plaintext blobs with
// their IDs; it deduplicates (against the index and blobs added earlier), compresses and
// encrypts on a worker pool, assembles packs, uploads them in parallel and writes index files.
// Memory is bounded by WriterOptions, not by input size: Add blocks when queues are full.
// Add and Known are safe from many threads at once; Flush is called once, by one thread,
// after every Add has returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

// Memory: up to max_queued_bytes of plaintext, plus packs of about the repository's pack size:
// one being uploaded per uploader, one queued, one being filled per blob type, one per worker
// that finished a pack while all uploaders were busy, and two kept for reuse: about
// (uploaders + workers + 5) x pack size.
struct WriterOptions {
  int workers = 0;  // compress+encrypt threads; 0 = hardware concurrency
  // Pack uploads in flight; 0 = what suits the repository's backend
  // (storage::s3::ConcurrentPutsFor: 2 for a local disk, BULWARK_S3_UPLOADS for S3).
  int uploaders = 0;
  size_t max_queued_bytes = 64u << 20;  // plaintext waiting for workers
  uint32_t packs_per_index = 64;        // write an index file every N packs (crash progress)
  // zstd level for this writer's blobs instead of the repository's (a source that knows its
  // data compresses as well, faster, at another level).
  std::optional<int> compression_level = std::nullopt;
};

struct WriterStats {
  uint64_t blobs_new = 0;
  uint64_t blobs_duplicate = 0;
  uint64_t bytes_new_raw = 0;     // plaintext bytes of new blobs
  uint64_t bytes_new_stored = 0;  // sealed bytes of new blobs
  uint64_t packs_written = 0;
  uint64_t index_files_written = 0;
};

class BlobWriter {
 public:
  BlobWriter(Repository& repo, WriterOptions options);
  // Without a successful Flush, queued blobs are dropped; packs already uploaded stay as
  // unreferenced data for prune.
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Stores the blob unless the repository already has it in a usable pack or it was added
  // before. Returns true if it was new. Fails only after an earlier asynchronous failure
  // (e.g. an upload error), which it then reports.
  Result<bool> Add(BlobType type, const Id& id, Bytes plaintext);
  // Same, computing the ID (keyed hash) first.
  Result<Id> Add(BlobType type, Bytes plaintext, bool* is_new = nullptr);
  // Same as Add, but compresses and encrypts in the calling thread: no copy of the plaintext
  // and no hand-off to a worker. For callers that already run a thread per core (the
  // PostgreSQL readers); `plaintext` need only live until it returns.
  Result<bool> AddInCaller(BlobType type, const Id& id, ByteView plaintext);
  bool Known(BlobType type, const Id& id) const;

  // Waits for every queued blob, uploads the last packs and writes the remaining index
  // entries. After ok, every added blob is durable and indexed (and in repo.index()). After an
  // upload failure, returns it, once the packs that were stored are indexed too.
  Status Flush();

  WriterStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bulwark::repo

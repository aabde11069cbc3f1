#include "repo/blob_writer.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/bounded_queue.h"
#include "repo/pack.h"
#include "storage/s3/s3_backend.h"

namespace bulwark::repo {

namespace {

struct BlobKey {
  Id id;
  BlobType type;
  bool operator==(const BlobKey&) const = default;
};
struct BlobKeyHash {
  size_t operator()(const BlobKey& k) const noexcept {
    return IdHash()(k.id) ^ static_cast<size_t>(k.type);
  }
};

// Queue cost of a blob beyond its bytes, so a flood of empty blobs is still bounded.
constexpr size_t kPerBlobCost = 128;

// An index file is written once this many blobs are waiting for one, whatever the pack count:
// with millions of tiny files the pending entries (and the encoded file) would otherwise
// duplicate the whole in-memory index at Flush time.
constexpr size_t kMaxBlobsPerIndexFile = 1u << 16;

// Pack buffers kept for reuse once their pack is stored.
constexpr size_t kSparePacks = 2;

}  // namespace

struct BlobWriter::Impl {
  struct Job {
    BlobType type;
    Id id;
    Bytes plaintext;
  };
  struct Upload {
    Bytes data;
    IndexedPack pack;
  };

  Impl(Repository& r, WriterOptions o)
      : repo(r),
        options(o),
        jobs(o.max_queued_bytes),
        // One finished pack may wait while the uploaders are busy; workers that finish more
        // block on Push, which bounds memory and throttles them to the storage's pace.
        uploads(1) {
    if (options.workers <= 0) {
      unsigned n = std::thread::hardware_concurrency();
      options.workers = n == 0 ? 1 : static_cast<int>(n);
    }
    if (options.uploaders <= 0)
      options.uploaders = std::max(1, storage::s3::ConcurrentPutsFor(repo.backend()));
    if (options.packs_per_index == 0) options.packs_per_index = 1;
    for (int i = 0; i < options.workers; ++i) workers.emplace_back([this] { WorkerLoop(); });
    for (int i = 0; i < options.uploaders; ++i) uploaders.emplace_back([this] { UploaderLoop(); });
  }

  ~Impl() {
    stopping = true;
    jobs.Close();
    for (auto& t : workers) t.join();
    uploads.Close();
    for (auto& t : uploaders) t.join();
  }

  void SetError(const Error& e) {
    std::lock_guard lock(error_mu);
    if (!error) error = e;
    failed.store(true);
  }
  Status CurrentError() const {
    if (!failed.load()) return Status::Ok();
    std::lock_guard lock(error_mu);
    return *error;
  }

  // Check-and-claim under one lock so two threads adding the same blob store it once.
  bool Claim(BlobType type, const Id& id) {
    std::lock_guard lock(seen_mu);
    BlobKey key{id, type};
    if (in_flight.count(key) || repo.index().HasUsable(type, id)) return false;
    in_flight.insert(key);
    return true;
  }

  bool Known(BlobType type, const Id& id) const {
    std::lock_guard lock(seen_mu);
    return in_flight.count(BlobKey{id, type}) > 0 || repo.index().HasUsable(type, id);
  }

  PackBuilder NewBuilder() {
    Bytes buffer;
    {
      std::lock_guard lock(spare_mu);
      if (!spare.empty()) {
        buffer = std::move(spare.back());
        spare.pop_back();
      }
    }
    PackBuilder b(&repo.key().encryption, std::move(buffer));
    b.Reserve(repo.config().pack_size + repo.config().pack_size / 8);
    return b;
  }

  void WorkerLoop() {
    Bytes sealed;
    while (auto job = jobs.Pop()) {
      if (!stopping && !failed.load()) Encode(*job, sealed);
      job.reset();  // free the plaintext before announcing completion
      FinishJob();
    }
  }

  void Encode(Job& job, Bytes& sealed) { EncodeAndPack(job.type, job.id, job.plaintext, sealed); }

  void EncodeAndPack(BlobType type, const Id& id, ByteView plaintext, Bytes& sealed) {
    sealed.clear();
    EncodeBlob(repo.key().encryption, type, id, plaintext,
               options.compression_level.value_or(repo.config().compression_level), sealed);
    bytes_stored += sealed.size();
    const int t = static_cast<int>(type);
    std::optional<PackBuilder> full;
    {
      std::lock_guard lock(pack_mu[t]);
      if (!builders[t]) builders[t].emplace(NewBuilder());
      builders[t]->AddSealed(type, id, sealed, static_cast<uint32_t>(plaintext.size()));
      if (builders[t]->size() >= repo.config().pack_size) {
        full.emplace(std::move(*builders[t]));
        builders[t].reset();
      }
    }
    // Hashing the finished pack happens outside the lock, so other workers keep packing.
    if (full) SubmitPack(std::move(*full));
    if (sealed.capacity() > (16u << 20)) Bytes().swap(sealed);
  }

  void SubmitPack(PackBuilder builder) {
    auto [data, pack] = builder.Finish();
    {
      std::lock_guard lock(flight_mu);
      ++uploads_outstanding;
    }
    if (!uploads.Push(Upload{std::move(data), std::move(pack)})) FinishUpload();
  }

  void FinishJob() {
    std::lock_guard lock(flight_mu);
    if (--jobs_outstanding == 0) flight_cv.notify_all();
  }
  void FinishUpload() {
    std::lock_guard lock(flight_mu);
    if (--uploads_outstanding == 0) flight_cv.notify_all();
  }

  void UploaderLoop() {
    while (auto up = uploads.Pop()) {
      if (!stopping && !failed.load()) Store(*up);
      up.reset();
      FinishUpload();
    }
  }

  void Store(Upload& up) {
    Status st = repo.backend().Put(PackKey(up.pack.pack), up.data);
    // Same name means same bytes (the name is their hash): someone stored it already.
    if (!st.ok() && st.error().code() != ErrorCode::kAlreadyExists) {
      SetError(st.error().Wrap("storing pack " + up.pack.pack.ShortHex()));
      return;
    }
    Recycle(std::move(up.data));
    ++packs_written;
    // Index first, then drop from in_flight: a concurrent Claim sees the blob in one of them.
    repo.mutable_index().AddPack(up.pack);
    {
      std::lock_guard lock(seen_mu);
      for (const auto& b : up.pack.blobs) in_flight.erase(BlobKey{b.id, b.type});
    }
    std::vector<IndexedPack> batch;
    {
      std::lock_guard lock(index_mu);
      unindexed_blobs += up.pack.blobs.size();
      unindexed.push_back(std::move(up.pack));
      if (unindexed.size() >= options.packs_per_index || unindexed_blobs >= kMaxBlobsPerIndexFile) {
        batch.swap(unindexed);
        unindexed_blobs = 0;
      }
    }
    if (!batch.empty()) {
      if (Status s = WriteIndex(batch); !s.ok()) SetError(s.error());
    }
  }

  // Keeps the memory of a stored pack for the next one (at most kSparePacks of them).
  void Recycle(Bytes data) {
    std::lock_guard lock(spare_mu);
    if (spare.size() < kSparePacks) spare.push_back(std::move(data));
  }

  Status WriteIndex(const std::vector<IndexedPack>& batch) {
    auto id = repo.SaveObject(ObjectKind::kIndex, EncodeIndexFile(batch));
    if (!id.ok()) return id.error().Wrap("writing index file");
    repo.mutable_index().AddIndexFile(*id);
    ++index_files_written;
    return Status::Ok();
  }

  // Claims a blob and counts it as new; false (counted as a duplicate) when it is stored or
  // claimed already.
  bool ClaimNew(BlobType type, const Id& id, size_t size) {
    if (!Claim(type, id)) {
      ++blobs_duplicate;
      return false;
    }
    ++blobs_new;
    bytes_raw += size;
    return true;
  }

  Result<bool> Add(BlobType type, const Id& id, Bytes plaintext) {
    BW_RETURN_IF_ERROR(CurrentError());
    if (!ClaimNew(type, id, plaintext.size())) return false;
    {
      std::lock_guard lock(flight_mu);
      ++jobs_outstanding;
    }
    const size_t cost = plaintext.size() + kPerBlobCost;
    if (!jobs.Push(Job{type, id, std::move(plaintext)}, cost)) {
      FinishJob();
      return Error(ErrorCode::kFailure, "blob writer is shut down");
    }
    return true;
  }

  Result<bool> AddInCaller(BlobType type, const Id& id, ByteView plaintext) {
    BW_RETURN_IF_ERROR(CurrentError());
    if (!ClaimNew(type, id, plaintext.size())) return false;
    thread_local Bytes sealed;
    EncodeAndPack(type, id, plaintext, sealed);
    BW_RETURN_IF_ERROR(CurrentError());
    return true;
  }

  Status Flush() {
    auto wait_for = [&](const size_t& counter) {
      std::unique_lock lock(flight_mu);
      flight_cv.wait(lock, [&] { return counter == 0; });
    };
    wait_for(jobs_outstanding);
    for (int t = 0; t < 2; ++t) {
      std::optional<PackBuilder> last;
      {
        std::lock_guard lock(pack_mu[t]);
        if (builders[t] && builders[t]->count() > 0) last.emplace(std::move(*builders[t]));
        builders[t].reset();
      }
      if (last && !failed.load()) SubmitPack(std::move(*last));
    }
    wait_for(uploads_outstanding);
    std::vector<IndexedPack> batch;
    {
      std::lock_guard lock(index_mu);
      batch.swap(unindexed);
      unindexed_blobs = 0;
    }
    // Also after a failed upload: the packs that were stored are indexed, so a retried backup
    // finds their blobs instead of uploading them again (with many uploads in flight, a
    // failure leaves several stored packs behind).
    if (!batch.empty()) {
      if (Status s = WriteIndex(batch); !s.ok()) SetError(s.error());
    }
    return CurrentError();
  }

  Repository& repo;
  WriterOptions options;

  mutable std::mutex seen_mu;
  std::unordered_set<BlobKey, BlobKeyHash> in_flight;  // claimed, not yet in the index

  BoundedQueue<Job> jobs;
  BoundedQueue<Upload> uploads;
  std::vector<std::thread> workers;
  std::vector<std::thread> uploaders;

  std::mutex spare_mu;
  std::vector<Bytes> spare;  // memory of stored packs, for new builders

  std::mutex pack_mu[2];
  std::optional<PackBuilder> builders[2];  // per BlobType: trees never share packs with data

  std::mutex flight_mu;
  std::condition_variable flight_cv;
  size_t jobs_outstanding = 0;
  size_t uploads_outstanding = 0;

  std::mutex index_mu;
  std::vector<IndexedPack> unindexed;  // stored packs not yet in an index file
  size_t unindexed_blobs = 0;          // blobs in `unindexed`

  mutable std::mutex error_mu;
  std::optional<Error> error;
  std::atomic<bool> failed{false};
  std::atomic<bool> stopping{false};

  std::atomic<uint64_t> blobs_new{0}, blobs_duplicate{0}, bytes_raw{0}, bytes_stored{0},
      packs_written{0}, index_files_written{0};
};

BlobWriter::BlobWriter(Repository& repo, WriterOptions options)
    : impl_(std::make_unique<Impl>(repo, options)) {}

BlobWriter::~BlobWriter() = default;

Result<bool> BlobWriter::Add(BlobType type, const Id& id, Bytes plaintext) {
  return impl_->Add(type, id, std::move(plaintext));
}

Result<Id> BlobWriter::Add(BlobType type, Bytes plaintext, bool* is_new) {
  Id id = impl_->repo.BlobId(plaintext);
  BW_ASSIGN_OR_RETURN(bool added, impl_->Add(type, id, std::move(plaintext)));
  if (is_new) *is_new = added;
  return id;
}

Result<bool> BlobWriter::AddInCaller(BlobType type, const Id& id, ByteView plaintext) {
  return impl_->AddInCaller(type, id, plaintext);
}

bool BlobWriter::Known(BlobType type, const Id& id) const { return impl_->Known(type, id); }

Status BlobWriter::Flush() { return impl_->Flush(); }

WriterStats BlobWriter::stats() const {
  WriterStats s;
  s.blobs_new = impl_->blobs_new;
  s.blobs_duplicate = impl_->blobs_duplicate;
  s.bytes_new_raw = impl_->bytes_raw;
  s.bytes_new_stored = impl_->bytes_stored;
  s.packs_written = impl_->packs_written;
  s.index_files_written = impl_->index_files_written;
  return s;
}

}  // namespace bulwark::repo

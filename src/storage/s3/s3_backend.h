// S3Backend: a Backend on an S3-compatible object store (AWS S3, Ceph RGW, MinIO) speaking
// SigV4-signed HTTP over libcurl. Objects live under s3://bucket/prefix/<key>. Create-only
// puts use If-None-Match: *, every upload carries Content-MD5 and a signed SHA-256, large
// objects go up as parallel multipart uploads that are aborted on failure, and every request
// is retried with backoff and jitter on throttling and transport faults within a per-operation
// deadline. All methods are safe to call from many threads at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/backend.h"
#include "storage/s3/http_client.h"
#include "storage/s3/s3_options.h"

namespace bulwark::storage::s3 {

// An unfinished multipart upload, as ListMultipartUploads reports it.
struct PendingUpload {
  std::string key;  // relative to the repository prefix
  std::string upload_id;
  int64_t initiated_unix = 0;  // when CreateMultipartUpload started it (0: not reported)
};

class S3Backend : public Backend {
 public:
  explicit S3Backend(S3Options options);

  Status Put(const std::string& key, ByteView data) override;
  Result<Bytes> Get(const std::string& key) override;
  Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Result<ObjectInfo> Stat(const std::string& key) override;
  Status Remove(const std::string& key) override;
  Result<bool> RootExists() override;
  Status CreateRoot() override;
  std::string Location() const override;
  // Object lock: every later Put carries x-amz-object-lock-mode and -retain-until-date (plus
  // Content-MD5, which S3 requires with them); CreateRoot creates the bucket with object lock
  // enabled (which also turns on versioning); Remove deletes each version of the key by its
  // versionId (a plain DELETE would only add a delete marker); verify_root asks the bucket
  // for its object lock configuration (GET ?object-lock) and refuses one without.
  Status EnableObjectLock(const ObjectLock& lock, bool verify_root) override;
  Status ExtendRetention(const std::string& key, int64_t at_least_unix,
                         int64_t extend_to_unix) override;

  // Multipart uploads under the repository prefix that were started and never completed or
  // aborted (they cost storage); tests use this to prove none are left behind. `key_prefix`
  // (relative to the repository prefix) narrows the listing, e.g. to one object's key.
  Result<std::vector<PendingUpload>> ListPendingUploads(const std::string& key_prefix = "");
  Status AbortUpload(const PendingUpload& upload);
  // Aborts the pending uploads under the prefix started more than
  // options().stale_upload_seconds ago (left by killed processes); prune calls it.
  Result<uint64_t> AbortStaleUploads(bool dry_run) override;

  // The bucket's lifecycle configuration as the server returns it (GET ?lifecycle); "" when
  // the bucket has none. Only administration commands call these (backup hosts need no
  // lifecycle permission).
  Result<std::string> GetBucketLifecycle();
  // Replaces the bucket's lifecycle configuration with `xml` (PUT ?lifecycle, Content-MD5).
  Status PutBucketLifecycle(const std::string& xml);
  // The x-amz-storage-class for a new object under `key` ("" for the bucket default).
  std::string StorageClassFor(const std::string& key) const;

  // Requests retried so far (all operations); for tests and progress reports.
  uint64_t retries() const { return retries_.load(); }
  const S3Options& options() const { return options_; }

 private:
  struct Call {
    std::string method;
    std::string key;  // object key relative to the prefix; ignored when bucket_level
    bool bucket_level = false;
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    ByteView body;
    uint64_t max_response_bytes = 16ull << 20;
    const char* what = "";  // operation name for messages, e.g. "PUT"
  };
  struct Reply {
    HttpResponse resp;
    int attempts = 0;
  };

  std::string ObjectName(const std::string& key) const;
  // Signs and sends `call`, retrying transient failures. Returns the final response for any
  // non-retryable status (the caller maps 4xx to errors) or an error once retries or the
  // deadline are exhausted.
  Result<Reply> Execute(const Call& call);
  // Maps a non-2xx response to an error naming the operation and the object.
  Error ErrorFor(const Call& call, const HttpResponse& resp);
  // PUT of an XML document to a subresource named by call.query (?retention, ?lifecycle),
  // with the Content-MD5 S3 requires there; `call` names the target and the operation.
  Status PutXml(Call call, const std::string& xml);
  Status PutSingle(const std::string& key, ByteView data);
  Status PutMultipart(const std::string& key, ByteView data);
  Result<std::string> HeadETag(const std::string& key);
  // The object lock headers for a new object under `key` (none when not locked or exempt).
  std::vector<std::pair<std::string, std::string>> LockHeaders(const std::string& key) const;
  Status RemoveVersions(const std::string& key);
  // After a multipart upload: makes sure the object carries the retention its
  // CreateMultipartUpload asked for (Ceph 16's radosgw ignores the object lock headers there),
  // with PutObjectRetention when it does not.
  Status EnsureRetention(const std::string& key,
                         const std::vector<std::pair<std::string, std::string>>& lock_headers);

  S3Options options_;
  HttpClient http_;
  std::atomic<uint64_t> retries_{0};
  std::optional<ObjectLock> lock_;  // set before the backend is shared (EnableObjectLock)
  // Set once the server rejected the signature or the access key: the credentials cannot
  // change within this backend's lifetime, so later calls fail at once without a request.
  std::mutex auth_mu_;
  std::optional<Error> auth_error_;
};

// How many pack uploads a writer (BlobWriter) should keep in flight on `backend`: an
// S3Backend's options().concurrent_uploads (BULWARK_S3_UPLOADS), as every request there waits on
// the network and the server; 2 for any other backend (a local disk). Any thread.
int ConcurrentPutsFor(const Backend& backend);

}  // namespace bulwark::storage::s3

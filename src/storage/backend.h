// Backend: a dumb object store holding immutable objects under slash-separated keys
// (e.g. "data/ab/ab12..."). Implementations: local filesystem (storage/local), S3
// (storage/s3). Nothing above this layer knows which one it has. All methods are safe to
// call concurrently from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::storage {

struct ObjectInfo {
  std::string key;  // full key relative to the repository root
  uint64_t size = 0;
  int64_t mtime_unix = 0;  // last-modified time, seconds since the epoch
  // Object lock (WORM): until when the object can be neither deleted nor changed, seconds
  // since the epoch. Filled in by Stat on backends that support object lock; 0 when the
  // object has no retention or the backend cannot tell (List never fills it).
  int64_t retain_until_unix = 0;
};

// Object lock (WORM retention) for every object written from now on: each Put carries a
// retention date `retain_seconds` after the write, before which nobody (compliance) or
// nobody without a special permission (governance) can delete or overwrite the object.
// Keys under `exempt_prefixes` are written without retention (short-lived objects).
struct ObjectLock {
  enum class Mode { kGovernance, kCompliance };
  Mode mode = Mode::kCompliance;
  int64_t retain_seconds = 0;
  std::vector<std::string> exempt_prefixes;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Creates `key` with `data`, atomically: readers see either nothing or the whole object,
  // never a partial one, and the object is durable when this returns ok. Never overwrites:
  // if `key` exists, returns kAlreadyExists and leaves the existing object untouched.
  virtual Status Put(const std::string& key, ByteView data) = 0;

  // Whole object. kNotFound if absent.
  virtual Result<Bytes> Get(const std::string& key) = 0;

  // `length` bytes from `offset`. kNotFound if absent; kIntegrity if the object is shorter
  // than offset + length (truncated).
  virtual Result<Bytes> GetRange(const std::string& key, uint64_t offset, uint64_t length) = 0;
  // GetRange into `buffer`, grown when too small and never shrunk, so a thread that keeps its
  // buffer reads without reallocating; returns the bytes as a view into it. The default
  // moves GetRange's result in; backends that can read in place override it.
  virtual Result<ByteView> GetRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                        Bytes& buffer);

  // A hint that `length` bytes from `offset` of `key` will be read soon: backends that can
  // start fetching them without waiting (a local disk's readahead) do; errors are ignored,
  // since the read itself reports them. The default does nothing.
  virtual void Prefetch(const std::string& key, uint64_t offset, uint64_t length);

  // Every object whose key starts with `prefix` (e.g. "snapshots/"), in no particular order.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;

  // Object size and time; kNotFound if absent.
  virtual Result<ObjectInfo> Stat(const std::string& key) = 0;

  // Deletes `key`. Deleting an absent object is ok (idempotent).
  virtual Status Remove(const std::string& key) = 0;

  // Whether the repository's root location exists at all (used to tell "no repository").
  virtual Result<bool> RootExists() = 0;
  // Creates the root location (directory or bucket) if missing.
  virtual Status CreateRoot() = 0;

  // Human-readable location for messages and audit records, with no credentials.
  virtual std::string Location() const = 0;

  // Turns on object lock for every later Put and makes Remove delete every stored version of
  // a key (a versioned store would otherwise only hide it). Call before the backend is shared
  // between threads. With `verify_root`, also checks that the root location can hold locked
  // objects (kUsage naming what to do if not); CreateRoot after this call creates a root
  // that can. The default (backends without object lock, e.g. a local disk) returns kUsage.
  virtual Status EnableObjectLock(const ObjectLock& lock, bool verify_root);

  // With object lock on: when `key` is retained for less than `at_least_unix` (seconds since
  // the epoch), extends its retention to `extend_to_unix` (>= at_least_unix); a retention is
  // never shortened. The default (backends without object lock) returns kUsage.
  virtual Status ExtendRetention(const std::string& key, int64_t at_least_unix,
                                 int64_t extend_to_unix);

  // Aborts partial uploads under the repository that their writer left behind (a killed
  // process's S3 multipart uploads, older than a backend-specific age) and returns how many;
  // with `dry_run` only counts them. The default (backends without such uploads) returns 0.
  virtual Result<uint64_t> AbortStaleUploads(bool dry_run);
};

// Settings for backends that need more than a URL; empty fields mean "not given" (the S3
// backend then reads the standard AWS environment variables and shared files).
struct BackendOptions {
  std::string s3_endpoint;   // --s3-endpoint or the config
  std::string s3_region;     // --s3-region or the config
  std::string s3_ca_bundle;  // --s3-ca-bundle or the config
  std::string s3_profile;    // profile in ~/.aws/credentials
  // x-amz-storage-class per object type ("data", "index", ...; see storage/s3/s3_options.h)
  std::map<std::string, std::string> s3_storage_classes;
};

// Opens a backend from a repository URL: a path, file:///path, or s3://bucket/prefix.
Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url);
Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url, const BackendOptions& options);

}  // namespace bulwark::storage

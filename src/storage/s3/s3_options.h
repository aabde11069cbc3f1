// S3Options: everything the S3 backend needs to reach a bucket — endpoint, addressing style,
// region, credentials, TLS trust, transfer and retry tuning — resolved from the repository
// URL, explicit overrides (flags/config) and the standard AWS environment and shared files.
// Plain values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/result.h"
#include "storage/s3/sigv4.h"

namespace bulwark::storage::s3 {

// Settings given explicitly (command-line flags or the config file); empty means "not set".
struct S3Overrides {
  std::string endpoint;   // e.g. http://127.0.0.1:7480 or https://s3.eu-west-1.amazonaws.com
  std::string region;     // e.g. eu-west-1
  std::string ca_bundle;  // PEM file of CA certificates to trust
  std::string profile;    // profile in the shared credentials file
  // x-amz-storage-class per object type (see kObjectTypes), e.g. {"data", "STANDARD_IA"}.
  std::map<std::string, std::string> storage_classes;
};

// The object types a storage class or a lifecycle transition can be given for: the first
// path component of a repository key ("config" is the one object of that name). locks/ and
// deletions/ objects always stay in the bucket's default class.
inline constexpr const char* kObjectTypes[] = {"data",  "index", "snapshots", "wal",
                                               "audit", "keys",  "config"};
bool IsObjectType(const std::string& type);

// kUsage when `storage_class` needs a restore request before its objects can be read
// (GLACIER, GLACIER_FLEXIBLE_RETRIEVAL, DEEP_ARCHIVE): Bulwark reads packs directly for
// restore, check and prune, so such a class would break them. `what` names the setting in the
// message. Any other name is allowed (STANDARD_IA, GLACIER_IR, a Ceph placement class, ...).
Status CheckStorageClass(const std::string& storage_class, const std::string& what);

struct S3Options {
  std::string bucket;
  std::string prefix;      // key prefix inside the bucket, no leading/trailing '/'; may be empty
  std::string endpoint;    // scheme://host[:port], no trailing '/'
  bool path_style = true;  // https://host/bucket/key (custom endpoints) vs https://bucket.host/key
  std::string region = "us-east-1";
  Credentials creds;
  std::string credentials_source;  // "environment" or the file and profile, for messages
  std::string ca_bundle;

  uint64_t multipart_threshold = 64ull << 20;  // objects larger than this use multipart
  uint64_t part_size = 16ull << 20;            // at least 5 MiB (S3's minimum for all but last)
  int part_concurrency = 4;                    // parallel part uploads per object
  // Pack uploads a writer keeps in flight (ConcurrentPutsFor); each holds one pack in
  // memory, so a backup's upload memory is about this times the pack size.
  int concurrent_uploads = 8;
  int max_attempts = 10;          // per request, including the first
  double deadline_seconds = 300;  // per operation, over all its attempts
  double stall_seconds = 30;      // abort a transfer that moves < 1 KiB/s this long
  double connect_timeout_seconds = 10;
  double backoff_base_seconds = 0.2;
  double backoff_cap_seconds = 15;
  bool verify_etag = true;       // compare the ETag of single-part uploads with their MD5
  bool head_before_put = false;  // for servers that ignore If-None-Match: * (see docs/S3.md)
  // x-amz-storage-class per object type (the key's first path component); a type not named
  // here is stored in the bucket's default class. BULWARK_S3_STORAGE_CLASS gives "data".
  std::map<std::string, std::string> storage_classes;
  // prune aborts multipart uploads under the prefix that were started longer ago than this.
  int64_t stale_upload_seconds = 86400;
  bool debug = false;  // one line per request on stderr (never credentials)
};

// Parses s3://bucket[/prefix] into bucket and prefix; kUsage on a malformed URL.
Status ParseS3Url(const std::string& url, S3Options& out);

// Resolves everything: URL, overrides, then environment (AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE,
// AWS_CA_BUNDLE) and BULWARK_S3_* tuning variables. kUsage naming what is missing, and for a
// storage class that needs a restore request (CheckStorageClass).
Result<S3Options> ResolveS3Options(const std::string& url, const S3Overrides& overrides);

// Reads one profile of an AWS shared credentials/config file (INI). In the config file,
// profiles other than "default" are named "[profile NAME]". Returns false if the file or the
// profile is missing; `key` values are copied into the out-parameters when present.
struct ProfileValues {
  std::string access_key_id, secret_access_key, session_token, region, endpoint_url, ca_bundle;
};
bool ReadProfile(const std::string& path, const std::string& profile, bool config_file,
                 ProfileValues& out);

}  // namespace bulwark::storage::s3

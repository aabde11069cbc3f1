#include "storage/backend.h"

#include <filesystem>

#include "storage/local/local_backend.h"
#include "storage/s3/s3_backend.h"

namespace bulwark::storage {

Result<ByteView> Backend::GetRangeInto(const std::string& key, uint64_t offset, uint64_t length,
                                       Bytes& buffer) {
  BW_ASSIGN_OR_RETURN(buffer, GetRange(key, offset, length));
  return ByteView(buffer);
}

void Backend::Prefetch(const std::string&, uint64_t, uint64_t) {}

Status Backend::EnableObjectLock(const ObjectLock&, bool) {
  return Error(ErrorCode::kUsage, "object lock needs an S3 repository (s3://bucket/prefix); " +
                                      Location() + " cannot hold locked objects");
}

Status Backend::ExtendRetention(const std::string& key, int64_t, int64_t) {
  return Error(ErrorCode::kUsage, "object lock needs an S3 repository; " + Location() +
                                      " cannot extend the retention of " + key);
}

Result<uint64_t> Backend::AbortStaleUploads(bool) { return uint64_t{0}; }

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url) {
  return OpenBackend(url, BackendOptions{});
}

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url,
                                             const BackendOptions& options) {
  if (url.empty()) {
    return Error(ErrorCode::kUsage, "no repository given: use --repo or set BULWARK_REPOSITORY");
  }
  std::string path;
  if (url.starts_with("s3://")) {
    s3::S3Overrides overrides{options.s3_endpoint, options.s3_region, options.s3_ca_bundle,
                              options.s3_profile, options.s3_storage_classes};
    BW_ASSIGN_OR_RETURN(s3::S3Options s3opts, s3::ResolveS3Options(url, overrides));
    return std::unique_ptr<Backend>(std::make_unique<s3::S3Backend>(std::move(s3opts)));
  }
  if (url.starts_with("file://")) {
    path = url.substr(7);
    // file:///p and file://localhost/p name local paths; any other host is not local.
    if (path.starts_with("localhost/")) path = path.substr(9);
    if (path.empty() || path[0] != '/') {
      return Error(ErrorCode::kUsage,
                   "repository URL " + url + " must name an absolute local path (file:///path)");
    }
  } else if (url.find("://") != std::string::npos) {
    return Error(ErrorCode::kUsage, "unsupported repository URL " + url +
                                        " (use a path, file:///path or s3://bucket/prefix)");
  } else {
    path = url;
  }
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) return Error(ErrorCode::kUsage, "bad repository path " + path + ": " + ec.message());
  std::string root = abs.lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(root));
}

}  // namespace bulwark::storage

#include "storage/s3/s3_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

namespace bulwark::storage::s3 {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Valid per the S3 bucket naming rules that matter for URLs: 3-63 of [a-z0-9.-].
bool ValidBucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) {
      // Ceph and MinIO allow upper case and '_' in legacy buckets; accept them with path style.
      if (!((c >= 'A' && c <= 'Z') || c == '_')) return false;
    }
  }
  return true;
}

Status EnvDouble(const char* name, double& out) {
  std::string v = Env(name);
  if (v.empty()) return Status::Ok();
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || d < 0) {
    return Error(ErrorCode::kUsage, std::string(name) + " must be a non-negative number");
  }
  out = d;
  return Status::Ok();
}

Status EnvSize(const char* name, uint64_t& out) {
  std::string v = Env(name);
  if (v.empty()) return Status::Ok();
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  uint64_t mult = 1;
  std::string suffix = end ? std::string(end) : "";
  if (suffix == "K" || suffix == "KiB")
    mult = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB")
    mult = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB")
    mult = 1ull << 30;
  else if (!suffix.empty() || end == v.c_str()) {
    return Error(ErrorCode::kUsage, std::string(name) + " must be a size like 8MiB");
  }
  out = n * mult;
  return Status::Ok();
}

}  // namespace

bool IsObjectType(const std::string& type) {
  return std::any_of(std::begin(kObjectTypes), std::end(kObjectTypes),
                     [&](const char* t) { return type == t; });
}

Status CheckStorageClass(const std::string& storage_class, const std::string& what) {
  std::string upper = storage_class;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "GLACIER" || upper == "GLACIER_FLEXIBLE_RETRIEVAL" || upper == "DEEP_ARCHIVE") {
    return Error(ErrorCode::kUsage,
                 what + " = " + storage_class +
                     " is refused: objects in that class must be restored (RestoreObject, hours) "
                     "before they can be read, and Bulwark reads packs directly for restore, "
                     "check and prune; use GLACIER_IR, STANDARD_IA or INTELLIGENT_TIERING "
                     "(see docs/S3.md)");
  }
  if (storage_class.empty()) return Error(ErrorCode::kUsage, what + " must not be empty");
  return Status::Ok();
}

Status ParseS3Url(const std::string& url, S3Options& out) {
  if (!url.starts_with("s3://")) {
    return Error(ErrorCode::kUsage, "not an S3 URL: " + url);
  }
  std::string rest = url.substr(5);
  size_t slash = rest.find('/');
  out.bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(prefix.begin());
  if (prefix.find("//") != std::string::npos || prefix.find('?') != std::string::npos) {
    return Error(ErrorCode::kUsage, "bad S3 repository URL " + url + " (use s3://bucket/prefix)");
  }
  if (!ValidBucket(out.bucket)) {
    return Error(ErrorCode::kUsage, "bad bucket name in " + url +
                                        " (3-63 characters: lower-case letters, digits, '.', '-')");
  }
  out.prefix = prefix;
  return Status::Ok();
}

bool ReadProfile(const std::string& path, const std::string& profile, bool config_file,
                 ProfileValues& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::string want = profile;
  if (config_file && profile != "default") want = "profile " + profile;
  std::string line;
  bool in_section = false, found = false;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      in_section = Trim(t.substr(1, t.size() - 2)) == want;
      found = found || in_section;
      continue;
    }
    if (!in_section) continue;
    size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string k = Trim(t.substr(0, eq));
    std::string v = Trim(t.substr(eq + 1));
    if (k == "aws_access_key_id")
      out.access_key_id = v;
    else if (k == "aws_secret_access_key")
      out.secret_access_key = v;
    else if (k == "aws_session_token")
      out.session_token = v;
    else if (k == "region")
      out.region = v;
    else if (k == "endpoint_url")
      out.endpoint_url = v;
    else if (k == "ca_bundle")
      out.ca_bundle = v;
  }
  return found;
}

Result<S3Options> ResolveS3Options(const std::string& url, const S3Overrides& overrides) {
  S3Options o;
  BW_RETURN_IF_ERROR(ParseS3Url(url, o));

  std::string home = Env("HOME");
  std::string profile = !overrides.profile.empty() ? overrides.profile : Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::string cred_file = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (cred_file.empty() && !home.empty()) cred_file = home + "/.aws/credentials";
  std::string config_file = Env("AWS_CONFIG_FILE");
  if (config_file.empty() && !home.empty()) config_file = home + "/.aws/config";
  ProfileValues from_config;
  if (!config_file.empty()) ReadProfile(config_file, profile, /*config_file=*/true, from_config);

  // Region: flag/config, environment, shared config, default.
  o.region = overrides.region;
  if (o.region.empty()) o.region = Env("AWS_REGION");
  if (o.region.empty()) o.region = Env("AWS_DEFAULT_REGION");
  if (o.region.empty()) o.region = from_config.region;
  if (o.region.empty()) o.region = "us-east-1";

  // Endpoint: a custom endpoint means path-style addressing (Ceph RGW, MinIO); AWS itself
  // gets virtual-hosted style, which AWS requires for new buckets.
  std::string endpoint = overrides.endpoint;
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) endpoint = from_config.endpoint_url;
  if (endpoint.empty()) {
    o.endpoint = "https://s3." + o.region + ".amazonaws.com";
    // Dots in a bucket name break the wildcard TLS certificate of virtual-hosted style.
    o.path_style = o.bucket.find('.') != std::string::npos;
  } else {
    if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
      return Error(ErrorCode::kUsage,
                   "S3 endpoint " + endpoint + " must start with http:// or https://");
    }
    while (endpoint.size() > 8 && endpoint.back() == '/') endpoint.pop_back();
    if (endpoint.find('/', endpoint.find("://") + 3) != std::string::npos) {
      return Error(ErrorCode::kUsage,
                   "S3 endpoint " + endpoint + " must be scheme://host[:port] without a path");
    }
    o.endpoint = endpoint;
    o.path_style = true;
  }
  if (std::string style = Env("BULWARK_S3_ADDRESSING"); !style.empty()) {
    if (style == "path")
      o.path_style = true;
    else if (style == "virtual")
      o.path_style = false;
    else
      return Error(ErrorCode::kUsage, "BULWARK_S3_ADDRESSING must be path or virtual");
  }

  // Credentials: environment first (as every AWS SDK does), then the shared credentials file.
  o.creds.access_key_id = Env("AWS_ACCESS_KEY_ID");
  o.creds.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  o.creds.session_token = Env("AWS_SESSION_TOKEN");
  o.credentials_source = "environment";
  if (o.creds.access_key_id.empty() || o.creds.secret_access_key.empty()) {
    ProfileValues pv;
    bool have = !cred_file.empty() && ReadProfile(cred_file, profile, false, pv) &&
                !pv.access_key_id.empty() && !pv.secret_access_key.empty();
    if (!have) {
      // The config file may hold keys too.
      pv = from_config;
      have = !pv.access_key_id.empty() && !pv.secret_access_key.empty();
    }
    if (!have) {
      return Error(ErrorCode::kUsage,
                   "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add "
                   "profile [" +
                       profile + "] to " +
                       (cred_file.empty() ? std::string("~/.aws/credentials") : cred_file));
    }
    o.creds = Credentials{pv.access_key_id, pv.secret_access_key, pv.session_token};
    o.credentials_source = "profile " + profile;
  }

  o.ca_bundle = overrides.ca_bundle;
  if (o.ca_bundle.empty()) o.ca_bundle = Env("AWS_CA_BUNDLE");
  if (o.ca_bundle.empty()) o.ca_bundle = from_config.ca_bundle;
  if (!o.ca_bundle.empty() && !std::ifstream(o.ca_bundle)) {
    return Error(ErrorCode::kUsage, "CA bundle " + o.ca_bundle + " cannot be read");
  }

  BW_RETURN_IF_ERROR(EnvSize("BULWARK_S3_MULTIPART_THRESHOLD", o.multipart_threshold));
  BW_RETURN_IF_ERROR(EnvSize("BULWARK_S3_PART_SIZE", o.part_size));
  if (o.part_size < (5ull << 20)) {
    return Error(ErrorCode::kUsage, "BULWARK_S3_PART_SIZE must be at least 5MiB (S3's minimum)");
  }
  if (o.multipart_threshold < o.part_size) o.multipart_threshold = o.part_size;
  double d = o.max_attempts;
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_MAX_ATTEMPTS", d));
  o.max_attempts = d < 1 ? 1 : static_cast<int>(d);
  d = o.part_concurrency;
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_PART_CONCURRENCY", d));
  o.part_concurrency = d < 1 ? 1 : static_cast<int>(d);
  d = o.concurrent_uploads;
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_UPLOADS", d));
  o.concurrent_uploads = d < 1 ? 1 : static_cast<int>(std::min(d, 64.0));
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_DEADLINE", o.deadline_seconds));
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_STALL_TIMEOUT", o.stall_seconds));
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_BACKOFF_CAP", o.backoff_cap_seconds));
  if (Env("BULWARK_S3_CONDITIONAL_PUT") == "head") o.head_before_put = true;
  if (Env("BULWARK_S3_VERIFY_ETAG") == "0") o.verify_etag = false;
  o.storage_classes = overrides.storage_classes;
  if (std::string data = Env("BULWARK_S3_STORAGE_CLASS");
      !data.empty() && !o.storage_classes.contains("data")) {
    o.storage_classes["data"] = data;
  }
  for (const auto& [type, cls] : o.storage_classes) {
    if (!IsObjectType(type)) {
      return Error(ErrorCode::kUsage, "storage class for unknown object type '" + type + "'");
    }
    BW_RETURN_IF_ERROR(CheckStorageClass(cls, overrides.storage_classes.contains(type)
                                                  ? "storage_class." + type
                                                  : std::string("BULWARK_S3_STORAGE_CLASS")));
  }
  double stale = static_cast<double>(o.stale_upload_seconds);
  BW_RETURN_IF_ERROR(EnvDouble("BULWARK_S3_STALE_UPLOAD_SECONDS", stale));
  o.stale_upload_seconds = static_cast<int64_t>(stale);
  o.debug = !Env("BULWARK_S3_DEBUG").empty() && Env("BULWARK_S3_DEBUG") != "0";
  return o;
}

}  // namespace bulwark::storage::s3

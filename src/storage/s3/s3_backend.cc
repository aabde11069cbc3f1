#include "storage/s3/s3_backend.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "core/time_format.h"
#include "storage/s3/sigv4.h"
#include "storage/s3/xml.h"

namespace bulwark::storage::s3 {

namespace {

using Clock = std::chrono::steady_clock;

struct Md5 {
  unsigned char raw[16];
  std::string Hex() const {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (unsigned char c : raw) {
      s.push_back(d[c >> 4]);
      s.push_back(d[c & 15]);
    }
    return s;
  }
  std::string Base64() const {
    unsigned char out[32];
    int n = EVP_EncodeBlock(out, raw, 16);
    return std::string(reinterpret_cast<char*>(out), n);
  }
};

Md5 ComputeMd5(ByteView data) {
  Md5 m;
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), m.raw, &len, EVP_md5(), nullptr);
  return m;
}

std::string Sha256HexBytes(ByteView data) { return Sha256Hex(AsString(data)); }

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool IsPlainMd5(const std::string& etag) {
  if (etag.size() != 32) return false;
  return std::all_of(etag.begin(), etag.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int64_t ParseHttpDate(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

int64_t ParseIsoDate(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// "YYYY-MM-DDTHH:MM:SSZ" (ISO 8601, UTC), as x-amz-object-lock-retain-until-date wants it.
std::string IsoDate(int64_t unix_seconds) { return FormatUtc(unix_seconds, "%Y-%m-%dT%H:%M:%SZ"); }

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Jitter(double max_seconds) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> dist(0.0, max_seconds);
  return dist(rng);
}

std::string BodyText(const HttpResponse& r) { return std::string(AsString(r.body)); }

bool IsRetryableStatus(long status) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

}  // namespace

S3Backend::S3Backend(S3Options options)
    : options_(std::move(options)),
      http_(HttpClientOptions{options_.ca_bundle, options_.connect_timeout_seconds,
                              options_.stall_seconds}) {}

std::string S3Backend::Location() const {
  std::string loc = "s3://" + options_.bucket;
  if (!options_.prefix.empty()) loc += "/" + options_.prefix;
  if (options_.endpoint.find(".amazonaws.com") == std::string::npos) {
    loc += " at " + options_.endpoint;
  }
  return loc;
}

std::string S3Backend::ObjectName(const std::string& key) const {
  return options_.prefix.empty() ? key : options_.prefix + "/" + key;
}

Result<S3Backend::Reply> S3Backend::Execute(const Call& call) {
  {
    std::lock_guard<std::mutex> lock(auth_mu_);
    if (auth_error_) return *auth_error_;
  }
  // Endpoint parts: scheme://host[:port]
  size_t scheme_end = options_.endpoint.find("://");
  std::string scheme = options_.endpoint.substr(0, scheme_end);
  std::string host = options_.endpoint.substr(scheme_end + 3);
  std::string path;
  if (options_.path_style) {
    path = "/" + options_.bucket;
    if (!call.bucket_level) path += "/" + ObjectName(call.key);
  } else {
    host = options_.bucket + "." + host;
    path = call.bucket_level ? "/" : "/" + ObjectName(call.key);
  }
  std::string query = CanonicalQueryString(call.query);
  std::string url = scheme + "://" + host + UriEncode(path, /*encode_slash=*/false);
  if (!query.empty()) url += "?" + query;
  const std::string payload_hash = Sha256HexBytes(call.body);
  std::string name = call.bucket_level ? "bucket " + options_.bucket : ObjectName(call.key);

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(options_.deadline_seconds));
  std::string why;
  for (int attempt = 1;; ++attempt) {
    double remaining = std::chrono::duration<double>(deadline - Clock::now()).count();
    if (remaining <= 0) {
      return Error(ErrorCode::kIo, std::string(call.what) + " " + name + ": no answer within " +
                                       std::to_string(static_cast<int>(options_.deadline_seconds)) +
                                       "s (" + std::to_string(attempt - 1) +
                                       " attempts; last: " + why + ")");
    }
    SigningRequest sreq;
    sreq.method = call.method;
    sreq.path = path;
    sreq.query = call.query;
    sreq.headers = call.headers;
    std::string amz_date = AmzDate(static_cast<int64_t>(std::time(nullptr)));
    sreq.headers.emplace_back("Host", host);
    sreq.headers.emplace_back("x-amz-date", amz_date);
    sreq.headers.emplace_back("x-amz-content-sha256", payload_hash);
    if (!options_.creds.session_token.empty()) {
      sreq.headers.emplace_back("x-amz-security-token", options_.creds.session_token);
    }
    sreq.payload_sha256_hex = payload_hash;
    Signature sig = Sign(sreq, options_.creds, options_.region, "s3", amz_date);

    HttpRequest req;
    req.method = call.method;
    req.url = url;
    req.headers = std::move(sreq.headers);
    req.headers.emplace_back("Authorization", sig.authorization);
    if (call.method == "PUT" || call.method == "POST") {
      req.headers.emplace_back(
          "Content-Type", call.method == "POST" ? "application/xml" : "application/octet-stream");
    }
    req.body = call.body;
    req.max_response_bytes = call.max_response_bytes;
    req.timeout_seconds = remaining;

    auto t0 = Clock::now();
    HttpResponse resp = http_.Perform(req);
    bool retry = false;
    if (resp.curl_code != 0) {
      if (resp.body_too_large || !HttpClient::TransportRetryable(resp.curl_code)) {
        std::string hint;
        if (resp.transport_error.find("certificate") != std::string::npos ||
            resp.transport_error.find("SSL") != std::string::npos) {
          hint = " (for a private CA set AWS_CA_BUNDLE)";
        }
        return Error(ErrorCode::kIo,
                     std::string(call.what) + " " + name + ": " + resp.transport_error + hint);
      }
      retry = true;
      why = resp.transport_error;
    } else if (IsRetryableStatus(resp.status)) {
      retry = true;
      std::string code = XmlText(BodyText(resp), "Code");
      why = "HTTP " + std::to_string(resp.status) + (code.empty() ? "" : " " + code);
    } else if (resp.status == 400 || resp.status == 200) {
      // RequestTimeout (the server gave up waiting for our body) is transient; a 200 answer to
      // CompleteMultipartUpload may still carry an <Error> (S3 sends it after the headers).
      std::string text = BodyText(resp);
      std::string code = XmlText(text, "Code");
      if ((resp.status == 400 && code == "RequestTimeout") ||
          (resp.status == 200 && call.method == "POST" &&
           text.find("<Error>") != std::string::npos)) {
        retry = true;
        why = "HTTP " + std::to_string(resp.status) + " " + code;
      }
    }
    if (options_.debug) {
      std::fprintf(
          stderr, "s3: %s %s%s%s -> %s (attempt %d, %.0f ms)\n", call.method.c_str(), name.c_str(),
          query.empty() ? "" : "?", query.c_str(),
          resp.curl_code ? resp.transport_error.c_str() : std::to_string(resp.status).c_str(),
          attempt, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    if (!retry) return Reply{std::move(resp), attempt};
    if (attempt >= options_.max_attempts) {
      return Error(ErrorCode::kIo, std::string(call.what) + " " + name + ": gave up after " +
                                       std::to_string(attempt) + " attempts (last: " + why + ")");
    }
    double backoff = std::min(
        options_.backoff_cap_seconds,
        options_.backoff_base_seconds * static_cast<double>(1 << std::min(attempt - 1, 20)));
    // "Equal jitter": at least half the backoff, so a burst of failures spreads out but still
    // slows down, plus a random part so many clients do not retry in lockstep.
    double sleep = backoff / 2 + Jitter(backoff / 2);
    if (Clock::now() + std::chrono::duration<double>(sleep) >= deadline) {
      return Error(ErrorCode::kIo, std::string(call.what) + " " + name + ": no success within " +
                                       std::to_string(static_cast<int>(options_.deadline_seconds)) +
                                       "s (" + std::to_string(attempt) + " attempts; last: " + why +
                                       ")");
    }
    if (options_.debug) {
      std::fprintf(stderr, "s3: retrying %s %s in %.2fs: %s\n", call.method.c_str(), name.c_str(),
                   sleep, why.c_str());
    }
    retries_.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::duration<double>(sleep));
  }
}

Error S3Backend::ErrorFor(const Call& call, const HttpResponse& resp) {
  std::string text = BodyText(resp);
  std::string code = XmlText(text, "Code");
  std::string message = XmlText(text, "Message");
  std::string name = call.bucket_level ? "bucket " + options_.bucket
                                       : "s3://" + options_.bucket + "/" + ObjectName(call.key);
  if (resp.status == 403 && code.empty()) {
    // HEAD answers carry no body: ask once with a GET that does, to name the cause.
    Call probe;
    probe.method = "GET";
    probe.bucket_level = true;
    probe.query = {{"location", ""}};
    probe.what = "GET";
    auto reply = Execute(probe);
    if (reply.ok() && reply->resp.status == 403) code = XmlText(BodyText(reply->resp), "Code");
  }
  if (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId") {
    Error e = code == "SignatureDoesNotMatch"
                  ? Error(ErrorCode::kFailure,
                          "signature does not match: check AWS_SECRET_ACCESS_KEY (the server "
                          "rejected the request signature for " +
                              name + "; credentials from " + options_.credentials_source + ")")
                  : Error(ErrorCode::kFailure,
                          "access key not known to the server: check AWS_ACCESS_KEY_ID "
                          "(credentials from " +
                              options_.credentials_source + ")");
    std::lock_guard<std::mutex> lock(auth_mu_);
    if (!auth_error_) auth_error_ = e;
    return e;
  }
  if (code == "RequestTimeTooSkewed") {
    return Error(ErrorCode::kFailure,
                 "this machine's clock differs too much from the S3 server's: fix the clock");
  }
  if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") {
    return Error(ErrorCode::kFailure,
                 "the session token is expired or invalid: renew AWS_SESSION_TOKEN");
  }
  if (resp.status == 403) {
    return Error(ErrorCode::kFailure,
                 std::string(call.what) + " " + name + ": access denied" +
                     (code.empty() || code == "AccessDenied" ? "" : " (" + code + ")") +
                     (message.empty() ? "" : ": " + message) +
                     "; check the permissions of these credentials (IAM or bucket policy, "
                     "object lock)");
  }
  if (resp.status == 404) {
    if (code == "NoSuchBucket") {
      return Error(ErrorCode::kNotFound, "bucket " + options_.bucket + " does not exist");
    }
    return Error(ErrorCode::kNotFound, name + " not found");
  }
  if (resp.status == 412) return Error(ErrorCode::kAlreadyExists, name + " already exists");
  if (resp.status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed") {
    std::string region = resp.Header("x-amz-bucket-region");
    return Error(ErrorCode::kUsage, "bucket " + options_.bucket + " is in another region" +
                                        (region.empty() ? "" : " (" + region + ")") +
                                        ": set AWS_REGION");
  }
  if (resp.status == 507 || code == "QuotaExceeded") {
    return Error(ErrorCode::kNoSpace, std::string(call.what) + " " + name +
                                          ": storage quota exceeded" +
                                          (message.empty() ? "" : ": " + message));
  }
  return Error(ErrorCode::kIo, std::string(call.what) + " " + name + ": HTTP " +
                                   std::to_string(resp.status) + (code.empty() ? "" : " " + code) +
                                   (message.empty() ? "" : ": " + message));
}

Result<std::string> S3Backend::HeadETag(const std::string& key) {
  Call c;
  c.method = "HEAD";
  c.key = key;
  c.what = "HEAD";
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status != 200) return ErrorFor(c, r.resp);
  return Unquote(r.resp.Header("etag"));
}

Status S3Backend::Put(const std::string& key, ByteView data) {
  if (key.empty() || key.front() == '/' || key.find("//") != std::string::npos) {
    return Error(ErrorCode::kUsage, "invalid object key '" + key + "'");
  }
  if (data.size() > options_.multipart_threshold) return PutMultipart(key, data);
  return PutSingle(key, data);
}

Status S3Backend::PutSingle(const std::string& key, ByteView data) {
  Md5 md5 = ComputeMd5(data);
  if (options_.head_before_put) {
    auto st = Stat(key);
    if (st.ok()) return Error(ErrorCode::kAlreadyExists, ObjectName(key) + " already exists");
    if (st.error().code() != ErrorCode::kNotFound) return st.error();
  }
  Call c;
  c.method = "PUT";
  c.key = key;
  c.what = "PUT";
  c.body = data;
  c.headers = {{"Content-MD5", md5.Base64()}, {"If-None-Match", "*"}};
  for (auto& h : LockHeaders(key)) c.headers.push_back(std::move(h));
  if (std::string cls = StorageClassFor(key); !cls.empty()) {
    c.headers.emplace_back("x-amz-storage-class", cls);
  }
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status == 200) {
    std::string etag = Unquote(r.resp.Header("etag"));
    if (options_.verify_etag && IsPlainMd5(etag) && etag != md5.Hex()) {
      return Error(ErrorCode::kIo, "PUT " + ObjectName(key) +
                                       ": the server stored different "
                                       "bytes than were sent (ETag " +
                                       etag + ", MD5 " + md5.Hex() + ")");
    }
    return Status::Ok();
  }
  if (r.resp.status == 412) {
    // An earlier attempt may have landed before its answer was lost: then it is ours. Not only
    // when we retried: libcurl itself silently resends a request once when a reused
    // connection dies before any answer, so a lost answer can come back as 412 at attempt 1.
    // Only identical bytes (same MD5) count; anything else is a real conflict.
    auto etag = HeadETag(key);
    if (etag.ok() && *etag == md5.Hex()) return Status::Ok();
  }
  return ErrorFor(c, r.resp);
}

Status S3Backend::PutMultipart(const std::string& key, ByteView data) {
  // Create-only: multipart completion cannot be made conditional on every server, so look
  // first (a concurrent writer of the same content-addressed object writes the same bytes).
  {
    auto st = Stat(key);
    if (st.ok()) return Error(ErrorCode::kAlreadyExists, ObjectName(key) + " already exists");
    if (st.error().code() != ErrorCode::kNotFound) return st.error();
  }
  Call init;
  init.method = "POST";
  init.key = key;
  init.what = "CreateMultipartUpload";
  init.query = {{"uploads", ""}};
  const auto lock_headers = LockHeaders(key);
  init.headers = lock_headers;
  if (std::string cls = StorageClassFor(key); !cls.empty()) {
    init.headers.emplace_back("x-amz-storage-class", cls);
  }
  BW_ASSIGN_OR_RETURN(Reply ir, Execute(init));
  if (ir.resp.status != 200) return ErrorFor(init, ir.resp);
  std::string upload_id = XmlText(BodyText(ir.resp), "UploadId");
  if (upload_id.empty()) {
    return Error(ErrorCode::kIo, "CreateMultipartUpload " + ObjectName(key) + ": no UploadId");
  }
  // An earlier CreateMultipartUpload may have started an upload whose answer was lost; it
  // would linger (and cost storage) forever, so remove it. Not only after our own retries:
  // libcurl silently resends a request once when a reused connection dies before answering,
  // so even attempt 1 may have created two uploads. Listing one key is a cheap request, and
  // pack keys are unique per writer, so no other writer's live upload is touched.
  auto sweep_lost = [&] {
    auto pending = ListPendingUploads(key);
    if (!pending.ok()) return;
    for (const auto& p : *pending) {
      if (p.key == key && p.upload_id != upload_id) (void)AbortUpload(p);
    }
  };
  auto abort = [&] {
    (void)AbortUpload(PendingUpload{key, upload_id});
    sweep_lost();
  };

  const uint64_t ps = options_.part_size;
  const size_t n = static_cast<size_t>((data.size() + ps - 1) / ps);
  std::vector<Md5> md5s(n);
  std::mutex mu;
  std::optional<Error> first_error;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < n;) {
      ByteView part = data.subspan(i * ps, std::min<uint64_t>(ps, data.size() - i * ps));
      md5s[i] = ComputeMd5(part);
      Call c;
      c.method = "PUT";
      c.key = key;
      c.what = "UploadPart";
      c.body = part;
      c.query = {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}};
      c.headers = {{"Content-MD5", md5s[i].Base64()}};
      auto r = Execute(c);
      std::optional<Error> err;
      if (!r.ok()) {
        err = r.error();
      } else if (r->resp.status != 200) {
        err = ErrorFor(c, r->resp);
      } else {
        std::string etag = Unquote(r->resp.Header("etag"));
        if (options_.verify_etag && IsPlainMd5(etag) && etag != md5s[i].Hex()) {
          err = Error(ErrorCode::kIo, "UploadPart " + std::to_string(i + 1) + " of " +
                                          ObjectName(key) + ": ETag does not match the MD5");
        }
      }
      if (err) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = *err;
        failed.store(true);
      }
    }
  };
  {
    size_t threads = std::min<size_t>(n, static_cast<size_t>(options_.part_concurrency));
    std::vector<std::jthread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
  }
  if (first_error) {
    abort();
    return *first_error;
  }

  std::string xml = "<CompleteMultipartUpload>";
  Bytes concat;
  for (size_t i = 0; i < n; ++i) {
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>\"" + md5s[i].Hex() +
           "\"</ETag></Part>";
    concat.insert(concat.end(), md5s[i].raw, md5s[i].raw + 16);
  }
  xml += "</CompleteMultipartUpload>";
  std::string expected = ComputeMd5(concat).Hex() + "-" + std::to_string(n);
  Call done;
  done.method = "POST";
  done.key = key;
  done.what = "CompleteMultipartUpload";
  done.query = {{"uploadId", upload_id}};
  done.body = AsBytes(xml);
  auto dr = Execute(done);
  if (!dr.ok()) {
    abort();
    return dr.error();
  }
  if (dr->resp.status == 200) {
    std::string etag = Unquote(XmlText(BodyText(dr->resp), "ETag"));
    if (options_.verify_etag && !etag.empty() && etag.find('-') != std::string::npos &&
        etag != expected) {
      return Error(ErrorCode::kIo, "CompleteMultipartUpload " + ObjectName(key) + ": ETag " + etag +
                                       " does not match the parts (" + expected + ")");
    }
    sweep_lost();
    return EnsureRetention(key, lock_headers);
  }
  if (dr->resp.status == 404) {
    // The first completion may have succeeded before its answer was lost (also when libcurl
    // resent it on its own, see PutSingle).
    auto etag = HeadETag(key);
    if (etag.ok() && *etag == expected) {
      sweep_lost();
      return EnsureRetention(key, lock_headers);
    }
  }
  Error err = ErrorFor(done, dr->resp);
  abort();
  return err;
}

Result<Bytes> S3Backend::Get(const std::string& key) {
  Call c;
  c.method = "GET";
  c.key = key;
  c.what = "GET";
  c.max_response_bytes = 8ull << 30;
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status != 200) return ErrorFor(c, r.resp);
  return std::move(r.resp.body);
}

Result<Bytes> S3Backend::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  std::string name = "s3://" + options_.bucket + "/" + ObjectName(key);
  if (length == 0) {
    BW_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
    if (info.size < offset) {
      return Error(ErrorCode::kIntegrity,
                   name + " is shorter than offset " + std::to_string(offset));
    }
    return Bytes{};
  }
  Call c;
  c.method = "GET";
  c.key = key;
  c.what = "GET";
  c.headers = {
      {"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}};
  // A server that ignores Range sends the whole object; allow that up to a limit.
  c.max_response_bytes = std::max<uint64_t>(length, 8ull << 30);
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  auto truncated = [&](uint64_t have) {
    return Error(ErrorCode::kIntegrity, name + " is truncated: wanted " + std::to_string(length) +
                                            " bytes at offset " + std::to_string(offset) +
                                            ", got " + std::to_string(have));
  };
  if (r.resp.status == 206) {
    if (r.resp.body.size() != length) return truncated(r.resp.body.size());
    return std::move(r.resp.body);
  }
  if (r.resp.status == 200) {
    Bytes& b = r.resp.body;
    if (b.size() < offset + length) return truncated(b.size() > offset ? b.size() - offset : 0);
    return Bytes(b.begin() + static_cast<ptrdiff_t>(offset),
                 b.begin() + static_cast<ptrdiff_t>(offset + length));
  }
  if (r.resp.status == 416) return truncated(0);
  return ErrorFor(c, r.resp);
}

Result<std::vector<ObjectInfo>> S3Backend::List(const std::string& prefix) {
  std::string full = options_.prefix.empty() ? prefix : options_.prefix + "/" + prefix;
  size_t strip = options_.prefix.empty() ? 0 : options_.prefix.size() + 1;
  std::vector<ObjectInfo> out;
  std::string token;
  for (int page = 0;; ++page) {
    Call c;
    c.method = "GET";
    c.bucket_level = true;
    c.what = "LIST";
    c.query = {{"list-type", "2"}, {"prefix", full}, {"max-keys", "1000"}};
    if (!token.empty()) c.query.emplace_back("continuation-token", token);
    c.max_response_bytes = 64ull << 20;
    BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
    if (r.resp.status != 200) return ErrorFor(c, r.resp);
    std::string text = BodyText(r.resp);
    if (text.find("<ListBucketResult") == std::string::npos) {
      return Error(ErrorCode::kIo, "LIST " + full + ": unexpected answer from the server");
    }
    for (std::string_view item : XmlElements(text, "Contents")) {
      std::string key = XmlText(item, "Key");
      if (key.size() < strip || key.compare(0, full.size(), full) != 0) continue;
      ObjectInfo info;
      info.key = key.substr(strip);
      info.size = std::strtoull(XmlText(item, "Size").c_str(), nullptr, 10);
      info.mtime_unix = ParseIsoDate(XmlText(item, "LastModified"));
      out.push_back(std::move(info));
    }
    if (XmlText(text, "IsTruncated") != "true") break;
    token = XmlText(text, "NextContinuationToken");
    if (token.empty()) {
      return Error(ErrorCode::kIo, "LIST " + full + ": truncated listing without a token");
    }
  }
  return out;
}

Result<ObjectInfo> S3Backend::Stat(const std::string& key) {
  Call c;
  c.method = "HEAD";
  c.key = key;
  c.what = "HEAD";
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status != 200) return ErrorFor(c, r.resp);
  ObjectInfo info;
  info.key = key;
  info.size = std::strtoull(r.resp.Header("content-length").c_str(), nullptr, 10);
  info.mtime_unix = ParseHttpDate(r.resp.Header("last-modified"));
  if (std::string until = r.resp.Header("x-amz-object-lock-retain-until-date"); !until.empty()) {
    info.retain_until_unix = ParseIsoDate(until);
  }
  return info;
}

std::vector<std::pair<std::string, std::string>> S3Backend::LockHeaders(
    const std::string& key) const {
  if (!lock_) return {};
  for (const auto& p : lock_->exempt_prefixes) {
    if (key.starts_with(p)) return {};
  }
  return {{"x-amz-object-lock-mode",
           lock_->mode == ObjectLock::Mode::kCompliance ? "COMPLIANCE" : "GOVERNANCE"},
          {"x-amz-object-lock-retain-until-date", IsoDate(UnixNow() + lock_->retain_seconds)}};
}

Status S3Backend::ExtendRetention(const std::string& key, int64_t at_least_unix,
                                  int64_t extend_to_unix) {
  if (!lock_) {
    return Error(ErrorCode::kUsage, "extending the retention of " + ObjectName(key) +
                                        ": the repository has no object lock");
  }
  BW_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
  if (info.retain_until_unix >= at_least_unix) return Status::Ok();
  return EnsureRetention(
      key,
      {{"x-amz-object-lock-mode",
        lock_->mode == ObjectLock::Mode::kCompliance ? "COMPLIANCE" : "GOVERNANCE"},
       {"x-amz-object-lock-retain-until-date", IsoDate(std::max(extend_to_unix, at_least_unix))}});
}

Status S3Backend::EnsureRetention(
    const std::string& key, const std::vector<std::pair<std::string, std::string>>& lock_headers) {
  if (lock_headers.size() != 2) return Status::Ok();
  const std::string& mode = lock_headers[0].second;
  const std::string& until = lock_headers[1].second;
  BW_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
  if (info.retain_until_unix >= ParseIsoDate(until)) return Status::Ok();
  std::string xml = "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>" + mode +
                    "</Mode><RetainUntilDate>" + until + "</RetainUntilDate></Retention>";
  Call c;
  c.key = key;
  c.what = "PutObjectRetention";
  c.query = {{"retention", ""}};
  return PutXml(std::move(c), xml);
}

Status S3Backend::PutXml(Call call, const std::string& xml) {
  call.method = "PUT";
  call.body = AsBytes(xml);
  call.headers = {{"Content-MD5", ComputeMd5(call.body).Base64()}};
  BW_ASSIGN_OR_RETURN(Reply r, Execute(call));
  if (r.resp.status == 200 || r.resp.status == 204) return Status::Ok();
  return ErrorFor(call, r.resp);
}

Status S3Backend::EnableObjectLock(const ObjectLock& lock, bool verify_root) {
  if (lock.retain_seconds <= 0) {
    return Error(ErrorCode::kUsage, "object lock needs a retention period of at least 1 second");
  }
  lock_ = lock;
  if (!verify_root) return Status::Ok();
  Call c;
  c.method = "GET";
  c.bucket_level = true;
  c.what = "GetObjectLockConfiguration";
  c.query = {{"object-lock", ""}};
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  std::string text = BodyText(r.resp);
  if (r.resp.status == 200 && XmlText(text, "ObjectLockEnabled") == "Enabled") {
    return Status::Ok();
  }
  std::string code = XmlText(text, "Code");
  if (r.resp.status == 200 || r.resp.status == 404 ||
      code == "ObjectLockConfigurationNotFoundError") {
    if (code == "NoSuchBucket") return ErrorFor(c, r.resp);
    return Error(ErrorCode::kUsage,
                 "bucket " + options_.bucket +
                     " has no object lock configuration, so objects in it cannot be locked; "
                     "object lock can only be turned on when a bucket is created: use a new "
                     "bucket (init creates it with object lock)");
  }
  return ErrorFor(c, r.resp);
}

Status S3Backend::RemoveVersions(const std::string& key) {
  const std::string full = ObjectName(key);
  std::vector<std::string> versions;
  std::string key_marker, id_marker;
  while (true) {
    Call c;
    c.method = "GET";
    c.bucket_level = true;
    c.what = "ListObjectVersions";
    c.query = {{"versions", ""}, {"prefix", full}};
    if (!key_marker.empty()) {
      c.query.emplace_back("key-marker", key_marker);
      c.query.emplace_back("version-id-marker", id_marker);
    }
    BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
    if (r.resp.status != 200) return ErrorFor(c, r.resp);
    std::string text = BodyText(r.resp);
    for (const char* tag : {"DeleteMarker", "Version"}) {
      for (std::string_view v : XmlElements(text, tag)) {
        if (XmlText(v, "Key") == full) versions.push_back(XmlText(v, "VersionId"));
      }
    }
    if (XmlText(text, "IsTruncated") != "true") break;
    key_marker = XmlText(text, "NextKeyMarker");
    id_marker = XmlText(text, "NextVersionIdMarker");
    if (key_marker.empty()) break;
  }
  // Versions oldest first, delete markers last: a version still under retention fails the
  // removal (403) before anything that hides the object is gone.
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    Call c;
    c.method = "DELETE";
    c.key = key;
    c.what = "DELETE";
    c.query = {{"versionId", *it}};
    BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
    if (r.resp.status == 204 || r.resp.status == 200 || r.resp.status == 404) continue;
    return ErrorFor(c, r.resp);
  }
  return Status::Ok();
}

Status S3Backend::Remove(const std::string& key) {
  if (lock_) return RemoveVersions(key);
  Call c;
  c.method = "DELETE";
  c.key = key;
  c.what = "DELETE";
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status == 204 || r.resp.status == 200 || r.resp.status == 404) return Status::Ok();
  return ErrorFor(c, r.resp);
}

Result<bool> S3Backend::RootExists() {
  Call c;
  c.method = "HEAD";
  c.bucket_level = true;
  c.what = "HEAD";
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status == 200) return true;
  if (r.resp.status == 404) return false;
  return ErrorFor(c, r.resp);
}

Status S3Backend::CreateRoot() {
  Call c;
  c.method = "PUT";
  c.bucket_level = true;
  c.what = "CreateBucket";
  if (lock_) c.headers.emplace_back("x-amz-bucket-object-lock-enabled", "true");
  std::string xml;
  bool aws = options_.endpoint.find(".amazonaws.com") != std::string::npos;
  if (aws && options_.region != "us-east-1") {
    xml =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        XmlEscape(options_.region) + "</LocationConstraint></CreateBucketConfiguration>";
    c.body = AsBytes(xml);
  }
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status == 200) return Status::Ok();
  std::string code = XmlText(BodyText(r.resp), "Code");
  if (r.resp.status == 409 && code == "BucketAlreadyOwnedByYou") return Status::Ok();
  if (r.resp.status == 409 && code == "BucketAlreadyExists") {
    return Error(ErrorCode::kFailure,
                 "bucket " + options_.bucket + " belongs to someone else: choose another name");
  }
  return ErrorFor(c, r.resp);
}

Result<std::vector<PendingUpload>> S3Backend::ListPendingUploads(const std::string& key_prefix) {
  std::string full = options_.prefix.empty() ? "" : options_.prefix + "/";
  const size_t base = full.size();
  full += key_prefix;
  std::vector<PendingUpload> out;
  std::string key_marker, id_marker;
  while (true) {
    Call c;
    c.method = "GET";
    c.bucket_level = true;
    c.what = "ListMultipartUploads";
    c.query = {{"uploads", ""}, {"prefix", full}};
    if (!key_marker.empty()) {
      c.query.emplace_back("key-marker", key_marker);
      c.query.emplace_back("upload-id-marker", id_marker);
    }
    BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
    if (r.resp.status != 200) return ErrorFor(c, r.resp);
    std::string text = BodyText(r.resp);
    for (std::string_view u : XmlElements(text, "Upload")) {
      std::string key = XmlText(u, "Key");
      out.push_back(PendingUpload{key.substr(std::min(base, key.size())), XmlText(u, "UploadId"),
                                  ParseIsoDate(XmlText(u, "Initiated"))});
    }
    if (XmlText(text, "IsTruncated") != "true") break;
    key_marker = XmlText(text, "NextKeyMarker");
    id_marker = XmlText(text, "NextUploadIdMarker");
    if (key_marker.empty()) break;
  }
  return out;
}

std::string S3Backend::StorageClassFor(const std::string& key) const {
  if (options_.storage_classes.empty()) return "";
  auto it = options_.storage_classes.find(key.substr(0, key.find('/')));
  return it == options_.storage_classes.end() ? "" : it->second;
}

Result<uint64_t> S3Backend::AbortStaleUploads(bool dry_run) {
  BW_ASSIGN_OR_RETURN(std::vector<PendingUpload> pending, ListPendingUploads());
  const int64_t cutoff = UnixNow() - options_.stale_upload_seconds;
  uint64_t n = 0;
  for (const auto& p : pending) {
    // An upload the server reports no time for is never taken for stale.
    if (p.initiated_unix == 0 || p.initiated_unix > cutoff) continue;
    if (!dry_run) BW_RETURN_IF_ERROR(AbortUpload(p));
    ++n;
  }
  return n;
}

Result<std::string> S3Backend::GetBucketLifecycle() {
  Call c;
  c.method = "GET";
  c.bucket_level = true;
  c.what = "GetBucketLifecycleConfiguration";
  c.query = {{"lifecycle", ""}};
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status == 200) return BodyText(r.resp);
  if (r.resp.status == 404 && XmlText(BodyText(r.resp), "Code") == "NoSuchLifecycleConfiguration") {
    return std::string();
  }
  return ErrorFor(c, r.resp);
}

Status S3Backend::PutBucketLifecycle(const std::string& xml) {
  Call c;
  c.bucket_level = true;
  c.what = "PutBucketLifecycleConfiguration";
  c.query = {{"lifecycle", ""}};
  return PutXml(std::move(c), xml);
}

int ConcurrentPutsFor(const Backend& backend) {
  if (const auto* s3 = dynamic_cast<const S3Backend*>(&backend)) {
    return std::max(1, s3->options().concurrent_uploads);
  }
  return 2;
}

Status S3Backend::AbortUpload(const PendingUpload& upload) {
  Call c;
  c.method = "DELETE";
  c.key = upload.key;
  c.what = "AbortMultipartUpload";
  c.query = {{"uploadId", upload.upload_id}};
  BW_ASSIGN_OR_RETURN(Reply r, Execute(c));
  if (r.resp.status == 204 || r.resp.status == 200 || r.resp.status == 404) return Status::Ok();
  return ErrorFor(c, r.resp);
}

}  // namespace bulwark::storage::s3

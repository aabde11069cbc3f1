#include "storage/s3/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace bulwark::storage::s3 {

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  ByteView body;
  size_t sent = 0;
  HttpResponse* resp = nullptr;
  uint64_t limit = 0;
};

size_t ReadBody(char* buf, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::min(size * nitems, t->body.size() - t->sent);
  if (n > 0) std::memcpy(buf, t->body.data() + t->sent, n);
  t->sent += n;
  return n;
}

// Lets curl rewind the upload when it must resend (e.g. after a redirect or auth retry).
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (t->resp->body.size() + n > t->limit) {
    t->resp->body_too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->resp->body.insert(t->resp->body.end(), reinterpret_cast<uint8_t*>(ptr),
                       reinterpret_cast<uint8_t*>(ptr) + n);
  return n;
}

size_t WriteHeader(char* buf, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nitems;
  std::string line(buf, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.starts_with("HTTP/")) {
    t->resp->headers.clear();  // a new response (after 100 Continue or a redirect)
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return n;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t vstart = line.find_first_not_of(" \t", colon + 1);
  std::string value = vstart == std::string::npos ? "" : line.substr(vstart);
  t->resp->headers.emplace_back(std::move(name), std::move(value));
  return n;
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) { GlobalInit(); }

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(handle);
}

bool HttpClient::TransportRetryable(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_READ_ERROR:
      return true;
    default:
      return false;
  }
}

HttpResponse HttpClient::Perform(const HttpRequest& req) {
  HttpResponse resp;
  CURL* h = static_cast<CURL*>(Acquire());
  if (h == nullptr) {
    resp.curl_code = CURLE_OUT_OF_MEMORY;
    resp.transport_error = "cannot create a curl handle";
    return resp;
  }
  curl_easy_reset(h);  // keeps live connections, drops the previous request's options
  Transfer t;
  t.body = req.body;
  t.resp = &resp;
  t.limit = req.max_response_bytes;

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout_seconds * 1000));
  if (options_.stall_seconds > 0) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(options_.stall_seconds)));
  }
  if (req.timeout_seconds > 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     std::max(1L, static_cast<long>(req.timeout_seconds * 1000)));
  }
  if (!options_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);

  struct curl_slist* list = nullptr;
  for (const auto& [k, v] : req.headers) {
    list = curl_slist_append(list, (k + ": " + v).c_str());
  }
  // The server answers 412/403 before we send much anyway; skip the 100-continue round trip.
  list = curl_slist_append(list, "Expect:");
  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(req.body.data()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    resp.curl_code = rc;
    resp.transport_error = curl_easy_strerror(rc);
    if (resp.body_too_large) resp.transport_error = "response larger than expected";
    // The connection may be half-used; a fresh handle avoids reusing it.
    curl_easy_cleanup(h);
    return resp;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  Release(h);
  return resp;
}

}  // namespace bulwark::storage::s3

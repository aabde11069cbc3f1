// HttpClient: blocking HTTP/1.1 requests over libcurl with connection reuse. A pool of curl
// easy handles is kept (each keeps its connections alive), so concurrent callers each get a
// warm connection. Thread-safe: any number of threads may call Perform at once.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"

namespace bulwark::storage::s3 {

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  ByteView body;                             // sent for PUT and POST
  uint64_t max_response_bytes = 1ull << 30;  // larger bodies abort the transfer
  double timeout_seconds = 0;                // whole request; 0 = none
};

struct HttpResponse {
  int curl_code = 0;            // CURLcode; 0 when the exchange completed
  std::string transport_error;  // curl's description when curl_code != 0
  long status = 0;              // HTTP status when curl_code == 0
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  Bytes body;
  bool body_too_large = false;

  // First header with this (lower-case) name, or "".
  std::string Header(const std::string& name) const;
};

struct HttpClientOptions {
  std::string ca_bundle;  // PEM file; empty: the system's trust store
  double connect_timeout_seconds = 10;
  double stall_seconds = 30;  // abort when below 1 KiB/s for this long
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Perform(const HttpRequest& request);

  // Whether a transport failure (curl code) is worth retrying: timeouts, resets, refused
  // connections; not TLS verification failures or malformed URLs.
  static bool TransportRetryable(int curl_code);

 private:
  void* Acquire();
  void Release(void* handle);

  HttpClientOptions options_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles with live connections
};

}  // namespace bulwark::storage::s3

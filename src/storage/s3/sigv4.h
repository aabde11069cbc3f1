// AWS Signature Version 4 (AWS4-HMAC-SHA256), written from the published specification:
// canonical request -> string to sign -> signing key -> signature -> Authorization header.
// Pure functions over plain values: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark::storage::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials (STS)
};

// One request to sign. Path and query are given decoded (as the user means them); the
// signer encodes them the way the specification and S3 expect (each path segment once).
struct SigningRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // "/bucket/key" or "/key"; empty means "/"
  std::vector<std::pair<std::string, std::string>> query;  // decoded name, value ("" for none)
  // Every header to sign, in any order and case; must include Host and X-Amz-Date. Headers
  // with the same name are joined with ',' in the order given.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256_hex;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~)
// stay, everything else becomes %XY with upper-case hex; '/' stays when !encode_slash.
std::string UriEncode(std::string_view s, bool encode_slash = true);

// Hex SHA-256 of data.
std::string Sha256Hex(std::string_view data);

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// The canonical request (step 1) and the semicolon-separated signed header names it uses.
std::string CanonicalRequest(const SigningRequest& req, std::string* signed_headers = nullptr);

// amz_date is "YYYYMMDDTHHMMSSZ"; scope is "<date>/<region>/<service>/aws4_request".
std::string StringToSign(const std::string& canonical_request, const std::string& amz_date,
                         const std::string& scope);

// The 32-byte signing key derived from the secret key, date (YYYYMMDD), region, service.
std::string SigningKey(const std::string& secret, const std::string& date,
                       const std::string& region, const std::string& service);

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature_hex;
  std::string authorization;  // value of the Authorization header
};

Signature Sign(const SigningRequest& req, const Credentials& creds, const std::string& region,
               const std::string& service, const std::string& amz_date);

// "YYYYMMDDTHHMMSSZ" for a Unix time (UTC).
std::string AmzDate(int64_t unix_seconds);

}  // namespace bulwark::storage::s3

#include "storage/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "core/time_format.h"

namespace bulwark::storage::s3 {

namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string ToHex(const unsigned char* p, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHexLower[p[i] >> 4]);
    out.push_back(kHexLower[p[i] & 15]);
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims leading and trailing whitespace and collapses inner runs of whitespace to one space
// (the specification's Trimall; it applies inside quoted strings too).
std::string TrimAll(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (Unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 15]);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return ToHex(md, len);
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(UriEncode(k), UriEncode(v));
  std::sort(enc.begin(), enc.end());  // by encoded name, then encoded value
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string CanonicalRequest(const SigningRequest& req, std::string* signed_headers) {
  // Canonical headers: lower-case names, sorted; values trimmed; repeated names joined by ','.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : req.headers) {
    std::string key = Lower(TrimAll(name));
    std::string val = TrimAll(value);
    auto [it, inserted] = headers.emplace(key, val);
    if (!inserted) it->second += "," + val;
  }
  std::string names;
  std::string canon_headers;
  for (const auto& [k, v] : headers) {
    if (!names.empty()) names.push_back(';');
    names += k;
    canon_headers += k + ":" + v + "\n";
  }
  std::string path = req.path.empty() ? "/" : req.path;
  if (path[0] != '/') path.insert(path.begin(), '/');
  std::string out;
  out += req.method + "\n";
  out += UriEncode(path, /*encode_slash=*/false) + "\n";
  out += CanonicalQueryString(req.query) + "\n";
  out += canon_headers + "\n";
  out += names + "\n";
  out += req.payload_sha256_hex;
  if (signed_headers != nullptr) *signed_headers = names;
  return out;
}

std::string StringToSign(const std::string& canonical_request, const std::string& amz_date,
                         const std::string& scope) {
  return "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + Sha256Hex(canonical_request);
}

std::string SigningKey(const std::string& secret, const std::string& date,
                       const std::string& region, const std::string& service) {
  std::string k = Hmac("AWS4" + secret, date);
  k = Hmac(k, region);
  k = Hmac(k, service);
  return Hmac(k, "aws4_request");
}

Signature Sign(const SigningRequest& req, const Credentials& creds, const std::string& region,
               const std::string& service, const std::string& amz_date) {
  Signature sig;
  std::string signed_headers;
  sig.canonical_request = CanonicalRequest(req, &signed_headers);
  std::string date = amz_date.substr(0, 8);
  std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  sig.string_to_sign = StringToSign(sig.canonical_request, amz_date, scope);
  std::string key = SigningKey(creds.secret_access_key, date, region, service);
  std::string mac = Hmac(key, sig.string_to_sign);
  sig.signature_hex = ToHex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature_hex;
  return sig;
}

std::string AmzDate(int64_t unix_seconds) { return FormatUtc(unix_seconds, "%Y%m%dT%H%M%SZ"); }

}  // namespace bulwark::storage::s3

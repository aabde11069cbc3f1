#include "sources/redis/redis_connection.h"

// GCC 12 reports a false maybe-uninitialized inside std::string::starts_with on strings moved
// out of Result<std::string> (a std::variant); the strings are always initialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace bulwark::sources::redis {

namespace {

Result<int> ParseInt(std::string_view s, const char* what) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Error(ErrorCode::kUsage, fmt::format("bad {} '{}' in the Redis URL", what, s));
  }
  return v;
}

Status SetTimeouts(int fd, int seconds) {
  timeval tv{};
  tv.tv_sec = seconds;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
    return ErrnoError("setting socket timeouts", errno);
  }
  // A large receive buffer lets the kernel absorb bursts while the consumer catches up.
  int size = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  return Status::Ok();
}

// The queued OpenSSL errors as one line (and clears the queue).
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no further detail" : out;
}

bool IsIpAddress(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return ::inet_pton(AF_INET, host.c_str(), &a4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

constexpr size_t kMaxReplyLine = 64 * 1024;
constexpr int kMaxReplyDepth = 16;

}  // namespace

std::string RedisEndpoint::Display() const {
  std::string who = user.empty() ? "" : user + "@";
  if (!unix_path.empty()) return "unix://" + who + unix_path;
  if (host.find(':') != std::string::npos) {
    return fmt::format("{}://{}[{}]:{}", tls ? "rediss" : "redis", who, host, port);
  }
  return fmt::format("{}://{}{}:{}", tls ? "rediss" : "redis", who, host, port);
}

std::string RespReply::FirstError() const {
  if (type == '-') return str;
  for (const auto& e : elements) {
    std::string inner = e.FirstError();
    if (!inner.empty()) return inner;
  }
  return {};
}

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  RedisEndpoint ep;
  if (url.starts_with("/")) {
    ep.unix_path = std::string(url);
    return ep;
  }
  std::string_view rest;
  bool is_unix = false;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("rediss://")) {
    rest = url.substr(9);
    ep.tls = true;
  } else if (url.starts_with("unix://")) {
    rest = url.substr(7);
    is_unix = true;
  } else {
    return Error(ErrorCode::kUsage,
                 fmt::format("'{}' is not a Redis URL (redis://[user@]host:port[/db], "
                             "rediss://... for TLS, unix:///path/redis.sock)",
                             url));
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (cred.find(':') != std::string_view::npos) {
      return Error(ErrorCode::kUsage,
                   "a password in the Redis URL would be visible to every user of this host; "
                   "give it with --redis-password-file, BULWARK_REDIS_PASSWORD or REDISCLI_AUTH");
    }
    ep.user = std::string(cred);
  }
  if (is_unix) {
    if (!rest.starts_with("/")) return Error(ErrorCode::kUsage, "unix:// needs an absolute path");
    ep.unix_path = std::string(rest);
    return ep;
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      BW_ASSIGN_OR_RETURN(ep.db, ParseInt(db, "database number"));
    }
  }
  if (rest.starts_with("[")) {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Error(ErrorCode::kUsage, "unclosed [ in the URL");
    ep.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (rest.starts_with(":")) {
      BW_ASSIGN_OR_RETURN(ep.port, ParseInt(rest.substr(1), "port"));
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    ep.host = std::string(rest.substr(0, colon));
    BW_ASSIGN_OR_RETURN(ep.port, ParseInt(rest.substr(colon + 1), "port"));
  } else {
    ep.host = std::string(rest);
  }
  if (ep.host.empty()) return Error(ErrorCode::kUsage, "the Redis URL names no host");
  if (ep.port <= 0 || ep.port > 65535) return Error(ErrorCode::kUsage, "Redis port out of range");
  return ep;
}

Result<RedisConnection> RedisConnection::Connect(const RedisEndpoint& endpoint,
                                                 int timeout_seconds) {
  const std::string where = endpoint.Display();
  if (!endpoint.unix_path.empty()) {
    if (endpoint.tls) return Error(ErrorCode::kUsage, "TLS over a unix socket is not supported");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (endpoint.unix_path.size() >= sizeof(addr.sun_path)) {
      return Error(ErrorCode::kUsage, "unix socket path too long: " + endpoint.unix_path);
    }
    std::memcpy(addr.sun_path, endpoint.unix_path.c_str(), endpoint.unix_path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoError("socket", errno);
    RedisConnection conn(fd, endpoint);
    BW_RETURN_IF_ERROR(SetTimeouts(fd, timeout_seconds));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return ErrnoError("connecting to Redis at " + where, errno);
    }
    return conn;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Error(ErrorCode::kFailure,
                 fmt::format("resolving {}: {}", endpoint.host, ::gai_strerror(rc)));
  }
  int last_errno = ECONNREFUSED;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    RedisConnection conn(fd, endpoint);
    if (Status st = SetTimeouts(fd, timeout_seconds); !st.ok()) {
      ::freeaddrinfo(res);
      return st.error();
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::freeaddrinfo(res);
      if (endpoint.tls) BW_RETURN_IF_ERROR(conn.StartTls(timeout_seconds));
      return conn;
    }
    last_errno = errno;
  }
  ::freeaddrinfo(res);
  return ErrnoError("connecting to Redis at " + where, last_errno);
}

Status RedisConnection::StartTls(int timeout_seconds) {
  (void)timeout_seconds;  // the socket's timeouts bound every step of the handshake
  const std::string where = endpoint_.Display();
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr)
    return Error(ErrorCode::kFailure, "creating a TLS context: " + OpenSslErrors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  // A read that only processed a TLS record without data (a session ticket) returns instead of
  // blocking again, so a bounded wait stays bounded.
  SSL_CTX_clear_mode(ctx_, SSL_MODE_AUTO_RETRY);
  // A peer that closes without close_notify reads as a closed connection (as over plain TCP).
  SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!endpoint_.ca_bundle.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, endpoint_.ca_bundle.c_str(), nullptr) != 1) {
      return Error(ErrorCode::kUsage, fmt::format("the CA bundle {} cannot be used: {}",
                                                  endpoint_.ca_bundle, OpenSslErrors()));
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
    return Error(ErrorCode::kUsage, "the system's CA certificates cannot be loaded: " +
                                        OpenSslErrors() + "; set --redis-ca-bundle");
  }
  if (endpoint_.cert_file.empty() != endpoint_.key_file.empty()) {
    return Error(ErrorCode::kUsage,
                 "a TLS client certificate needs both --redis-cert and --redis-key");
  }
  if (!endpoint_.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, endpoint_.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, endpoint_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_) != 1) {
      return Error(ErrorCode::kUsage,
                   fmt::format("the TLS client certificate {} / key {} cannot be used: {}",
                               endpoint_.cert_file, endpoint_.key_file, OpenSslErrors()));
    }
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    return Error(ErrorCode::kFailure, "creating a TLS session: " + OpenSslErrors());
  }
  // The certificate must name the host of the URL: an IP address as an IP SAN, a name as a DNS
  // SAN (also sent as SNI).
  if (IsIpAddress(endpoint_.host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), endpoint_.host.c_str()) != 1) {
      return Error(ErrorCode::kFailure, "setting the expected IP address: " + OpenSslErrors());
    }
  } else {
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl_, endpoint_.host.c_str()) != 1 ||
        SSL_set1_host(ssl_, endpoint_.host.c_str()) != 1) {
      return Error(ErrorCode::kFailure, "setting the expected host name: " + OpenSslErrors());
    }
  }
  while (true) {
    int rc = SSL_connect(ssl_);
    if (rc == 1) return Status::Ok();
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      return Error(ErrorCode::kUsage,
                   fmt::format("the TLS certificate of Redis at {} did not verify: {}; trust the "
                               "CA that signed it with --redis-ca-bundle or "
                               "BULWARK_REDIS_CA_BUNDLE, and name the host as the certificate "
                               "does",
                               where, X509_verify_cert_error_string(verify)));
    }
    if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Error(ErrorCode::kFailure,
                   "Redis at " + where + " did not complete the TLS handshake within the timeout");
    }
    return Error(
        ErrorCode::kFailure,
        fmt::format("TLS handshake with Redis at {} failed ({}); is that port the "
                    "server's tls-port?",
                    where,
                    err == SSL_ERROR_SYSCALL && errno != 0 ? std::string(std::strerror(errno))
                                                           : OpenSslErrors()));
  }
}

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : fd_(other.fd_),
      ctx_(other.ctx_),
      ssl_(other.ssl_),
      endpoint_(std::move(other.endpoint_)),
      buf_(std::move(other.buf_)),
      pos_(other.pos_) {
  other.fd_ = -1;
  other.ctx_ = nullptr;
  other.ssl_ = nullptr;
}

RedisConnection::~RedisConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

void RedisConnection::Shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Status RedisConnection::Send(const std::vector<std::string>& args) {
  std::string out = fmt::format("*{}\r\n", args.size());
  for (const auto& a : args) {
    out += fmt::format("${}\r\n", a.size());
    out += a;
    out += "\r\n";
  }
  return SendRaw(AsBytes(out));
}

Error RedisConnection::Explain(Error e) const {
  if (ssl_ == nullptr || received_ || !endpoint_.cert_file.empty()) return e;
  return Error(ErrorCode::kUsage,
               fmt::format("Redis at {} dropped the TLS connection before answering ({}); it "
                           "most likely requires a client certificate (tls-auth-clients): give "
                           "one with --redis-cert and --redis-key",
                           endpoint_.Display(), e.message()));
}

Status RedisConnection::SendRaw(ByteView bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_write(ssl_, bytes.data() + done,
                        static_cast<int>(std::min<size_t>(bytes.size() - done, 1u << 30)));
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
      if (err == SSL_ERROR_SYSCALL && errno == EINTR) continue;
      if (err == SSL_ERROR_SYSCALL && errno != 0) {
        return Explain(ErrnoError("sending to Redis at " + endpoint_.Display(), errno));
      }
      return Explain(Error(ErrorCode::kFailure,
                           "sending to Redis at " + endpoint_.Display() + ": " + OpenSslErrors()));
    }
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("sending to Redis at " + endpoint_.Display(), errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::optional<size_t>> RedisConnection::Recv(MutableByteView out, bool dont_wait) {
  const std::string where = endpoint_.Display();
  while (true) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_read(ssl_, out.data(), static_cast<int>(std::min<size_t>(out.size(), 1u << 30)));
      if (n > 0) {
        received_ = true;
        return std::optional<size_t>(static_cast<size_t>(n));
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) return std::optional<size_t>(0);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (dont_wait) return std::optional<size_t>();
        continue;
      }
      if (err == SSL_ERROR_SYSCALL) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return Error(ErrorCode::kFailure,
                       "Redis at " + where + " sent nothing within the timeout");
        }
        if (errno == 0) return std::optional<size_t>(0);
        return Explain(ErrnoError("reading from Redis at " + where, errno));
      }
      std::string detail = OpenSslErrors();
      if (detail.find("certificate required") != std::string::npos) {
        return Error(ErrorCode::kUsage,
                     fmt::format("Redis at {} requires a TLS client certificate "
                                 "(tls-auth-clients): give one with --redis-cert and --redis-key",
                                 where));
      }
      return Explain(
          Error(ErrorCode::kFailure, "reading from Redis at " + where + " (TLS): " + detail));
    }
    ssize_t n = ::recv(fd_, out.data(), out.size(), dont_wait ? MSG_DONTWAIT : 0);
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR) {
      if (dont_wait) return std::optional<size_t>();
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (dont_wait) return std::optional<size_t>();
      return Error(ErrorCode::kFailure, "Redis at " + where + " sent nothing within the timeout");
    }
    return ErrnoError("reading from Redis at " + where, errno);
  }
}

Result<size_t> RedisConnection::ReadSome(MutableByteView out) {
  if (pos_ < buf_.size()) {
    size_t n = std::min(out.size(), buf_.size() - pos_);
    std::memcpy(out.data(), buf_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  BW_ASSIGN_OR_RETURN(auto n, Recv(out, false));
  return *n;
}

Result<std::optional<size_t>> RedisConnection::ReadWithin(MutableByteView out, int timeout_ms) {
  if (pos_ < buf_.size()) {
    BW_ASSIGN_OR_RETURN(size_t n, ReadSome(out));
    return std::optional<size_t>(n);
  }
  if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
    pollfd p{};
    p.fd = fd_;
    p.events = POLLIN;
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0) {
      if (errno == EINTR) return std::optional<size_t>();
      return ErrnoError("waiting for Redis at " + endpoint_.Display(), errno);
    }
    if (rc == 0) return std::optional<size_t>();
  }
  return Recv(out, true);
}

Status RedisConnection::Want(size_t n) {
  if (buf_.size() - pos_ >= n) return Status::Ok();
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
  pos_ = 0;
  uint8_t tmp[16384];
  while (buf_.size() < n) {
    BW_ASSIGN_OR_RETURN(auto got, Recv(MutableByteView(tmp, sizeof(tmp)), false));
    if (*got == 0) {
      return Explain(
          Error(ErrorCode::kFailure, "Redis at " + endpoint_.Display() + " closed the connection"));
    }
    buf_.insert(buf_.end(), tmp, tmp + *got);
  }
  return Status::Ok();
}

Result<std::string> RedisConnection::ReadLine() {
  size_t scanned = 0;  // bytes after pos_ already searched for the newline
  while (true) {
    for (size_t i = pos_ + scanned; i < buf_.size(); ++i) {
      if (buf_[i] == '\n') {
        size_t end = (i > pos_ && buf_[i - 1] == '\r') ? i - 1 : i;
        std::string line(buf_.begin() + static_cast<std::ptrdiff_t>(pos_),
                         buf_.begin() + static_cast<std::ptrdiff_t>(end));
        pos_ = i + 1;
        return line;
      }
    }
    scanned = buf_.size() - pos_;
    if (scanned > kMaxReplyLine) {
      return Error(ErrorCode::kFailure, "Redis sent an overlong reply line");
    }
    BW_RETURN_IF_ERROR(Want(scanned + 1));  // keeps the unread bytes, from pos_ = 0
  }
}

namespace {

Result<int64_t> ParseReplyInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Error(ErrorCode::kFailure, fmt::format("malformed number '{}' in a Redis reply", s));
  }
  return v;
}

}  // namespace

Result<RespReply> RedisConnection::ReadReply() {
  // Iterative over nesting: a stack of arrays still being filled.
  std::vector<std::pair<RespReply, int64_t>> open;  // array, elements still expected
  while (true) {
    BW_ASSIGN_OR_RETURN(std::string line, ReadLine());
    if (line.empty()) {
      return Error(ErrorCode::kFailure, "empty reply line from Redis at " + endpoint_.Display());
    }
    RespReply r;
    r.type = line[0];
    std::string_view rest = std::string_view(line).substr(1);
    switch (r.type) {
      case '+':
      case '-':
        r.str = std::string(rest);
        break;
      case ':': {
        BW_ASSIGN_OR_RETURN(r.integer, ParseReplyInt(rest));
        break;
      }
      case '$': {
        BW_ASSIGN_OR_RETURN(int64_t len, ParseReplyInt(rest));
        if (len < 0) {
          r.type = '_';
          break;
        }
        BW_RETURN_IF_ERROR(Want(static_cast<size_t>(len) + 2));
        r.str.assign(reinterpret_cast<const char*>(buf_.data() + pos_), static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len) + 2;
        break;
      }
      case '*': {
        BW_ASSIGN_OR_RETURN(int64_t n, ParseReplyInt(rest));
        if (n < 0) {
          r.type = '_';
          break;
        }
        if (n > 0) {
          if (open.size() >= kMaxReplyDepth) {
            return Error(ErrorCode::kFailure, "Redis reply nested too deeply");
          }
          open.emplace_back(std::move(r), n);
          continue;
        }
        break;
      }
      default:
        return Error(ErrorCode::kFailure, fmt::format("unexpected reply from Redis at {}: {}",
                                                      endpoint_.Display(), line.substr(0, 80)));
    }
    // r is complete: add it to the innermost open array, closing arrays that are full.
    while (true) {
      if (open.empty()) return r;
      open.back().first.elements.push_back(std::move(r));
      if (--open.back().second > 0) break;
      r = std::move(open.back().first);
      open.pop_back();
    }
  }
}

void RedisConnection::Unread(ByteView bytes) {
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
  pos_ = 0;
  buf_.insert(buf_.begin(), bytes.begin(), bytes.end());
}

}  // namespace bulwark::sources::redis

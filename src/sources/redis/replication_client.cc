#include "sources/redis/replication_client.h"

// GCC 12 reports a false maybe-uninitialized inside std::string::starts_with on strings moved
// out of Result<std::string> (a std::variant); the strings are always initialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

}  // namespace

std::string RedisEndpoint::Display() const {
  std::string who = user.empty() ? "" : user + "@";
  if (!unix_path.empty()) return "unix://" + who + unix_path;
  return fmt::format("redis://{}{}:{}", who, host, port);
}

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  RedisEndpoint ep;
  if (url.starts_with("/")) {
    ep.unix_path = std::string(url);
    return ep;
  }
  if (url.starts_with("rediss://")) {
    return Error(ErrorCode::kUsage,
                 "TLS (rediss://) is not supported yet; use redis:// or a "
                 "unix socket");
  }
  std::string_view rest;
  bool is_unix = false;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("unix://")) {
    rest = url.substr(7);
    is_unix = true;
  } else {
    return Error(ErrorCode::kUsage,
                 fmt::format("'{}' is not a Redis URL (redis://[user@]host:port[/db], "
                             "unix:///path/redis.sock)",
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

Result<ReplicationClient> ReplicationClient::Connect(const RedisEndpoint& endpoint,
                                                     int timeout_seconds) {
  const std::string where = endpoint.Display();
  if (!endpoint.unix_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (endpoint.unix_path.size() >= sizeof(addr.sun_path)) {
      return Error(ErrorCode::kUsage, "unix socket path too long: " + endpoint.unix_path);
    }
    std::memcpy(addr.sun_path, endpoint.unix_path.c_str(), endpoint.unix_path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoError("socket", errno);
    ReplicationClient client(fd, endpoint);
    BW_RETURN_IF_ERROR(SetTimeouts(fd, timeout_seconds));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return ErrnoError("connecting to Redis at " + where, errno);
    }
    return client;
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
    ReplicationClient client(fd, endpoint);
    if (Status st = SetTimeouts(fd, timeout_seconds); !st.ok()) {
      ::freeaddrinfo(res);
      return st.error();
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::freeaddrinfo(res);
      return client;
    }
    last_errno = errno;
  }
  ::freeaddrinfo(res);
  return ErrnoError("connecting to Redis at " + where, last_errno);
}

ReplicationClient::ReplicationClient(ReplicationClient&& other) noexcept
    : fd_(other.fd_),
      endpoint_(std::move(other.endpoint_)),
      buf_(std::move(other.buf_)),
      pos_(other.pos_) {
  other.fd_ = -1;
}

ReplicationClient::~ReplicationClient() {
  if (fd_ >= 0) ::close(fd_);
}

void ReplicationClient::Shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Status ReplicationClient::Send(const std::vector<std::string>& args) {
  std::string out = fmt::format("*{}\r\n", args.size());
  for (const auto& a : args) out += fmt::format("${}\r\n{}\r\n", a.size(), a);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::send(fd_, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("sending to Redis at " + endpoint_.Display(), errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<size_t> ReplicationClient::ReadSome(MutableByteView out) {
  if (pos_ < buf_.size()) {
    size_t n = std::min(out.size(), buf_.size() - pos_);
    std::memcpy(out.data(), buf_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  while (true) {
    ssize_t n = ::recv(fd_, out.data(), out.size(), 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Error(ErrorCode::kFailure,
                   "Redis at " + endpoint_.Display() + " sent nothing within the timeout");
    }
    return ErrnoError("reading from Redis at " + endpoint_.Display(), errno);
  }
}

Result<std::string> ReplicationClient::ReadLine() {
  while (true) {
    for (size_t i = pos_; i < buf_.size(); ++i) {
      if (buf_[i] == '\n') {
        size_t end = (i > pos_ && buf_[i - 1] == '\r') ? i - 1 : i;
        std::string line(buf_.begin() + static_cast<std::ptrdiff_t>(pos_),
                         buf_.begin() + static_cast<std::ptrdiff_t>(end));
        pos_ = i + 1;
        return line;
      }
    }
    if (buf_.size() - pos_ > 64 * 1024) {
      return Error(ErrorCode::kFailure, "Redis sent an overlong reply line");
    }
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
    uint8_t tmp[4096];
    while (true) {
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n > 0) {
        buf_.insert(buf_.end(), tmp, tmp + n);
        break;
      }
      if (n == 0) {
        return Error(ErrorCode::kFailure,
                     "Redis at " + endpoint_.Display() + " closed the connection");
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Error(ErrorCode::kFailure,
                     "Redis at " + endpoint_.Display() + " did not answer within the timeout");
      }
      return ErrnoError("reading from Redis at " + endpoint_.Display(), errno);
    }
  }
}

Error ReplicationClient::ClassifyError(const std::string& reply, const std::string& what) const {
  const std::string where = endpoint_.Display();
  if (reply.starts_with("WRONGPASS") || reply.starts_with("NOAUTH") ||
      reply.find("without any password configured") != std::string::npos ||
      reply.starts_with("ERR invalid password")) {
    return Error(ErrorCode::kUsage,
                 fmt::format("Redis at {} refused the credentials ({}): {}; check the user in "
                             "the URL and --redis-password-file / BULWARK_REDIS_PASSWORD",
                             where, what, reply));
  }
  if (reply.starts_with("NOPERM")) {
    return Error(
        ErrorCode::kUsage,
        fmt::format("Redis at {} denied {} to user '{}': {}; the ACL user needs "
                    "+psync +replconf +ping (see docs/REDIS.md)",
                    where, what, endpoint_.user.empty() ? "default" : endpoint_.user, reply));
  }
  if (reply.starts_with("LOADING")) {
    return Error(ErrorCode::kFailure,
                 fmt::format("Redis at {} is still loading its dataset ({}); try again when it "
                             "has finished",
                             where, reply));
  }
  return Error(ErrorCode::kFailure, fmt::format("Redis at {} refused {}: {}", where, what, reply));
}

Result<std::string> ReplicationClient::ReadNonEmptyLine() {
  while (true) {
    Result<std::string> line = ReadLine();
    if (!line.ok() || !line->empty()) return line;
  }
}

Result<std::string> ReplicationClient::Command(const std::vector<std::string>& args,
                                               const std::string& what) {
  BW_RETURN_IF_ERROR(Send(args));
  BW_ASSIGN_OR_RETURN(std::string line, ReadLine());
  if (line.starts_with("-")) return ClassifyError(line.substr(1), what);
  return line;
}

Status ReplicationClient::Handshake() {
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
    auth.push_back(endpoint_.password);
    BW_RETURN_IF_ERROR(Command(auth, "AUTH"));
  } else if (!endpoint_.user.empty()) {
    // A user without a password: only valid for a nopass user.
    BW_RETURN_IF_ERROR(Command({"AUTH", endpoint_.user, ""}, "AUTH"));
  }
  BW_ASSIGN_OR_RETURN(std::string pong, Command({"PING"}, "PING"));
  if (pong != "+PONG") {
    return Error(ErrorCode::kFailure, "unexpected reply to PING from Redis: " + pong);
  }
  BW_RETURN_IF_ERROR(Command({"REPLCONF", "listening-port", "0"}, "REPLCONF"));
  BW_RETURN_IF_ERROR(Command({"REPLCONF", "capa", "eof", "capa", "psync2"}, "REPLCONF"));
  return Status::Ok();
}

namespace {

Result<FullResync> ParseFullResync(const std::string& line) {
  std::string_view rest = std::string_view(line).substr(12);
  size_t sp = rest.find(' ');
  if (sp != 40) return Error(ErrorCode::kFailure, "malformed FULLRESYNC reply: " + line);
  FullResync r;
  r.replid = std::string(rest.substr(0, sp));
  std::string_view off = rest.substr(sp + 1);
  auto [p, ec] = std::from_chars(off.data(), off.data() + off.size(), r.offset);
  if (ec != std::errc() || p != off.data() + off.size()) {
    return Error(ErrorCode::kFailure, "malformed FULLRESYNC offset: " + line);
  }
  return r;
}

}  // namespace

Result<FullResync> ReplicationClient::Psync() {
  BW_RETURN_IF_ERROR(Send({"PSYNC", "?", "-1"}));
  // A primary may send keep-alive newlines before its answer.
  BW_ASSIGN_OR_RETURN(std::string line, ReadNonEmptyLine());
  if (line.starts_with("-")) return ClassifyError(line.substr(1), "PSYNC");
  // +FULLRESYNC <40-char replid> <offset>
  if (!line.starts_with("+FULLRESYNC ")) {
    return Error(ErrorCode::kFailure, "unexpected reply to PSYNC from Redis: " + line);
  }
  return ParseFullResync(line);
}

Result<PsyncReply> ReplicationClient::PsyncFrom(const std::string& replid, uint64_t next_byte) {
  BW_RETURN_IF_ERROR(Send({"PSYNC", replid, std::to_string(next_byte)}));
  BW_ASSIGN_OR_RETURN(std::string line, ReadNonEmptyLine());
  if (line.starts_with("-")) return ClassifyError(line.substr(1), "PSYNC");
  PsyncReply reply;
  if (line.starts_with("+FULLRESYNC ")) {
    reply.full = true;
    BW_ASSIGN_OR_RETURN(reply.resync, ParseFullResync(line));
    return reply;
  }
  if (line == "+CONTINUE") return reply;
  if (line.starts_with("+CONTINUE ")) {
    reply.new_replid = line.substr(10);
    if (reply.new_replid.size() != 40) {
      return Error(ErrorCode::kFailure, "malformed CONTINUE reply: " + line);
    }
    return reply;
  }
  return Error(ErrorCode::kFailure, "unexpected reply to PSYNC from Redis: " + line);
}

Result<std::optional<size_t>> ReplicationClient::ReadWithin(MutableByteView out, int timeout_ms) {
  if (pos_ < buf_.size()) {
    BW_ASSIGN_OR_RETURN(size_t n, ReadSome(out));
    return std::optional<size_t>(n);
  }
  pollfd p{};
  p.fd = fd_;
  p.events = POLLIN;
  int rc = ::poll(&p, 1, timeout_ms);
  if (rc < 0) {
    if (errno == EINTR) return std::optional<size_t>();
    return ErrnoError("waiting for Redis at " + endpoint_.Display(), errno);
  }
  if (rc == 0) return std::optional<size_t>();
  while (true) {
    ssize_t n = ::recv(fd_, out.data(), out.size(), MSG_DONTWAIT);
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
      return std::optional<size_t>();
    }
    return ErrnoError("reading from Redis at " + endpoint_.Display(), errno);
  }
}

void ReplicationClient::Unread(ByteView bytes) {
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
  pos_ = 0;
  buf_.insert(buf_.begin(), bytes.begin(), bytes.end());
}

Result<TransferHeader> ReplicationClient::ReadTransferHeader() {
  BW_ASSIGN_OR_RETURN(std::string line, ReadNonEmptyLine());
  if (line.starts_with("-")) {
    return Error(ErrorCode::kFailure, "Redis could not start the transfer: " + line.substr(1));
  }
  if (!line.starts_with("$")) {
    return Error(ErrorCode::kFailure, "unexpected transfer header from Redis: " + line);
  }
  TransferHeader h;
  if (line.starts_with("$EOF:")) {
    h.diskless = true;
    h.eof_mark = line.substr(5);
    if (h.eof_mark.size() != 40) {
      return Error(ErrorCode::kFailure, "malformed diskless transfer header: " + line);
    }
    return h;
  }
  std::string_view len = std::string_view(line).substr(1);
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), h.length);
  if (ec != std::errc() || p != len.data() + len.size()) {
    return Error(ErrorCode::kFailure, "malformed transfer header: " + line);
  }
  return h;
}

}  // namespace bulwark::sources::redis

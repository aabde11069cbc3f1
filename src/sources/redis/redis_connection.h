// RedisConnection: one client connection to a Redis server over TCP, TLS (rediss://, OpenSSL 3,
// server certificate and host name verified) or a unix socket, with buffered reads, RESP
// command writing and RESP reply reading. Used by the replication client and by the restore
// into a live server. One connection is used by one thread at a time; only Shutdown may be
// called from another thread (to wake a blocked read).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace bulwark::sources::redis {

struct RedisEndpoint {
  std::string host;  // TCP host (empty with a unix socket)
  int port = 6379;
  std::string unix_path;  // unix socket path
  std::string user;       // ACL user; empty = "default"
  std::string password;   // never from the URL or argv: a file or the environment
  int db = 0;             // accepted for symmetry with redis-cli; replication covers all dbs
  bool tls = false;       // rediss://
  std::string ca_bundle;  // TLS: PEM file of CAs to trust; empty = the system's trust store
  std::string cert_file;  // TLS: client certificate (PEM) for servers with tls-auth-clients
  std::string key_file;   // TLS: its private key (PEM)
  // For messages and the snapshot: the location without any credential.
  std::string Display() const;
};

// Parses redis://[user@]host[:port][/db], rediss://... (TLS), unix:///path/to/redis.sock or a
// plain absolute socket path. kUsage for anything else and for a password inside the URL (it
// would show in `ps`).
Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

// One RESP2 reply. Arrays hold their elements; a null bulk or array has type '_'.
struct RespReply {
  char type = '+';  // '+' status, '-' error, ':' integer, '$' bulk, '*' array, '_' null
  std::string str;  // status, error or bulk text
  int64_t integer = 0;
  std::vector<RespReply> elements;
  bool IsError() const { return type == '-'; }
  // The first error in the reply or, for arrays (EXEC), in its elements; empty if none.
  std::string FirstError() const;
};

class RedisConnection {
 public:
  // Connects (and, for rediss://, completes the TLS handshake) with a timeout on connect and on
  // every read and write (seconds). A certificate that does not verify is kUsage (fix the CA
  // bundle or the host name); an unreachable server kFailure.
  static Result<RedisConnection> Connect(const RedisEndpoint& endpoint, int timeout_seconds);
  RedisConnection(RedisConnection&& other) noexcept;
  RedisConnection& operator=(RedisConnection&&) = delete;
  RedisConnection(const RedisConnection&) = delete;
  ~RedisConnection();

  const RedisEndpoint& endpoint() const { return endpoint_; }

  // Writes one command (a RESP array of bulk strings), or bytes already in RESP form.
  Status Send(const std::vector<std::string>& args);
  Status SendRaw(ByteView bytes);
  // One reply line without its CR LF.
  Result<std::string> ReadLine();
  // One whole reply (nested arrays included).
  Result<RespReply> ReadReply();
  // Raw bytes (buffered bytes first). 0 = the server closed the connection.
  Result<size_t> ReadSome(MutableByteView buf);
  // Like ReadSome, but waits at most timeout_ms for bytes: nullopt when none came (or a signal
  // interrupted the wait), 0 when the server closed the connection.
  Result<std::optional<size_t>> ReadWithin(MutableByteView buf, int timeout_ms);
  // Puts bytes read too far back in front of the unread ones (the next read returns them).
  void Unread(ByteView bytes);
  // Wakes a read blocked on another thread (it then fails or returns 0). Thread-safe.
  void Shutdown();

 private:
  RedisConnection(int fd, RedisEndpoint endpoint) : fd_(fd), endpoint_(std::move(endpoint)) {}
  Status StartTls(int timeout_seconds);
  // Reads from the socket (through TLS when on) into out; 0 = closed. With dont_wait, a read
  // that would block returns nullopt.
  Result<std::optional<size_t>> Recv(MutableByteView out, bool dont_wait);
  // Ensures at least n unread bytes are buffered.
  Status Want(size_t n);
  // A TLS connection the server drops before it sent a byte, from a client without a
  // certificate, was almost surely refused for the missing certificate: says so (kUsage).
  Error Explain(Error e) const;

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  RedisEndpoint endpoint_;
  Bytes buf_;
  size_t pos_ = 0;
  bool received_ = false;  // the server has sent at least one byte
};

}  // namespace bulwark::sources::redis

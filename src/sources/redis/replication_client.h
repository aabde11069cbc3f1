// ReplicationClient: a connection to a Redis primary that introduces itself as a replica
// (AUTH, PING, REPLCONF, PSYNC) and then hands out the raw bytes of the full-resync payload.
// Hand-written RESP over a plain TCP or unix socket. One client per connection, used by one
// thread at a time (the backup moves it to its receiver thread after the handshake).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::sources::redis {

struct RedisEndpoint {
  std::string host;  // TCP host (empty with a unix socket)
  int port = 6379;
  std::string unix_path;  // unix socket path
  std::string user;       // ACL user; empty = "default"
  std::string password;   // never from the URL or argv: a file or the environment
  int db = 0;             // accepted for symmetry with redis-cli; replication covers all dbs
  // For messages and the snapshot: the location without any credential.
  std::string Display() const;
};

// Parses redis://[user@]host[:port][/db], unix:///path/to/redis.sock or a plain absolute
// socket path. kUsage for anything else, for a password inside the URL (it would show in `ps`)
// and for rediss:// (TLS is not supported yet).
Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

// The reply to PSYNC ? -1.
struct FullResync {
  std::string replid;
  uint64_t offset = 0;
};

// The reply to PSYNC <replid> <offset>: either the stream goes on from that offset
// (+CONTINUE, possibly under a new replication ID after a failover), or a full resync.
struct PsyncReply {
  bool full = false;
  FullResync resync;       // full
  std::string new_replid;  // !full: the ID +CONTINUE named (empty: unchanged)
};

// How the RDB payload is framed: a known length, or diskless with a 40-byte end mark.
struct TransferHeader {
  bool diskless = false;
  uint64_t length = 0;   // !diskless
  std::string eof_mark;  // diskless
};

class ReplicationClient {
 public:
  // Connects with a timeout on connect and on every read (seconds).
  static Result<ReplicationClient> Connect(const RedisEndpoint& endpoint, int timeout_seconds);
  ReplicationClient(ReplicationClient&& other) noexcept;
  ReplicationClient& operator=(ReplicationClient&&) = delete;
  ReplicationClient(const ReplicationClient&) = delete;
  ~ReplicationClient();

  // AUTH (when a password is set), PING, REPLCONF listening-port 0, REPLCONF capa eof capa
  // psync2. Wrong credentials and NOPERM are kUsage (fix the configuration); a server still
  // loading its dataset is kFailure; every error quotes the server's reply.
  Status Handshake();
  // PSYNC ? -1: asks for a full resynchronisation.
  Result<FullResync> Psync();
  // PSYNC <replid> <next_byte>: asks to continue the stream at next_byte (the replica's
  // offset + 1). The server answers +CONTINUE or +FULLRESYNC (then an RDB follows).
  Result<PsyncReply> PsyncFrom(const std::string& replid, uint64_t next_byte);
  // Reads the payload header, skipping the newlines a primary sends while it prepares the RDB.
  Result<TransferHeader> ReadTransferHeader();
  // Raw payload bytes (buffered bytes first). 0 = the server closed the connection.
  Result<size_t> ReadSome(MutableByteView buf);
  // Like ReadSome, but waits at most timeout_ms for bytes: nullopt when none came (or a signal
  // interrupted the wait), 0 when the server closed the connection.
  Result<std::optional<size_t>> ReadWithin(MutableByteView buf, int timeout_ms);
  // Puts bytes read too far back in front of the unread ones (the next read returns them).
  void Unread(ByteView bytes);
  // Sends one command (a RESP array of bulk strings) without reading a reply.
  Status SendCommand(const std::vector<std::string>& args) { return Send(args); }
  // Wakes a ReadSome blocked on another thread (it then fails or returns 0). Thread-safe.
  void Shutdown();

 private:
  ReplicationClient(int fd, RedisEndpoint endpoint) : fd_(fd), endpoint_(std::move(endpoint)) {}
  Status Send(const std::vector<std::string>& args);
  Result<std::string> ReadLine();
  Result<std::string> ReadNonEmptyLine();
  // Sends a command and reads a simple reply line; an error reply becomes a classified Error.
  Result<std::string> Command(const std::vector<std::string>& args, const std::string& what);
  // Wrong credentials and NOPERM are kUsage, LOADING and the rest kFailure.
  Error ClassifyError(const std::string& reply, const std::string& what) const;

  int fd_ = -1;
  RedisEndpoint endpoint_;
  Bytes buf_;
  size_t pos_ = 0;
};

}  // namespace bulwark::sources::redis

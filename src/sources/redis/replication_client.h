// ReplicationClient: a connection to a Redis primary that introduces itself as a replica
// (AUTH, PING, REPLCONF, PSYNC) and then hands out the raw bytes of the full-resync payload.
// Hand-written RESP over a RedisConnection (TCP, TLS or unix socket). One client per
// connection, used by one thread at a time (the backup moves it to its receiver thread after
// the handshake).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "sources/redis/redis_connection.h"

namespace bulwark::sources::redis {

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

// Turns an error reply into an Error: wrong credentials and NOPERM (naming `rights`, the ACL
// rights the caller needs) are kUsage, LOADING and the rest kFailure; quotes the reply.
Error ClassifyRedisError(const RedisEndpoint& endpoint, const std::string& reply,
                         const std::string& what, const std::string& rights);

class ReplicationClient {
 public:
  // Connects with a timeout on connect and on every read (seconds).
  static Result<ReplicationClient> Connect(const RedisEndpoint& endpoint, int timeout_seconds);
  ReplicationClient(ReplicationClient&& other) noexcept = default;
  ReplicationClient& operator=(ReplicationClient&&) = delete;
  ReplicationClient(const ReplicationClient&) = delete;

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
  Result<size_t> ReadSome(MutableByteView buf) { return conn_.ReadSome(buf); }
  // Like ReadSome, but waits at most timeout_ms for bytes: nullopt when none came (or a signal
  // interrupted the wait), 0 when the server closed the connection.
  Result<std::optional<size_t>> ReadWithin(MutableByteView buf, int timeout_ms) {
    return conn_.ReadWithin(buf, timeout_ms);
  }
  // Puts bytes read too far back in front of the unread ones (the next read returns them).
  void Unread(ByteView bytes) { conn_.Unread(bytes); }
  // Sends one command (a RESP array of bulk strings) without reading a reply.
  Status SendCommand(const std::vector<std::string>& args) { return conn_.Send(args); }
  // Wakes a ReadSome blocked on another thread (it then fails or returns 0). Thread-safe.
  void Shutdown() { conn_.Shutdown(); }

 private:
  explicit ReplicationClient(RedisConnection conn) : conn_(std::move(conn)) {}
  Result<std::string> ReadNonEmptyLine();
  // Sends a command and reads a simple reply line; an error reply becomes a classified Error.
  Result<std::string> Command(const std::vector<std::string>& args, const std::string& what);
  // Wrong credentials and NOPERM are kUsage, LOADING and the rest kFailure.
  Error ClassifyError(const std::string& reply, const std::string& what) const;

  RedisConnection conn_;
};

}  // namespace bulwark::sources::redis

// WAL streaming receiver (`bulwark wal-receive`): a physical replication client on a slot that
// stores the WAL it receives in the repository's WAL archive, completed segments exactly like
// wal-push and the segment in progress as partial records. In synchronous mode it reports a
// position flushed only once it is durable in the repository, so the server may name it in
// synchronous_standby_names. ReceiveWal runs on the calling thread (plus the blob writer's
// short-lived threads) until cancellation (core/cancel.h); the message helpers are pure.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/repository.h"
#include "sources/postgres/wal_names.h"

namespace bulwark::sources::postgres {

struct WalReceiveOptions {
  std::string component;
  std::string conninfo;  // libpq connection string; replication=true is added
  std::string slot;      // physical replication slot; created (RESERVE_WAL) when missing
  bool synchronous = false;
  std::string application_name = "bulwark";  // unless the connection string sets one
  int status_interval_seconds = 10;  // standby status updates (and, asynchronously, partials)
  std::function<void(const std::string&)> log;  // one line per event (connect, segment...)
};

// Streams until CancelRequested(), then stores what it has received and returns ok.
// Reconnects with backoff when the connection is lost and follows timeline switches. Fails
// (kFailure) when the server's system identifier differs from the component's backups, or the
// slot name is invalid.
Status ReceiveWal(repo::Repository& repo, const WalReceiveOptions& options);

// Streaming replication protocol messages (CopyData payloads), big-endian.
struct XLogDataMessage {  // 'w'
  Lsn start = 0;
  Lsn server_end = 0;
  int64_t send_time = 0;
  ByteView data;
};
struct KeepaliveMessage {  // 'k'
  Lsn server_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};
std::optional<XLogDataMessage> ParseXLogData(ByteView msg);
std::optional<KeepaliveMessage> ParseKeepalive(ByteView msg);
// 'r': standby status update. Times are microseconds since 2000-01-01 (PostgreSQL's epoch).
Bytes EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, int64_t now_pg_us, bool reply);

// The blobs a segment prefix of `size` bytes is stored as: aligned 1 MiB pieces, then 64 KiB,
// then 4 KiB pieces, then the rest. Successive prefixes share all but a few small pieces, and a
// whole segment is the 1 MiB pieces wal-push stores. Returns (offset, length) pairs.
std::vector<std::pair<uint64_t, uint64_t>> WalPieceLayout(uint64_t size);

}  // namespace bulwark::sources::postgres

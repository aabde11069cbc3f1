// ReplicationSession: a physical backup over PostgreSQL's streaming replication protocol, for a
// cluster whose data directory this host cannot read. It opens a replication connection
// (libpq `replication=true`), identifies the server (IDENTIFY_SYSTEM and SHOW), refuses clearly
// when a backup cannot work, and runs BASE_BACKUP (PostgreSQL 15 protocol: one COPY stream whose
// CopyData messages carry a type byte: 'n' new archive, 'd' data, 'p' progress, 'm' manifest),
// handing each archive's tar bytes to a sink as they arrive. One session is used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "sources/postgres/pg_info.h"
#include "sources/postgres/wal_names.h"

struct pg_conn;

namespace bulwark::sources::postgres {

// What the server says about itself over the replication connection.
struct RemoteCluster {
  ClusterInfo cluster;  // without a connection
  uint32_t timeline = 0;
  std::string data_directory;  // "" when the role may not see it
};

// Receives the archives of a base backup in the order the server sends them: BeginArchive,
// ArchiveData for its bytes in pieces, EndArchive; then the next archive. A non-ok Status ends
// the backup (the server aborts its side when the connection closes).
class BaseBackupSink {
 public:
  virtual ~BaseBackupSink() = default;
  // `name` is "base.tar" for the data directory, "<oid>.tar" for a tablespace; `location` is
  // the tablespace's directory on the server ("" for the data directory).
  virtual Status BeginArchive(const std::string& name, const std::string& location) = 0;
  virtual Status ArchiveData(ByteView data) = 0;
  virtual Status EndArchive() = 0;
};

struct BaseBackupOutcome {
  Lsn start_lsn = 0;
  uint32_t start_timeline = 0;
  Lsn end_lsn = 0;
  uint32_t end_timeline = 0;
  uint64_t estimated_bytes = 0;  // the server's estimate of the archives' size
  // The server verified page checksums itself and ended with "checksum verification failure":
  // its warnings, one line each.
  bool server_checksum_failure = false;
  std::vector<std::string> server_warnings;
};

class ReplicationSession {
 public:
  // kFailure when the server cannot be reached; kUsage when it refuses a replication
  // connection for a reason the operator must fix (a role without REPLICATION, no pg_hba.conf
  // entry for replication, max_wal_senders = 0 as with wal_level = minimal).
  static Result<ReplicationSession> Connect(const std::string& conninfo);

  ReplicationSession(ReplicationSession&&) noexcept;
  ReplicationSession& operator=(ReplicationSession&&) noexcept;
  ~ReplicationSession();

  // IDENTIFY_SYSTEM and the settings a backup depends on. kUsage when the server is older than
  // PostgreSQL 15, a standby, has wal_level minimal or archive_mode off.
  Result<RemoteCluster> Inspect();

  // Runs BASE_BACKUP (fast checkpoint, no WAL, no manifest, a tablespace_map, the server's own
  // checksum verification), feeding `sink`. `on_start` is called with the start position and
  // the server's size estimate once the backup has started, before any archive.
  Result<BaseBackupOutcome> BaseBackup(
      const std::string& label, BaseBackupSink& sink,
      const std::function<void(Lsn start_lsn, uint64_t estimated_bytes)>& on_start);

 private:
  ReplicationSession() = default;
  struct Deleter {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, Deleter> conn_;
  // Server notices (WARNINGs), kept at a stable address for libpq's notice receiver.
  std::unique_ptr<std::vector<std::string>> notices_;
};

}  // namespace bulwark::sources::postgres

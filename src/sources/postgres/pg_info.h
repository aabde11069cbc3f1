// Pre-flight inspection of a PostgreSQL cluster before a backup: checks that a directory is a
// data directory, connects, and reads the settings a physical backup depends on, refusing
// clearly (kUsage) when it cannot work. Call from one thread; the returned connection is then
// owned by that thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"
#include "sources/postgres/pg_conn.h"

namespace bulwark::sources::postgres {

struct ClusterInfo {
  std::unique_ptr<PgConnection> connection;
  std::string system_identifier;  // decimal, as PostgreSQL prints it
  std::string server_version;     // "15.18 (Debian ...)"
  int server_version_num = 0;     // 150018
  bool data_checksums = false;
  uint32_t block_size = 8192;
  uint64_t wal_segment_size = 16u << 20;
  std::string wal_level;
  std::string archive_mode;
};

// Reads the system identifier stored in <pgdata>/global/pg_control (its first 8 bytes).
Result<std::string> ReadSystemIdentifier(const std::string& pgdata);

// The server settings a physical backup depends on, whichever way it reads the files: PostgreSQL
// 15 or later, not a standby, wal_level replica or logical, archive_mode not off. kUsage naming
// the setting to change otherwise.
Status CheckBackupSettings(const ClusterInfo& info, bool in_recovery);

// Checks, in order: pgdata is a data directory (PG_VERSION, global/pg_control) we can read;
// the server answers; it is PostgreSQL 15 or later and not a standby; pgdata belongs to it
// (same system identifier); wal_level is replica or logical; archive_mode is on; the role may
// run pg_backup_start and pg_backup_stop.
Result<ClusterInfo> InspectCluster(const std::string& pgdata, const std::string& conninfo);

}  // namespace bulwark::sources::postgres

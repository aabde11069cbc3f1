#include "sources/postgres/pg_info.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sources/files/fs_util.h"
#include "sources/postgres/pg_conn.h"

namespace bulwark::sources::postgres {

Result<std::string> ReadSystemIdentifier(const std::string& pgdata) {
  const std::string path = pgdata + "/global/pg_control";
  files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == EACCES) {
      return Error(ErrorCode::kUsage, "cannot read " + path +
                                          ": permission denied (run as the data directory's "
                                          "owner, usually the postgres OS user)");
    }
    return Error(ErrorCode::kUsage, pgdata + " is not a PostgreSQL data directory (" + path + ": " +
                                        std::strerror(err) + ")");
  }
  uint8_t buf[8];
  if (files::ReadFull(fd.get(), buf, sizeof(buf)) != static_cast<ssize_t>(sizeof(buf))) {
    return Error(ErrorCode::kUsage, path + " is too short to be a PostgreSQL control file");
  }
  uint64_t id;
  std::memcpy(&id, buf, sizeof(id));
  return std::to_string(id);
}

Status CheckBackupSettings(const ClusterInfo& info, bool in_recovery) {
  if (info.server_version_num < 150000) {
    return Error(ErrorCode::kUsage, "the server runs PostgreSQL " + info.server_version +
                                        "; Bulwark supports PostgreSQL 15 and later");
  }
  if (in_recovery) {
    return Error(ErrorCode::kUsage,
                 "the server is a standby (in recovery); back up the primary (standby backups "
                 "are not supported yet)");
  }
  if (info.wal_level != "replica" && info.wal_level != "logical") {
    return Error(ErrorCode::kUsage, "wal_level is '" + info.wal_level +
                                        "': a physical backup needs wal_level = replica (or "
                                        "logical); set it and restart PostgreSQL");
  }
  if (info.archive_mode == "off") {
    return Error(ErrorCode::kUsage,
                 "archive_mode is off, so the WAL this backup needs would not be kept; set "
                 "archive_mode = on and archive_command = 'bulwark wal-push --component C %p' "
                 "(see docs/POSTGRES.md) and restart PostgreSQL");
  }
  return Status::Ok();
}

Result<ClusterInfo> InspectCluster(const std::string& pgdata, const std::string& conninfo) {
  struct stat st;
  if (::stat(pgdata.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kUsage, pgdata + " is not a PostgreSQL data directory (" +
                                        (errno != 0 ? std::strerror(errno) : "not a directory") +
                                        ")");
  }
  if (::access((pgdata + "/PG_VERSION").c_str(), F_OK) != 0) {
    if (errno == EACCES) {
      return Error(ErrorCode::kUsage,
                   "cannot read the data directory " + pgdata +
                       ": permission denied (run as its owner, usually the postgres OS user)");
    }
    return Error(ErrorCode::kUsage,
                 pgdata + " is not a PostgreSQL data directory (it has no PG_VERSION)");
  }
  BW_ASSIGN_OR_RETURN(std::string file_sysid, ReadSystemIdentifier(pgdata));

  ClusterInfo info;
  BW_ASSIGN_OR_RETURN(PgConnection conn, PgConnection::Connect(conninfo));
  info.connection = std::make_unique<PgConnection>(std::move(conn));
  PgConnection& c = *info.connection;
  auto rows = c.Query(
      "SELECT current_setting('server_version'), current_setting('server_version_num'), "
      "current_setting('data_checksums'), current_setting('block_size'), "
      "current_setting('wal_segment_size'), current_setting('wal_level'), "
      "current_setting('archive_mode'), pg_is_in_recovery()::text, "
      "has_function_privilege('pg_backup_start(text, boolean)', 'EXECUTE')::text, "
      "has_function_privilege('pg_backup_stop(boolean)', 'EXECUTE')::text");
  if (!rows.ok()) {
    if (c.sqlstate() == "42883" || c.sqlstate() == "42704") {  // undefined function/object
      return Error(ErrorCode::kUsage,
                   "the server is older than PostgreSQL 15 (pg_backup_start is missing); "
                   "Bulwark supports PostgreSQL 15 and later");
    }
    return rows.error().Wrap("inspecting the server");
  }
  info.server_version = rows->At(0, 0);
  info.server_version_num = std::atoi(rows->At(0, 1).c_str());
  info.data_checksums = rows->At(0, 2) == "on";
  info.block_size = static_cast<uint32_t>(std::strtoul(rows->At(0, 3).c_str(), nullptr, 10));
  // wal_segment_size is shown with a unit ("16MB").
  {
    const std::string& v = rows->At(0, 4);
    uint64_t n = std::strtoull(v.c_str(), nullptr, 10);
    if (v.find("GB") != std::string::npos) {
      n <<= 30;
    } else if (v.find("MB") != std::string::npos) {
      n <<= 20;
    } else if (v.find("kB") != std::string::npos) {
      n <<= 10;
    }
    info.wal_segment_size = n > 0 ? n : 16u << 20;
  }
  info.wal_level = rows->At(0, 5);
  info.archive_mode = rows->At(0, 6);
  BW_RETURN_IF_ERROR(CheckBackupSettings(info, rows->At(0, 7) == "true"));
  if (rows->At(0, 8) != "true" || rows->At(0, 9) != "true") {
    return Error(ErrorCode::kUsage,
                 "insufficient privileges: the role may not run pg_backup_start/pg_backup_stop "
                 "(use a superuser or GRANT EXECUTE ON FUNCTION pg_backup_start, pg_backup_stop "
                 "to the backup role)");
  }
  // The server's own identifier, where the role may read it; otherwise trust the file.
  auto sysid = c.Query("SELECT system_identifier::text FROM pg_control_system()");
  info.system_identifier = file_sysid;
  if (sysid.ok() && !sysid->rows.empty() && sysid->At(0, 0) != file_sysid) {
    return Error(ErrorCode::kUsage,
                 fmt::format("{} belongs to another cluster (system identifier {}) than the server "
                             "at --db (system identifier {})",
                             pgdata, file_sysid, sysid->At(0, 0)));
  }
  return info;
}

}  // namespace bulwark::sources::postgres

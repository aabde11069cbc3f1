#include "sources/postgres/base_backup_stream.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/cancel.h"
#include "sources/postgres/pg_conn.h"

namespace bulwark::sources::postgres {

namespace {

// SQLSTATE of "checksum verification failure during base backup".
constexpr const char* kSqlStateDataCorrupted = "XX001";
constexpr size_t kMaxWarnings = 100;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

void KeepNotice(void* arg, const PGresult* res) {
  auto* notices = static_cast<std::vector<std::string>*>(arg);
  if (notices->size() >= kMaxWarnings) return;
  const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr || std::strcmp(severity, "WARNING") != 0) return;
  notices->push_back(OneLineMessage(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
}

std::string ResultError(PGconn* conn, const PGresult* res) {
  std::string msg = OneLineMessage(res != nullptr ? PQresultErrorMessage(res) : "");
  if (msg.empty()) msg = OneLineMessage(PQerrorMessage(conn));
  return msg;
}

// "16MB", "1GB", "64kB", "8192" as SHOW prints sizes.
uint64_t ParseShownSize(const std::string& s) {
  char* end = nullptr;
  uint64_t n = std::strtoull(s.c_str(), &end, 10);
  std::string unit = end != nullptr ? end : "";
  if (unit == "kB") return n << 10;
  if (unit == "MB") return n << 20;
  if (unit == "GB") return n << 30;
  return n;
}

// 'value' for a replication command option, single quotes doubled.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// A string ending in NUL inside a message; advances `at`.
std::optional<std::string> CString(const char* data, size_t len, size_t& at) {
  const void* nul = std::memchr(data + at, 0, len - at);
  if (nul == nullptr) return std::nullopt;
  std::string s(data + at, static_cast<const char*>(nul));
  at += s.size() + 1;
  return s;
}

}  // namespace

void ReplicationSession::Deleter::operator()(pg_conn* c) const { PQfinish(c); }

ReplicationSession::ReplicationSession(ReplicationSession&&) noexcept = default;
ReplicationSession& ReplicationSession::operator=(ReplicationSession&&) noexcept = default;
ReplicationSession::~ReplicationSession() = default;

Result<ReplicationSession> ReplicationSession::Connect(const std::string& conninfo) {
  ReplicationSession s;
  // The caller's connection string is expanded in place of dbname; replication overrides any
  // replication setting in it.
  const char* keys[] = {"dbname", "application_name", "replication", nullptr};
  const char* values[] = {conninfo.c_str(), "bulwark backup", "true", nullptr};
  s.conn_.reset(PQconnectdbParams(keys, values, 1));
  if (!s.conn_) return Error(ErrorCode::kFailure, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(s.conn_.get()) != CONNECTION_OK) {
    const std::string msg = OneLineMessage(PQerrorMessage(s.conn_.get()));
    if (msg.find("replication role") != std::string::npos ||
        msg.find("permission denied to start WAL sender") != std::string::npos) {
      return Error(ErrorCode::kUsage,
                   "insufficient privileges: the role may not open a replication connection (" +
                       msg +
                       "); a remote backup needs a role with REPLICATION (ALTER ROLE ... "
                       "REPLICATION)");
    }
    if (msg.find("pg_hba.conf") != std::string::npos &&
        msg.find("replication") != std::string::npos) {
      return Error(ErrorCode::kUsage, "the server refuses replication connections from here (" +
                                          msg +
                                          "); add a 'replication' line to pg_hba.conf for the "
                                          "backup role");
    }
    if (msg.find("max_wal_senders") != std::string::npos) {
      return Error(ErrorCode::kUsage,
                   "the server accepts no replication connections (" + msg +
                       "); a remote backup needs wal_level = replica (or logical) and "
                       "max_wal_senders > 0; set them and restart PostgreSQL");
    }
    return Error(ErrorCode::kFailure,
                 "cannot connect to PostgreSQL for replication (" + conninfo + "): " + msg);
  }
  s.notices_ = std::make_unique<std::vector<std::string>>();
  PQsetNoticeReceiver(s.conn_.get(), KeepNotice, s.notices_.get());
  return s;
}

Result<RemoteCluster> ReplicationSession::Inspect() {
  PGconn* c = conn_.get();
  RemoteCluster info;
  {
    ResultPtr res(PQexec(c, "IDENTIFY_SYSTEM"));
    if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      return Error(ErrorCode::kFailure, "IDENTIFY_SYSTEM: " + ResultError(c, res.get()));
    }
    if (PQntuples(res.get()) != 1 || PQnfields(res.get()) < 3) {
      return Error(ErrorCode::kFailure, "IDENTIFY_SYSTEM: unexpected result");
    }
    info.cluster.system_identifier = PQgetvalue(res.get(), 0, 0);
    info.timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(res.get(), 0, 1), nullptr, 10));
  }
  // SHOW works on a replication connection; "" for a setting the role may not see.
  auto show = [&](const char* name) -> Result<std::string> {
    ResultPtr res(PQexec(c, (std::string("SHOW ") + name).c_str()));
    if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) != 1) {
      const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
      if (state != nullptr && std::strcmp(state, kSqlStateInsufficientPrivilege) == 0) {
        return std::string();
      }
      return Error(ErrorCode::kFailure,
                   fmt::format("SHOW {}: {}", name, ResultError(c, res.get())));
    }
    return std::string(PQgetvalue(res.get(), 0, 0));
  };
  ClusterInfo& ci = info.cluster;
  BW_ASSIGN_OR_RETURN(ci.server_version, show("server_version"));
  BW_ASSIGN_OR_RETURN(std::string num, show("server_version_num"));
  ci.server_version_num = std::atoi(num.c_str());
  BW_ASSIGN_OR_RETURN(std::string checksums, show("data_checksums"));
  ci.data_checksums = checksums == "on";
  BW_ASSIGN_OR_RETURN(std::string block, show("block_size"));
  ci.block_size = static_cast<uint32_t>(std::strtoul(block.c_str(), nullptr, 10));
  BW_ASSIGN_OR_RETURN(std::string seg, show("wal_segment_size"));
  ci.wal_segment_size = ParseShownSize(seg);
  if (ci.wal_segment_size == 0 || (ci.wal_segment_size & (ci.wal_segment_size - 1)) != 0) {
    return Error(ErrorCode::kFailure, "cannot read the server's wal_segment_size ('" + seg + "')");
  }
  BW_ASSIGN_OR_RETURN(ci.wal_level, show("wal_level"));
  BW_ASSIGN_OR_RETURN(ci.archive_mode, show("archive_mode"));
  BW_ASSIGN_OR_RETURN(std::string standby, show("in_hot_standby"));
  BW_ASSIGN_OR_RETURN(info.data_directory, show("data_directory"));
  BW_RETURN_IF_ERROR(CheckBackupSettings(ci, standby == "on"));
  return info;
}

Result<BaseBackupOutcome> ReplicationSession::BaseBackup(
    const std::string& label, BaseBackupSink& sink,
    const std::function<void(Lsn start_lsn, uint64_t estimated_bytes)>& on_start) {
  PGconn* c = conn_.get();
  BaseBackupOutcome out;
  notices_->clear();
  const std::string command = fmt::format(
      "BASE_BACKUP (LABEL {}, PROGRESS, CHECKPOINT 'fast', WAL false, WAIT true, "
      "TABLESPACE_MAP true, VERIFY_CHECKSUMS true, MANIFEST 'no')",
      Quote(label));
  if (PQsendQuery(c, command.c_str()) != 1) {
    return Error(ErrorCode::kFailure, "BASE_BACKUP: " + OneLineMessage(PQerrorMessage(c)));
  }
  // Two result sets before the data: the start position and timeline, then the tablespaces
  // with their estimated sizes in kB.
  auto tuples = [&](const char* what) -> Result<ResultPtr> {
    ResultPtr res(PQgetResult(c));
    if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      return Error(ErrorCode::kFailure,
                   fmt::format("BASE_BACKUP ({}): {}", what, ResultError(c, res.get())));
    }
    return res;
  };
  {
    BW_ASSIGN_OR_RETURN(ResultPtr start, tuples("start position"));
    if (PQntuples(start.get()) != 1 || PQnfields(start.get()) < 2) {
      return Error(ErrorCode::kFailure, "BASE_BACKUP: unexpected start position result");
    }
    BW_ASSIGN_OR_RETURN(out.start_lsn, ParseLsn(PQgetvalue(start.get(), 0, 0)));
    out.start_timeline =
        static_cast<uint32_t>(std::strtoul(PQgetvalue(start.get(), 0, 1), nullptr, 10));
    BW_ASSIGN_OR_RETURN(ResultPtr spaces, tuples("tablespaces"));
    for (int r = 0; r < PQntuples(spaces.get()); ++r) {
      if (PQnfields(spaces.get()) >= 3 && !PQgetisnull(spaces.get(), r, 2)) {
        out.estimated_bytes += std::strtoull(PQgetvalue(spaces.get(), r, 2), nullptr, 10) << 10;
      }
    }
  }
  {
    ResultPtr copy(PQgetResult(c));
    if (!copy || PQresultStatus(copy.get()) != PGRES_COPY_OUT) {
      return Error(ErrorCode::kFailure, "BASE_BACKUP: " + ResultError(c, copy.get()));
    }
  }
  if (on_start) on_start(out.start_lsn, out.estimated_bytes);

  bool in_archive = false;
  bool in_manifest = false;
  for (;;) {
    char* raw = nullptr;
    const int len = PQgetCopyData(c, &raw, 0);
    if (len == -1) break;
    if (len < 0) {
      return Error(ErrorCode::kFailure,
                   "the base backup stream broke: " + OneLineMessage(PQerrorMessage(c)));
    }
    std::unique_ptr<char, void (*)(void*)> msg(raw, PQfreemem);
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "backup cancelled");
    if (len == 0) continue;
    const size_t n = static_cast<size_t>(len);
    switch (raw[0]) {
      case 'n': {
        size_t at = 1;
        auto name = CString(raw, n, at);
        auto location = name ? CString(raw, n, at) : std::nullopt;
        if (!location)
          return Error(ErrorCode::kFailure, "BASE_BACKUP: malformed new-archive message");
        if (in_archive) BW_RETURN_IF_ERROR(sink.EndArchive());
        BW_RETURN_IF_ERROR(sink.BeginArchive(*name, *location));
        in_archive = true;
        break;
      }
      case 'd':
        if (in_manifest) break;  // not requested; ignored if a server sends one anyway
        if (!in_archive) {
          return Error(ErrorCode::kFailure, "BASE_BACKUP: archive data before any archive");
        }
        BW_RETURN_IF_ERROR(
            sink.ArchiveData(ByteView(reinterpret_cast<const uint8_t*>(raw + 1), n - 1)));
        break;
      case 'p':
        break;  // progress: the sink counts bytes itself
      case 'm':
        if (in_archive) BW_RETURN_IF_ERROR(sink.EndArchive());
        in_archive = false;
        in_manifest = true;
        break;
      default:
        return Error(ErrorCode::kFailure,
                     fmt::format("BASE_BACKUP: unexpected message type {:#04x} in the stream",
                                 static_cast<uint8_t>(raw[0])));
    }
  }
  if (in_archive) BW_RETURN_IF_ERROR(sink.EndArchive());

  // The COPY's own result, then the end position; a server that found checksum failures then
  // ends with an error of its own.
  bool have_end = false;
  std::string failure;
  while (true) {
    ResultPtr res(PQgetResult(c));
    if (!res) break;
    const ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_COMMAND_OK) continue;
    if (st == PGRES_TUPLES_OK && !have_end && PQntuples(res.get()) == 1 &&
        PQnfields(res.get()) >= 2) {
      BW_ASSIGN_OR_RETURN(out.end_lsn, ParseLsn(PQgetvalue(res.get(), 0, 0)));
      out.end_timeline =
          static_cast<uint32_t>(std::strtoul(PQgetvalue(res.get(), 0, 1), nullptr, 10));
      have_end = true;
      continue;
    }
    const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
    if (state != nullptr && std::strcmp(state, kSqlStateDataCorrupted) == 0) {
      out.server_checksum_failure = true;
      continue;
    }
    if (failure.empty()) failure = ResultError(c, res.get());
  }
  if (!failure.empty()) return Error(ErrorCode::kFailure, "BASE_BACKUP: " + failure);
  if (!have_end) return Error(ErrorCode::kFailure, "BASE_BACKUP: the server sent no end position");
  out.server_warnings = *notices_;
  return out;
}

}  // namespace bulwark::sources::postgres

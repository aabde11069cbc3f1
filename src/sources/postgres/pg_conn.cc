#include "sources/postgres/pg_conn.h"

#include <libpq-fe.h>

namespace bulwark::sources::postgres {

namespace {

// Notices (e.g. "all required WAL segments have been archived") are not errors; the backup
// reports what matters itself.
void IgnoreNotice(void*, const char*) {}

}  // namespace

const std::string& PgRows::At(size_t r, size_t c) const {
  static const std::string kEmpty;
  const auto& v = rows[r][c];
  return v ? *v : kEmpty;
}

void PgConnection::Deleter::operator()(pg_conn* c) const { PQfinish(c); }

PgConnection::PgConnection(PgConnection&&) noexcept = default;
PgConnection& PgConnection::operator=(PgConnection&&) noexcept = default;
PgConnection::~PgConnection() = default;

Result<PgConnection> PgConnection::Connect(const std::string& conninfo) {
  PgConnection c;
  c.conn_.reset(PQconnectdb(conninfo.c_str()));
  if (!c.conn_) return Error(ErrorCode::kFailure, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(c.conn_.get()) != CONNECTION_OK) {
    return Error(ErrorCode::kFailure, "cannot connect to PostgreSQL (" + conninfo +
                                          "): " + OneLineMessage(PQerrorMessage(c.conn_.get())));
  }
  PQsetNoticeProcessor(c.conn_.get(), IgnoreNotice, nullptr);
  return c;
}

Result<PgRows> PgConnection::Query(const std::string& sql, const std::vector<std::string>& params) {
  sqlstate_.clear();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* res = PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  std::unique_ptr<PGresult, void (*)(PGresult*)> guard(res, PQclear);
  if (res == nullptr) {
    return Error(ErrorCode::kFailure, "PostgreSQL: " + OneLineMessage(PQerrorMessage(conn_.get())));
  }
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    sqlstate_ = state != nullptr ? state : "";
    return Error(ErrorCode::kFailure, "PostgreSQL: " + OneLineMessage(PQresultErrorMessage(res)));
  }
  PgRows rows;
  int nf = PQnfields(res);
  int nt = PQntuples(res);
  for (int f = 0; f < nf; ++f) rows.columns.emplace_back(PQfname(res, f));
  rows.rows.resize(static_cast<size_t>(nt));
  for (int t = 0; t < nt; ++t) {
    auto& row = rows.rows[static_cast<size_t>(t)];
    row.resize(static_cast<size_t>(nf));
    for (int f = 0; f < nf; ++f) {
      if (!PQgetisnull(res, t, f)) {
        row[static_cast<size_t>(f)] =
            std::string(PQgetvalue(res, t, f), static_cast<size_t>(PQgetlength(res, t, f)));
      }
    }
  }
  return rows;
}

std::string OneLineMessage(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  // libpq messages may span lines ("connection to server ... failed: ...\n\tIs the server...").
  for (auto& ch : s) {
    if (ch == '\n' || ch == '\t') ch = ' ';
  }
  return s;
}

}  // namespace bulwark::sources::postgres

// PgConnection: one libpq session (RAII; PQfinish on destruction) with simple text queries.
// A connection is used by one thread at a time; distinct connections are independent. The
// non-exclusive backup API needs pg_backup_start and pg_backup_stop on the same session, which
// is why callers keep one PgConnection for the whole backup.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

struct pg_conn;

namespace bulwark::sources::postgres {

struct PgRows {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt = SQL NULL

  // Text of row r, column c ("" for NULL); bounds are the caller's business.
  const std::string& At(size_t r, size_t c) const;
};

class PgConnection {
 public:
  // kFailure naming the server's message when the server cannot be reached or refuses us.
  static Result<PgConnection> Connect(const std::string& conninfo);

  PgConnection(PgConnection&&) noexcept;
  PgConnection& operator=(PgConnection&&) noexcept;
  ~PgConnection();

  // Runs one statement with text parameters ($1, $2...). On an SQL error the message is the
  // server's, and sqlstate() holds its SQLSTATE (e.g. "42501" insufficient privilege).
  Result<PgRows> Query(const std::string& sql, const std::vector<std::string>& params = {});
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  PgConnection() = default;
  struct Deleter {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, Deleter> conn_;
  std::string sqlstate_;
};

// "42501": the role lacks a privilege.
inline constexpr const char* kSqlStateInsufficientPrivilege = "42501";

// A libpq message (which may span lines and end in a newline) as one line; "" for null.
std::string OneLineMessage(const char* msg);

}  // namespace bulwark::sources::postgres

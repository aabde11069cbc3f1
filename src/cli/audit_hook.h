// AuditScope: the CLI's one audit record per repository-changing operation. Created when the
// command starts (to time it), filled in as the command learns sizes and checksums, and
// finished once with success/failure/partial, which appends the record to the repository's
// hash-chained log (src/audit). Main thread only.
#pragma once

#include <chrono>
#include <string>

#include "audit/audit_log.h"
#include "cli/context.h"
#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::cli {

// Options for AuditLog used by every command: a local anchor file (high-water mark of the
// log) under $BULWARK_CACHE_DIR, $XDG_CACHE_HOME/bulwark or ~/.cache/bulwark, per repository.
audit::AuditOptions CliAuditOptions(const repo::Repository& repo);

class AuditScope {
 public:
  AuditScope(const Context& ctx, std::string operation, std::string component = {});

  audit::AuditRecord& record() { return record_; }

  // Appends the record with `status` ("success", "failure", "partial"); `error` (if any) goes
  // into details. An append failure is reported on stderr; returns it so that a command that
  // otherwise succeeded can fail (an unaudited change is not a clean success).
  // With `quiet_failure`, an append failure is not printed (the command is already failing
  // and its own error is the one line the user needs, e.g. on a full disk).
  Status Finish(repo::Repository& repo, const std::string& status, const std::string& error = {},
                bool quiet_failure = false);

  // Convenience: finishes with "failure" and `error`'s message, then reports the original
  // error (one line) and returns its exit code.
  int Fail(repo::Repository& repo, const Error& error, std::string_view context = {});

 private:
  const Context& ctx_;
  audit::AuditRecord record_;
  std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

}  // namespace bulwark::cli

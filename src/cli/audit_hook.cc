#include "cli/audit_hook.h"

#include <cstdlib>
#include <filesystem>

#include "cli/output.h"

namespace bulwark::cli {

namespace {

std::string CacheDir() {
  if (const char* d = std::getenv("BULWARK_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/bulwark";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/bulwark";
  return {};
}

}  // namespace

audit::AuditOptions CliAuditOptions(const repo::Repository& repo) {
  audit::AuditOptions options;
  if (const char* off = std::getenv("BULWARK_AUDIT_ANCHOR"); off && std::string(off) == "off") {
    return options;
  }
  std::string dir = CacheDir();
  if (dir.empty()) return options;
  std::error_code ec;
  std::filesystem::create_directories(dir + "/audit-anchors", ec);
  if (ec) return options;  // no cache directory: verify still checks the chain itself
  options.anchor_file = dir + "/audit-anchors/" + repo.config().repository_id.Hex();
  return options;
}

AuditScope::AuditScope(const Context& ctx, std::string operation, std::string component)
    : ctx_(ctx), start_(std::chrono::steady_clock::now()) {
  record_.operation = std::move(operation);
  record_.component = std::move(component);
}

Status AuditScope::Finish(repo::Repository& repo, const std::string& status,
                          const std::string& error, bool quiet_failure) {
  if (finished_) return Status::Ok();
  finished_ = true;
  record_.status = status;
  record_.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (record_.storage_location.empty()) record_.storage_location = repo.backend().Location();
  record_.operator_name = ctx_.Operator();
  record_.compliance_tags = ctx_.ComplianceTags();
  if (!error.empty()) record_.details["error"] = error;
  audit::AuditLog log(repo, CliAuditOptions(repo));
  auto appended = log.Append(record_);
  if (!appended.ok()) {
    if (quiet_failure) return appended.error();
    ReportError(appended.error(), "writing the audit record for " + record_.operation);
    return appended.error();
  }
  record_ = *appended;
  return Status::Ok();
}

int AuditScope::Fail(repo::Repository& repo, const Error& error, std::string_view context) {
  std::string message =
      context.empty() ? error.message() : std::string(context) + ": " + error.message();
  (void)Finish(repo, "failure", message, /*quiet_failure=*/true);
  return ReportError(error, context);
}

}  // namespace bulwark::cli

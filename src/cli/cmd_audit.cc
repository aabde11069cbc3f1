// `bulwark audit log [--json]` and `bulwark audit verify`: read and verify the hash-chained
// audit trail stored in the repository.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace bulwark::cli {

namespace {

int RunAuditLog(Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "audit log");
  audit::AuditLog log(**repo, CliAuditOptions(**repo));
  auto records = log.List();
  if (!records.ok()) {
    return ReportError(records.error(), "audit log", "run `bulwark audit verify` for details");
  }
  if (ctx.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& rec : *records) out.push_back(audit::RecordToJson(rec));
    PrintJson(out);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& rec : *records) {
    rows.push_back({std::to_string(rec.seq), rec.timestamp, rec.operation, rec.component,
                    rec.status, FormatDuration(rec.duration_seconds),
                    rec.backup_size ? FormatBytes(rec.backup_size) : "", rec.operator_name});
  }
  PrintTable({"Seq", "Time", "Operation", "Component", "Status", "Duration", "Size", "Operator"},
             rows);
  return 0;
}

int RunAuditVerify(Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "audit verify");
  audit::AuditLog log(**repo, CliAuditOptions(**repo));
  auto report = log.Verify();
  if (!report.ok()) return ReportError(report.error(), "audit verify");
  const auto& rep = *report;
  if (ctx.json()) {
    PrintJson(audit::VerifyReportToJson(rep));
  } else {
    if (!rep.ok) {
      for (const auto& p : rep.problems) fmt::print("problem: {}\n", p);
    }
    if (!ctx.quiet() && rep.ok) {
      fmt::print("audit log verified: {} record{}, hash chain intact\n", rep.records,
                 rep.records == 1 ? "" : "s");
    }
  }
  if (!rep.ok) {
    std::string where =
        rep.first_bad_seq ? fmt::format("record {}: ", *rep.first_bad_seq) : std::string();
    return ReportError(Error(ErrorCode::kIntegrity, where + rep.problem), "audit verify");
  }
  return 0;
}

}  // namespace

void RegisterAudit(CLI::App& app, Context& ctx) {
  CLI::App* audit = app.add_subcommand("audit", "Show and verify the audit trail");
  audit->require_subcommand(1);
  CLI::App* log = audit->add_subcommand("log", "Print every audit record");
  log->callback([&ctx] { ctx.action = [&ctx] { return RunAuditLog(ctx); }; });
  CLI::App* verify = audit->add_subcommand("verify", "Verify the audit log's hash chain");
  verify->callback([&ctx] { ctx.action = [&ctx] { return RunAuditVerify(ctx); }; });
}

}  // namespace bulwark::cli

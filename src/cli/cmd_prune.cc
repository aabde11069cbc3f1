// `bulwark prune [--dry-run]`: reclaims space of data no snapshot references.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/prune_util.h"
#include "repo/prune.h"

namespace bulwark::cli {

namespace {

struct PruneArgs {
  bool dry_run = false;
  double max_unused = 10;
};

}  // namespace

int RunPruneOn(Context& ctx, repo::Repository& r, const repo::PruneOptions& options) {
  AuditScope audit(ctx, "prune");
  audit.record().details["dry_run"] = options.dry_run;
  auto report = repo::Prune(r, options);
  if (!report.ok()) return audit.Fail(r, report.error(), "prune");
  const auto& p = *report;
  // The backstop for multipart uploads of killed processes (S3): each writer aborts its own
  // on failure, but a process killed mid-upload cannot. Old enough to be nobody's live one.
  // Prune's own work is done by now, so a failure here (e.g. credentials without
  // s3:ListBucketMultipartUploads) is a warning, not a failed prune.
  uint64_t stale = 0;
  nlohmann::json json = repo::PruneReportToJson(p);
  if (auto n = r.backend().AbortStaleUploads(options.dry_run); n.ok()) {
    stale = *n;
  } else {
    PrintWarning("prune: stale multipart uploads not aborted: " + n.error().message());
    json["stale_uploads_error"] = n.error().message();
  }
  json["stale_uploads_aborted"] = stale;
  audit.record().backup_size = p.bytes_freed;
  audit.record().details["report"] = json;
  if (!p.deletion_record.empty()) audit.record().checksum = "sha256:" + p.deletion_record;
  Status audited = audit.Finish(r, "success");
  if (ctx.json()) {
    PrintJson(json);
  } else if (!ctx.quiet()) {
    for (const auto& m : p.messages) fmt::print("{}\n", m);
    if (stale > 0) {
      fmt::print("prune{}: {} {} stale multipart upload{} (left by killed processes)\n",
                 p.dry_run ? " (dry run)" : "", p.dry_run ? "would abort" : "aborted", stale,
                 stale == 1 ? "" : "s");
    }
    fmt::print(
        "prune{}: {} packs: {} kept, {} condemned, {} repacked ({} blobs, {}); {} unused blobs "
        "({}); deleted {} packs and {} leftover packs, freed {}; {} deletion record{} pending\n",
        p.dry_run ? " (dry run)" : "", p.packs_total, p.packs_kept, p.packs_condemned,
        p.packs_repacked, p.blobs_repacked, FormatBytes(p.bytes_repacked), p.unused_blobs,
        FormatBytes(p.unused_bytes), p.packs_deleted, p.leftover_packs_deleted,
        FormatBytes(p.bytes_freed), p.records_pending, p.records_pending == 1 ? "" : "s");
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

void RegisterPrune(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<PruneArgs>();
  CLI::App* sub = app.add_subcommand("prune", "Remove data that no snapshot references");
  sub->add_flag("-n,--dry-run", args->dry_run, "Only report what would be done");
  sub->add_option("--max-unused", args->max_unused,
                  "Repack a pack when more than this percentage of it is unused (default 10)")
      ->check(CLI::Range(0.0, 100.0));
  sub->callback([&ctx, args] {
    ctx.action = [&ctx, args] {
      auto repo = ctx.OpenRepository();
      if (!repo.ok()) return ReportError(repo.error(), "prune");
      repo::PruneOptions options;
      options.dry_run = args->dry_run;
      options.max_unused = args->max_unused / 100.0;
      return RunPruneOn(ctx, **repo, options);
    };
  });
}

}  // namespace bulwark::cli

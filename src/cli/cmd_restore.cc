// `bulwark restore SNAPSHOT|latest --target DIR [--include PATTERN] [--path P]`.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_printer.h"
#include "cli/snapshot_util.h"
#include "sources/files/restore.h"

namespace bulwark::cli {

namespace {

struct RestoreArgs {
  std::string snapshot;
  std::string target;
  std::vector<std::string> includes;
  std::string component;
  std::string path;
  int workers = 0;
  bool rehash = false;
};

int RunRestore(Context& ctx, const RestoreArgs& args) {
  auto repo = ctx.OpenRepositoryForReading();
  if (!repo.ok()) return ReportError(repo.error(), "restore");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "restore", args.component);
  audit.record().storage_location = r.backend().Location();
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");
  auto snap = ResolveSnapshot(r, args.snapshot, args.component);
  if (!snap.ok()) return audit.Fail(r, snap.error(), "restore");
  audit.record().component = snap->component;
  audit.record().checksum = "sha256:" + snap->id.Hex();
  audit.record().details = {
      {"snapshot", snap->id.Hex()}, {"target", args.target}, {"rehash", args.rehash}};

  sources::files::FilesRestoreOptions options;
  options.target = args.target;
  options.includes = args.includes;
  options.subpath = args.path;
  options.workers = args.workers;
  options.rehash = args.rehash;
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "restore:", ctx.quiet());
  auto result = sources::files::RestoreSnapshot(r, *snap, options);
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), "restore " + snap->id.ShortHex());
  const auto& res = *result;
  audit.record().backup_size = res.bytes_written;
  audit.record().details["files"] = res.files;
  audit.record().details["dirs"] = res.dirs;
  std::string status = "success";
  if (!res.damaged.empty()) {
    status = "failure";
    audit.record().details["damaged"] = res.damaged;
  } else if (!res.errors.empty()) {
    status = "partial";
  }
  if (!res.errors.empty()) audit.record().details["errors"] = res.errors;
  Status audited = audit.Finish(r, status);

  for (const auto& d : res.damaged) PrintWarning("refused damaged file " + d);
  for (const auto& e : res.errors) PrintWarning("could not restore " + e);
  if (ctx.json()) {
    PrintJson({{"snapshot", snap->id.Hex()},
               {"target", args.target},
               {"files", res.files},
               {"dirs", res.dirs},
               {"others", res.others},
               {"bytes_written", res.bytes_written},
               {"duration_seconds", printer.ElapsedSeconds()},
               {"damaged", res.damaged},
               {"errors", res.errors}});
  } else if (!ctx.quiet()) {
    double secs = printer.ElapsedSeconds();
    fmt::print("restored snapshot {} to {}: {} files, {} dirs, {} other, {} in {} ({})\n",
               snap->id.ShortHex(), args.target, res.files, res.dirs, res.others,
               FormatBytes(res.bytes_written), FormatDuration(secs),
               FormatRate(secs > 0 ? res.bytes_written / secs : 0));
  }
  if (!res.damaged.empty()) {
    PrintWarning(
        fmt::format("{} damaged file{} not restored; run `bulwark check --read-data` for details",
                    res.damaged.size(), res.damaged.size() == 1 ? " was" : "s were"));
    return 4;
  }
  if (!res.errors.empty()) return 1;
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

}  // namespace

void RegisterRestore(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* sub = app.add_subcommand("restore", "Restore a snapshot into a directory");
  // Required unless a subcommand (restore postgres/redis) is used; checked in the callback.
  sub->add_option("SNAPSHOT", args->snapshot, "Snapshot ID (or unique prefix) or \"latest\"");
  sub->add_option("-t,--target", args->target, "Directory to restore into");
  sub->add_option("-i,--include", args->includes,
                  "Only restore names or snapshot paths matching this glob (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--component", args->component, "With \"latest\": the latest of this component");
  sub->add_option("--path", args->path,
                  "Only restore this snapshot path; its contents land directly in the target");
  sub->add_option("--workers", args->workers, "Parallel restore workers");
  sub->add_flag("--rehash", args->rehash, kRehashHelp);
  CLI::App* postgres = RegisterRestorePostgres(sub, ctx);
  CLI::App* redis = RegisterRestoreRedis(sub, ctx);
  sub->callback([&ctx, args, postgres, redis] {
    if (postgres->parsed() || redis->parsed()) return;
    if (args->snapshot.empty()) throw CLI::RequiredError("SNAPSHOT");
    if (args->target.empty()) throw CLI::RequiredError("--target");
    ctx.action = [&ctx, args] { return RunRestore(ctx, *args); };
  });
}

}  // namespace bulwark::cli

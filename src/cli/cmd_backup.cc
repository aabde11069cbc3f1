// `bulwark backup files PATH...` and `bulwark backup stdin`: store a snapshot.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_printer.h"
#include "cli/snapshot_util.h"
#include "sources/files/backup.h"
#include "sources/files/estimate.h"

namespace bulwark::cli {

namespace {

struct BackupArgs {
  std::vector<std::string> paths;
  std::string component = "default";
  std::vector<std::string> tags;
  std::vector<std::string> excludes;
  std::string host;
  std::string parent;
  std::string filename;  // stdin
  int readers = 0;
};

nlohmann::json CountersToJson(const sources::files::FilesBackupCounters& c) {
  return {{"files_new", c.files_new},
          {"files_changed", c.files_changed},
          {"files_unmodified", c.files_unmodified},
          {"dirs", c.dirs},
          {"others", c.others},
          {"bytes_total", c.bytes_total},
          {"bytes_read", c.bytes_read},
          {"bytes_added", c.bytes_added},
          {"bytes_stored", c.bytes_stored},
          {"blobs_new", c.blobs_new}};
}

int RunBackup(Context& ctx, const BackupArgs& args, bool from_stdin) {
  const char* what = from_stdin ? "backup stdin" : "backup files";
  auto repo = ctx.OpenRepository(args.component);
  if (!repo.ok()) return ReportError(repo.error(), what);
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "backup", args.component);
  audit.record().details["kind"] = from_stdin ? "stdin" : "files";
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");

  sources::files::FilesBackupOptions options;
  options.paths = args.paths;
  options.excludes = args.excludes;
  options.component = args.component;
  options.tags = args.tags;
  options.hostname = args.host;
  options.reader_threads = args.readers;
  if (!args.parent.empty()) {
    auto parent = ResolveSnapshot(r, args.parent, args.component);
    if (!parent.ok()) return audit.Fail(r, parent.error(), "--parent");
    options.parent = parent->id;
  }
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "backup:", ctx.quiet());
  // On a terminal, a stat-only walk next to the backup gives the progress line an ETA early.
  std::atomic<bool> stop_estimate{false};
  std::thread estimator;
  if (printer.active() && !from_stdin) {
    estimator = std::thread([&] {
      sources::files::EstimateTree(options.paths, options.excludes, progress, stop_estimate);
    });
  }
  auto result = from_stdin ? sources::files::BackupStream(r, STDIN_FILENO, args.filename, options)
                           : sources::files::BackupFiles(r, options);
  stop_estimate.store(true);
  if (estimator.joinable()) estimator.join();
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), what);

  const auto& res = *result;
  const auto& c = res.counters;
  bool partial = !res.errors.empty();
  audit.record().backup_size = c.bytes_total;
  audit.record().checksum = "sha256:" + res.snapshot.id.Hex();
  audit.record().details["snapshot"] = res.snapshot.id.Hex();
  audit.record().details["counters"] = CountersToJson(c);
  if (partial) audit.record().details["unreadable"] = res.errors;
  Status audited = audit.Finish(r, partial ? "partial" : "success");

  for (const auto& e : res.errors) PrintWarning("could not read " + e);
  if (ctx.json()) {
    PrintJson({{"snapshot", res.snapshot.id.Hex()},
               {"component", res.snapshot.component},
               {"duration_seconds", res.duration_seconds},
               {"counters", CountersToJson(c)},
               {"errors", res.errors}});
  } else if (!ctx.quiet()) {
    double rate = res.duration_seconds > 0 ? c.bytes_read / res.duration_seconds : 0;
    fmt::print(
        "snapshot {} saved ({}): {} new, {} changed, {} unmodified files, {} dirs; {} total, "
        "{} read, {} added ({} stored) in {} ({})\n",
        res.snapshot.id.ShortHex(), res.snapshot.component, c.files_new, c.files_changed,
        c.files_unmodified, c.dirs, FormatBytes(c.bytes_total), FormatBytes(c.bytes_read),
        FormatBytes(c.bytes_added), FormatBytes(c.bytes_stored),
        FormatDuration(res.duration_seconds), FormatRate(rate));
  }
  if (partial) {
    PrintWarning(fmt::format("{} input{} could not be read; the snapshot is incomplete",
                             res.errors.size(), res.errors.size() == 1 ? "" : "s"));
    return 3;
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

void AddCommonOptions(CLI::App* sub, BackupArgs& args) {
  sub->add_option("--tag", args.tags, "Tag for the snapshot (repeatable)")->allow_extra_args(false);
  sub->add_option("--host", args.host, "Host name recorded in the snapshot (default: this host)");
}

}  // namespace

void RegisterBackup(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup = app.add_subcommand("backup", "Create a snapshot");
  backup->require_subcommand(1);

  CLI::App* files = backup->add_subcommand("files", "Back up files and directories");
  files->add_option("PATH", args->paths, "Files or directories to back up")->required();
  files->add_option("--component", args->component, "Component name (default \"default\")");
  files
      ->add_option("--exclude", args->excludes,
                   "Skip names or absolute paths matching this glob (repeatable)")
      ->allow_extra_args(false);
  files->add_option("--parent", args->parent,
                    "Snapshot to compare against for change detection (default: the latest "
                    "of the same paths)");
  files->add_option("--read-concurrency", args->readers, "Parallel file readers");
  AddCommonOptions(files, *args);
  files->callback(
      [&ctx, args] { ctx.action = [&ctx, args] { return RunBackup(ctx, *args, false); }; });

  CLI::App* in = backup->add_subcommand("stdin", "Back up the data read from standard input");
  in->add_option("--component", args->component, "Component name")->required();
  in->add_option("--filename", args->filename, "Name of the file in the snapshot")->required();
  AddCommonOptions(in, *args);
  in->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunBackup(ctx, *args, true); }; });

  RegisterBackupPostgres(backup, ctx);
  RegisterBackupRedis(backup, ctx);
}

}  // namespace bulwark::cli

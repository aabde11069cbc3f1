// `bulwark restore postgres SNAPSHOT|latest --target DIR [--time T | --lsn L | --xid X |
// --name NAME | --immediate | --latest] [--delta] [--tablespace-map OID=DIR]...`.
#include <fmt/format.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_printer.h"
#include "sources/files/fs_util.h"
#include "sources/postgres/restore.h"

namespace bulwark::cli {

namespace {

namespace pg = sources::postgres;

struct PgRestoreArgs {
  std::string snapshot;
  std::string target;
  std::string component;
  std::string time;
  std::string lsn;
  std::string xid;
  std::string name;
  bool immediate = false;
  bool latest = false;
  std::string timeline;
  bool delta = false;
  std::vector<std::string> tablespace_map;
  int workers = 0;
  bool rehash = false;
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// The binary and global flags restore_command needs to reach this repository: never the
// passphrase itself, only the file holding it.
Result<std::string> WalGetPrefix(Context& ctx) {
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return ErrnoError("finding the bulwark binary", errno);
  std::string prefix = pg::ShellQuote(std::string(exe, static_cast<size_t>(n)));
  BW_ASSIGN_OR_RETURN(std::string url, ctx.RepositoryUrl());
  if (url.find("://") == std::string::npos) {
    BW_ASSIGN_OR_RETURN(url, sources::files::AbsolutePath(url));
  }
  prefix += " --repo " + pg::ShellQuote(url);
  std::string pwfile = ctx.global.password_file;
  if (pwfile.empty()) pwfile = Env("BULWARK_PASSWORD_FILE");
  if (pwfile.empty()) pwfile = ctx.config.password_file;
  if (!ctx.global.config_file.empty()) {
    BW_ASSIGN_OR_RETURN(std::string cfg, sources::files::AbsolutePath(ctx.global.config_file));
    prefix += " --config " + pg::ShellQuote(cfg);
  }
  if (pwfile.empty()) {
    return Error(ErrorCode::kUsage,
                 "restore_command needs the repository passphrase in a file PostgreSQL can read: "
                 "give --password-file or BULWARK_PASSWORD_FILE (the passphrase itself is never "
                 "written into the configuration)");
  }
  BW_ASSIGN_OR_RETURN(pwfile, sources::files::AbsolutePath(pwfile));
  prefix += " --password-file " + pg::ShellQuote(pwfile);
  return prefix;
}

int RunPgRestore(Context& ctx, const PgRestoreArgs& args) {
  const char* what = "restore postgres";
  pg::PgRestoreOptions options;
  int targets = 0;
  auto set = [&](bool given, pg::RecoveryTarget t, const std::string& v) {
    if (!given) return;
    ++targets;
    options.target = t;
    options.target_value = v;
  };
  set(!args.time.empty(), pg::RecoveryTarget::kTime, args.time);
  set(!args.lsn.empty(), pg::RecoveryTarget::kLsn, args.lsn);
  set(!args.xid.empty(), pg::RecoveryTarget::kXid, args.xid);
  set(!args.name.empty(), pg::RecoveryTarget::kName, args.name);
  set(args.immediate, pg::RecoveryTarget::kImmediate, "");
  set(args.latest, pg::RecoveryTarget::kLatest, "");
  if (targets > 1) {
    return ReportError(Error(ErrorCode::kUsage,
                             "give at most one of --time, --lsn, --xid, "
                             "--name, --immediate, --latest"),
                       what);
  }
  if (args.snapshot == "latest" && args.component.empty()) {
    return ReportError(Error(ErrorCode::kUsage, "'latest' needs --component"), what);
  }
  for (const auto& m : args.tablespace_map) {
    auto parsed = pg::ParseTablespaceMapping(m);
    if (!parsed.ok()) return ReportError(parsed.error(), what);
    options.tablespace_map.push_back(*parsed);
  }
  options.delta = args.delta;
  auto prefix = WalGetPrefix(ctx);
  if (!prefix.ok()) return ReportError(prefix.error(), what);
  options.wal_get_prefix = *prefix;
  options.component = args.component;
  options.snapshot = args.snapshot;
  options.target_dir = args.target;
  options.workers = args.workers;
  options.rehash = args.rehash;
  options.timeline = args.timeline;

  auto repo = ctx.OpenRepositoryForReading();
  if (!repo.ok()) return ReportError(repo.error(), what);
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "restore", args.component);
  audit.record().storage_location = r.backend().Location();
  audit.record().details = {{"kind", "postgres"},
                            {"target", args.target},
                            {"delta", args.delta},
                            {"rehash", args.rehash}};
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");

  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "restore:", ctx.quiet());
  auto result = pg::RestorePostgres(r, options);
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), what);
  const auto& res = *result;
  const auto& snap = res.plan.snapshot;
  audit.record().component = snap.component;
  audit.record().checksum = "sha256:" + snap.id.Hex();
  audit.record().backup_size = res.bytes_written;
  audit.record().details["snapshot"] = snap.id.Hex();
  audit.record().details["recovery"] = res.settings;
  nlohmann::json tablespaces = nlohmann::json::array();
  for (const auto& t : res.tablespaces) tablespaces.push_back({{"oid", t.oid}, {"dir", t.dir}});
  if (!res.tablespaces.empty()) audit.record().details["tablespaces"] = tablespaces;
  Status audited = audit.Finish(r, "success");
  if (ctx.json()) {
    PrintJson({{"snapshot", snap.id.Hex()},
               {"target", args.target},
               {"delta", res.delta},
               {"files", res.files},
               {"files_kept", res.kept.files_kept},
               {"bytes_kept", res.kept.bytes_kept},
               {"removed", res.kept.removed},
               {"dirs", res.dirs},
               {"bytes_written", res.bytes_written},
               {"tablespaces", tablespaces},
               {"wal_needed", res.plan.wal_needed},
               {"settings", res.settings},
               {"duration_seconds", printer.ElapsedSeconds()}});
  } else if (!ctx.quiet()) {
    double secs = printer.ElapsedSeconds();
    fmt::print("restored PostgreSQL backup {} ({}) to {}: {} files, {} in {} ({})\n",
               snap.id.ShortHex(), snap.source.value("backup_stop_time", std::string()),
               args.target, res.files, FormatBytes(res.bytes_written), FormatDuration(secs),
               FormatRate(secs > 0 ? res.bytes_written / secs : 0));
    if (res.delta) {
      fmt::print("  delta: {} files rewritten, {} kept ({}), {} entries removed\n", res.files,
                 res.kept.files_kept, FormatBytes(res.kept.bytes_kept), res.kept.removed);
    }
    for (const auto& t : res.tablespaces) {
      fmt::print("  tablespace {} in {} (pg_tblspc/{} links to it)\n", t.oid, t.dir, t.oid);
    }
    for (const auto& s : res.settings) fmt::print("  {}\n", s);
    fmt::print("start PostgreSQL on it to replay WAL (recovery.signal is set)\n");
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

}  // namespace

CLI::App* RegisterRestorePostgres(CLI::App* restore, Context& ctx) {
  auto args = std::make_shared<PgRestoreArgs>();
  CLI::App* sub = restore->add_subcommand(
      "postgres", "Restore a PostgreSQL backup and configure point-in-time recovery");
  sub->add_option("SNAPSHOT", args->snapshot, "Snapshot ID (or unique prefix) or \"latest\"")
      ->required();
  sub->add_option("-t,--target", args->target,
                  "New data directory (missing or empty; with --delta a stopped cluster's)")
      ->required();
  sub->add_option("--component", args->component, "Component (needed with \"latest\")");
  sub->add_option("--time", args->time,
                  "Recover to this time, e.g. \"2026-11-24 10:15:00+00\" (with latest: picks "
                  "the newest backup that ended before it)");
  sub->add_option("--lsn", args->lsn, "Recover to this WAL position, e.g. 0/3000060");
  sub->add_option("--xid", args->xid, "Recover to this transaction ID");
  sub->add_option("--name", args->name, "Recover to this restore point (pg_create_restore_point)");
  sub->add_flag("--immediate", args->immediate, "Stop as soon as the backup is consistent");
  sub->add_flag("--latest", args->latest, "Replay all archived WAL (the default)");
  sub->add_option("--timeline", args->timeline,
                  "recovery_target_timeline: current, latest or a number (default: current "
                  "with a target, latest without)");
  sub->add_flag("--delta", args->delta,
                "Update an existing data directory of a stopped server: keep files whose "
                "contents match the backup, rewrite the others, remove what it does not hold");
  sub->add_option("--tablespace-map", args->tablespace_map,
                  "OID=DIR: restore tablespace OID into DIR (absolute, missing or empty) and "
                  "link pg_tblspc/OID to it (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--workers", args->workers, "Parallel restore workers");
  sub->add_flag("--rehash", args->rehash, kRehashHelp);
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunPgRestore(ctx, *args); }; });
  return sub;
}

}  // namespace bulwark::cli

// `bulwark backup postgres --component C (--pgdata DIR | --remote) --db CONNSTR
// [--type full|incr]`.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_printer.h"
#include "sources/postgres/backup.h"

namespace bulwark::cli {

namespace {

namespace pg = sources::postgres;

struct PgBackupArgs {
  std::string component;
  std::string pgdata;
  std::string db;
  std::string type = "incr";
  bool remote = false;
  std::vector<std::string> tags;
  std::string host;
  uint32_t block_kib = pg::kDefaultRelationBlockSize / 1024;
  int readers = 0;
  double archive_timeout = 60;
};

nlohmann::json CountersJson(const pg::PgBackupCounters& c) {
  return {{"files", c.files},
          {"files_read", c.files_read},
          {"files_unmodified", c.files_unmodified},
          {"dirs", c.dirs},
          {"bytes_total", c.bytes_total},
          {"bytes_read", c.bytes_read},
          {"bytes_added", c.bytes_added},
          {"bytes_stored", c.bytes_stored},
          {"blobs_new", c.blobs_new},
          {"pages_verified", c.pages_verified}};
}

int RunPgBackup(Context& ctx, const PgBackupArgs& args) {
  const char* what = "backup postgres";
  if (args.type != "full" && args.type != "incr") {
    return ReportError(Error(ErrorCode::kUsage, "--type must be full or incr"), what);
  }
  if (args.remote && !args.pgdata.empty()) {
    return ReportError(Error(ErrorCode::kUsage,
                             "--pgdata and --remote exclude each other: --remote receives the "
                             "files over a replication connection"),
                       what);
  }
  if (!args.remote && args.pgdata.empty()) {
    return ReportError(Error(ErrorCode::kUsage,
                             "--pgdata is required (or --remote when the data directory is not "
                             "reachable from this host)"),
                       what);
  }
  auto repo = ctx.OpenRepository(args.component);
  if (!repo.ok()) return ReportError(repo.error(), what);
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "backup", args.component);
  audit.record().details["kind"] = pg::kSnapshotKind;
  if (args.remote) {
    audit.record().details["remote"] = true;
  } else {
    audit.record().details["pgdata"] = args.pgdata;
  }
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");

  pg::PgBackupOptions options;
  options.component = args.component;
  options.pgdata = args.pgdata;
  options.conninfo = args.db;
  options.remote = args.remote;
  options.type = args.type == "full" ? pg::BackupType::kFull : pg::BackupType::kIncremental;
  options.block_size = args.block_kib * 1024;
  options.tags = args.tags;
  options.hostname = args.host;
  options.reader_threads = args.readers;
  options.archive_timeout_seconds = args.archive_timeout;
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "backup:", ctx.quiet());
  auto result = pg::BackupPostgres(r, options);
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), what);

  const auto& res = *result;
  const auto& c = res.counters;
  const auto& src = res.snapshot.source;
  const bool partial = !res.errors.empty() || !res.corrupt_pages.empty();
  audit.record().backup_size = c.bytes_total;
  audit.record().checksum = "sha256:" + res.snapshot.id.Hex();
  audit.record().details["snapshot"] = res.snapshot.id.Hex();
  audit.record().details["counters"] = CountersJson(c);
  audit.record().details["start_lsn"] = src["start_lsn"];
  audit.record().details["stop_lsn"] = src["stop_lsn"];
  if (partial) audit.record().details["problems"] = res.snapshot.errors;
  Status audited = audit.Finish(r, partial ? "partial" : "success");

  for (const auto& p : res.corrupt_pages) {
    PrintWarning(
        fmt::format("corrupt page: {} block {} (checksum calculated {:#06x}, page has "
                    "{:#06x})",
                    p.file, p.block, p.expected, p.found));
  }
  for (const auto& e : res.errors) PrintWarning("could not read " + e);
  if (ctx.json()) {
    nlohmann::json corrupt = src["corrupt_pages"];
    PrintJson({{"snapshot", res.snapshot.id.Hex()},
               {"component", res.snapshot.component},
               {"type", res.type == pg::BackupType::kFull ? "full" : "incr"},
               {"duration_seconds", res.duration_seconds},
               {"start_lsn", src["start_lsn"]},
               {"stop_lsn", src["stop_lsn"]},
               {"timeline", src["timeline"]},
               {"wal_start", src["wal_start"]},
               {"wal_stop", src["wal_stop"]},
               {"counters", CountersJson(c)},
               {"corrupt_pages", corrupt},
               {"errors", res.errors}});
  } else if (!ctx.quiet()) {
    double rate = res.duration_seconds > 0 ? c.bytes_read / res.duration_seconds : 0;
    fmt::print(
        "snapshot {} saved ({}, {} backup, WAL {}..{}): {} files ({} read, {} unmodified), {} "
        "total, {} read, {} added ({} stored), {} pages verified, in {} ({})\n",
        res.snapshot.id.ShortHex(), res.snapshot.component,
        res.type == pg::BackupType::kFull ? "full" : "incremental",
        src["start_lsn"].get<std::string>(), src["stop_lsn"].get<std::string>(), c.files,
        c.files_read, c.files_unmodified, FormatBytes(c.bytes_total), FormatBytes(c.bytes_read),
        FormatBytes(c.bytes_added), FormatBytes(c.bytes_stored), c.pages_verified,
        FormatDuration(res.duration_seconds), FormatRate(rate));
  }
  if (partial) {
    if (!res.corrupt_pages.empty()) {
      PrintWarning(fmt::format("{} corrupt page{} found; they are recorded in snapshot {}",
                               res.corrupt_pages.size(), res.corrupt_pages.size() == 1 ? "" : "s",
                               res.snapshot.id.ShortHex()));
    }
    if (!res.errors.empty()) {
      PrintWarning(fmt::format("{} file{} could not be read; the snapshot is incomplete",
                               res.errors.size(), res.errors.size() == 1 ? "" : "s"));
    }
    return 3;
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

}  // namespace

void RegisterBackupPostgres(CLI::App* backup, Context& ctx) {
  auto args = std::make_shared<PgBackupArgs>();
  CLI::App* sub = backup->add_subcommand(
      "postgres", "Physical backup of a PostgreSQL cluster (non-exclusive backup API)");
  sub->add_option("--component", args->component, "Component name, e.g. pg-primary")->required();
  sub->add_option("--pgdata", args->pgdata, "The cluster's data directory");
  sub->add_flag("--remote", args->remote,
                "Receive the files over a replication connection (BASE_BACKUP) instead of "
                "reading --pgdata; the --db role needs REPLICATION");
  sub->add_option("--db", args->db,
                  "libpq connection string of the same cluster, e.g. \"host=/run/postgresql\"")
      ->required();
  sub->add_option("--type", args->type,
                  "full: read every file; incr (default): re-read only files changed since the "
                  "latest backup of the component");
  sub->add_option("--block-size", args->block_kib,
                  "Block size in KiB for relation files (multiple of 8)");
  sub->add_option("--read-concurrency", args->readers, "Parallel readers");
  sub->add_option("--archive-timeout", args->archive_timeout,
                  "Seconds to wait for the last WAL file the backup needs to be archived "
                  "(default 60; 0 waits as long as it takes)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--tag", args->tags, "Tag for the snapshot (repeatable)");
  sub->add_option("--host", args->host, "Host name recorded in the snapshot");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunPgBackup(ctx, *args); }; });
}

}  // namespace bulwark::cli

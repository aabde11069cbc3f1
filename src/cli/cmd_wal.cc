// `bulwark wal-push`, `wal-get`, `wal-receive` and `wal-status`: PostgreSQL continuous archiving
// (archive_command / restore_command / a streaming replication client) and the archive's state.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "repo/snapshot.h"
#include "sources/postgres/wal_archive.h"
#include "sources/postgres/wal_names.h"
#include "sources/postgres/wal_receive.h"

namespace bulwark::cli {

namespace {

namespace pg = sources::postgres;

struct WalArgs {
  std::string component;
  std::string path;  // push: file; get: name
  std::string dest;
  std::string spool;
  int prefetch = 4;
  // receive
  std::string db;
  std::string slot;
  bool synchronous = false;
  int status_interval = 10;
};

int RunWalPush(Context& ctx, const WalArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "wal-push");
  auto res = pg::PushWalFile(**repo, args.component, args.path);
  if (!res.ok()) return ReportError(res.error(), "wal-push " + args.path);
  if (ctx.json()) {
    PrintJson({{"name", res->name},
               {"size", res->size},
               {"already_archived", res->already_archived},
               {"bytes_stored", res->bytes_stored}});
  }
  return 0;
}

int RunWalGet(Context& ctx, const WalArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "wal-get");
  repo::Repository& r = **repo;
  if (Status st = r.LoadIndex(); !st.ok()) return ReportError(st.error(), "wal-get");
  pg::WalGetOptions options;
  options.prefetch = args.prefetch;
  options.spool_dir = args.spool;
  if (options.spool_dir.empty() && args.prefetch > 0) {
    size_t slash = args.dest.rfind('/');
    options.spool_dir =
        (slash == std::string::npos ? std::string(".") : args.dest.substr(0, slash)) +
        "/.bulwark-spool";
  }
  Status st = pg::GetWalFile(r, args.component, args.path, args.dest, options);
  if (!st.ok()) {
    // PostgreSQL asks for files past the end of the archive as a matter of course: one short
    // line, exit 1.
    if (st.error().code() == ErrorCode::kNotFound) {
      if (!ctx.quiet())
        std::fprintf(stderr, "bulwark: wal-get: %s\n", st.error().message().c_str());
      return 1;
    }
    return ReportError(st.error(), "wal-get " + args.path);
  }
  return 0;
}

int RunWalReceive(Context& ctx, const WalArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "wal-receive");
  pg::WalReceiveOptions options;
  options.component = args.component;
  options.conninfo = args.db;
  options.slot = args.slot;
  options.synchronous = args.synchronous;
  options.status_interval_seconds = args.status_interval;
  if (!ctx.quiet()) {
    options.log = [](const std::string& line) {
      std::fprintf(stderr, "bulwark: wal-receive: %s\n", line.c_str());
    };
  }
  Status st = pg::ReceiveWal(**repo, options);
  if (!st.ok()) return ReportError(st.error(), "wal-receive");
  return 0;
}

int RunWalStatus(Context& ctx, const WalArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "wal-status");
  auto st = pg::GetWalStatus(**repo, args.component, pg::kDefaultWalSegmentSize);
  if (!st.ok()) return ReportError(st.error(), "wal-status");
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  double lag = st->newest_pushed_unix_ns > 0 ? (now - st->newest_pushed_unix_ns) / 1e9 : -1;
  if (ctx.json()) {
    PrintJson(
        {{"component", args.component},
         {"files", st->files},
         {"bytes", st->bytes},
         {"oldest_segment", st->oldest_segment},
         {"newest_segment", st->newest_segment},
         {"newest_archived_at",
          st->newest_pushed_unix_ns > 0 ? repo::FormatTimeRfc3339(st->newest_pushed_unix_ns) : ""},
         {"archive_lag_seconds", lag},
         {"timeline_histories", st->histories},
         {"gaps", st->gaps}});
    return 0;
  }
  if (st->files == 0) {
    fmt::print("component {}: no WAL archived\n", args.component);
    return 0;
  }
  fmt::print("component {}: {} WAL files ({}), segments {} .. {}\n", args.component, st->files,
             FormatBytes(st->bytes), st->oldest_segment, st->newest_segment);
  fmt::print("newest archived at {} (archive lag {})\n", FormatLocalTime(st->newest_pushed_unix_ns),
             FormatDuration(lag));
  for (const auto& g : st->gaps) fmt::print("gap: {} missing\n", g);
  return 0;
}

}  // namespace

void RegisterWal(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<WalArgs>();
  CLI::App* push = app.add_subcommand(
      "wal-push",
      "Archive one WAL file (for archive_command = 'bulwark wal-push --component C %p')");
  push->add_option("--component", args->component, "Component name")->required();
  push->add_option("PATH", args->path, "The WAL file (%p)")->required();
  push->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunWalPush(ctx, *args); }; });

  CLI::App* get = app.add_subcommand(
      "wal-get",
      "Fetch one archived WAL file (for restore_command = 'bulwark wal-get --component C %f %p')");
  get->add_option("--component", args->component, "Component name")->required();
  get->add_option("NAME", args->path, "WAL file name (%f)")->required();
  get->add_option("DEST", args->dest, "Where to write it (%p)")->required();
  get->add_option("--spool", args->spool,
                  "Directory for prefetched segments (default: .bulwark-spool beside DEST)");
  get->add_option("--prefetch", args->prefetch,
                  "Following segments to fetch in parallel (default 4; 0 disables)");
  get->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunWalGet(ctx, *args); }; });

  CLI::App* receive = app.add_subcommand(
      "wal-receive",
      "Stream WAL from a server over a physical replication slot into the archive (with "
      "--synchronous, usable in synchronous_standby_names as application_name 'bulwark')");
  receive->add_option("--component", args->component, "Component name")->required();
  receive->add_option("--db", args->db, "libpq connection string of the server")->required();
  receive->add_option("--slot", args->slot, "Physical replication slot (created if missing)")
      ->required();
  receive->add_flag("--synchronous", args->synchronous,
                    "Report WAL flushed only once it is durable in the repository");
  receive->add_option("--status-interval", args->status_interval,
                      "Seconds between status updates (and stored partial segments when not "
                      "synchronous; default 10)");
  receive->callback(
      [&ctx, args] { ctx.action = [&ctx, args] { return RunWalReceive(ctx, *args); }; });

  CLI::App* status =
      app.add_subcommand("wal-status", "Newest archived WAL segment and the archive lag");
  status->add_option("--component", args->component, "Component name")->required();
  status->callback(
      [&ctx, args] { ctx.action = [&ctx, args] { return RunWalStatus(ctx, *args); }; });
}

}  // namespace bulwark::cli

// `bulwark wal-push`, `wal-get`, `wal-receive` and `wal-status`: PostgreSQL continuous archiving
// (archive_command / restore_command / a streaming replication client) and the archive's state.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"
#include "core/cancel.h"
#include "repo/snapshot.h"
#include "sources/postgres/wal_archive.h"
#include "sources/postgres/wal_names.h"
#include "sources/postgres/wal_push_async.h"
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
  // push --async
  bool async = false;
  bool pusher = false;  // internal: this process is the spool's pusher
  double async_timeout = 120;
  size_t batch = 16;
  int workers = 2;
};

void PrintPushJson(const pg::WalPushResult& res) {
  PrintJson({{"name", res.name},
             {"size", res.size},
             {"already_archived", res.already_archived},
             {"bytes_stored", res.bytes_stored}});
}

int RunWalPushAsync(Context& ctx, const WalArgs& args);

int RunWalPush(Context& ctx, const WalArgs& args) {
  if (args.async || args.pusher) return RunWalPushAsync(ctx, args);
  auto repo = ctx.OpenRepository(args.component);
  if (!repo.ok()) return ReportError(repo.error(), "wal-push");
  auto res = pg::PushWalFile(**repo, args.component, args.path);
  if (!res.ok()) return ReportError(res.error(), "wal-push " + args.path);
  if (ctx.json()) PrintPushJson(*res);
  return 0;
}

// Starts the spool's pusher: this command line again, plus --pusher, in its own session (so
// it outlives archive_command) with its output in the spool's log. The passphrase reaches it
// the way it reached us (file or environment), never on its command line.
Status SpawnPusher(const Context& ctx, const std::string& spool) {
  std::vector<std::string> args = ctx.argv;
  args.push_back("--pusher");
  std::vector<char*> cargv;
  for (std::string& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::string log = spool + "/pusher.log";
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoError("starting the WAL pusher", rc);
  return Status::Ok();
}

// archive_command with --async: hand the file to the spool's pusher (starting one if none
// runs) and return once it reports the file durable in the repository.
int RunWalPushAsync(Context& ctx, const WalArgs& args) {
  using Clock = std::chrono::steady_clock;
  auto path = sources::files::AbsolutePath(args.path);
  if (!path.ok()) return ReportError(path.error(), "wal-push");
  const std::string wal_dir = path->substr(0, path->rfind('/'));
  const std::string name = path->substr(path->rfind('/') + 1);
  const std::string spool = args.spool.empty() ? pg::DefaultPushSpool(wal_dir) : args.spool;
  if (Status st = pg::PrepareSpool(spool); !st.ok()) return ReportError(st.error(), "wal-push");

  if (args.pusher) {
    auto lock = pg::PusherLock::TryAcquire(spool);
    if (!lock.ok()) return ReportError(lock.error(), "wal-push pusher");
    if (!lock->has_value()) return 0;  // another pusher serves the spool
    auto repo = ctx.OpenRepository(args.component);
    if (!repo.ok()) return ReportError(repo.error(), "wal-push pusher");
    pg::AsyncPushOptions options;
    options.spool_dir = spool;
    options.wal_dir = wal_dir;
    options.batch = args.batch;
    options.workers = args.workers;
    Status st = pg::RunPusher(**repo, args.component, **lock, options);
    if (!st.ok()) return ReportError(st.error(), "wal-push pusher");
    return 0;
  }

  struct stat st;
  const std::string ready = wal_dir + "/archive_status/" + name + ".ready";
  if (::stat(ready.c_str(), &st) != 0) {
    if (Status q = pg::QueuePush(spool, *path); !q.ok()) return ReportError(q.error(), "wal-push");
  }
  const auto deadline = Clock::now() + std::chrono::duration<double>(args.async_timeout);
  auto last_spawn = Clock::time_point();
  while (true) {
    auto answer = pg::CheckSpool(spool, *path);
    if (!answer.ok()) return ReportError(answer.error(), "wal-push " + args.path);
    if (answer->verdict == pg::SpoolVerdict::kArchived) {
      if (ctx.json()) {
        pg::WalPushResult res;
        res.name = name;
        PrintPushJson(res);
      }
      return 0;
    }
    if (answer->verdict == pg::SpoolVerdict::kFailed) {
      return ReportError(Error(answer->code, answer->error), "wal-push " + args.path);
    }
    if (!pg::PusherRunning(spool) && Clock::now() - last_spawn > std::chrono::seconds(3)) {
      if (Status sp = SpawnPusher(ctx, spool); !sp.ok()) return ReportError(sp.error(), "wal-push");
      last_spawn = Clock::now();
    }
    if (CancelRequested()) {
      return ReportError(Error(ErrorCode::kCancelled, "interrupted"), "wal-push " + args.path);
    }
    if (Clock::now() > deadline) {
      return ReportError(
          Error(ErrorCode::kFailure,
                fmt::format("the WAL pusher did not archive {} within {:.0f}s (its log: {})", name,
                            args.async_timeout, spool + "/pusher.log")),
          "wal-push");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int RunWalGet(Context& ctx, const WalArgs& args) {
  auto repo = ctx.OpenRepositoryForReading();
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
  auto repo = ctx.OpenRepository(args.component);
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
  push->add_flag("--async", args->async,
                 "Hand the file to a background pusher that archives ready files ahead in "
                 "batches; return once this one is durable in the repository");
  push->add_option("--spool", args->spool,
                   "--async: spool directory (default: .bulwark-push in the WAL directory)");
  push->add_option("--async-timeout", args->async_timeout,
                   "--async: seconds to wait for the pusher (default 120)");
  push->add_option("--batch", args->batch, "--async: files per batch (default 16)");
  push->add_option("--workers", args->workers, "--async: compression threads (default 2)");
  push->add_flag("--pusher", args->pusher)->group("");
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

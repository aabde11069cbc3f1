// `bulwark backup redis` and `bulwark restore redis`: subcommands hooked into the backup and
// restore commands by RegisterBackupRedis / RegisterRestoreRedis.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/passphrase.h"
#include "cli/progress_printer.h"
#include "cli/snapshot_util.h"
#include "sources/redis/backup.h"
#include "sources/redis/restore.h"

namespace bulwark::cli {

namespace {

struct RedisBackupArgs {
  std::string component;
  std::string url;
  std::string password_file;
  std::vector<std::string> tags;
  std::string host;
  int timeout = 60;
  size_t buffer_mib = 32;
  std::string spill_dir;
};

// Where RDB bytes the consumer has not caught up with wait: --spill-dir, else $TMPDIR, else
// /var/tmp (on disk by convention, unlike a /tmp that may be a RAM-backed tmpfs). A default
// that is not a writable directory means no spilling (the receiver waits), with a warning; a
// bad --spill-dir fails the backup.
std::string SpillDir(const RedisBackupArgs& args) {
  if (!args.spill_dir.empty()) return args.spill_dir;
  std::string dir = "/var/tmp";
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') dir = t;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(dir.c_str(), W_OK) != 0) {
    PrintWarning(
        fmt::format("{} is not a writable directory: the RDB backlog cannot spill to "
                    "disk, so the transfer waits for the repository (set --spill-dir)",
                    dir));
    return {};
  }
  return dir;
}

// The Redis password: --redis-password-file, BULWARK_REDIS_PASSWORD, REDISCLI_AUTH, or none.
Result<std::string> RedisPassword(const RedisBackupArgs& args) {
  if (!args.password_file.empty()) return ReadPassphraseFile(args.password_file);
  for (const char* var : {"BULWARK_REDIS_PASSWORD", "REDISCLI_AUTH"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return std::string(v);
  }
  return std::string();
}

int RunBackupRedis(Context& ctx, const RedisBackupArgs& args) {
  auto endpoint = sources::redis::ParseRedisUrl(args.url);
  if (!endpoint.ok()) return ReportError(endpoint.error(), "backup redis");
  auto password = RedisPassword(args);
  if (!password.ok()) return ReportError(password.error(), "--redis-password-file");
  endpoint->password = *password;

  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "backup redis");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "backup", args.component);
  audit.record().details["kind"] = "redis";
  audit.record().details["endpoint"] = endpoint->Display();
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");

  sources::redis::RedisBackupOptions options;
  options.endpoint = *endpoint;
  options.component = args.component;
  options.tags = args.tags;
  options.hostname = args.host;
  options.timeout_seconds = args.timeout;
  options.max_buffered_bytes = std::max<size_t>(args.buffer_mib, 1) << 20;
  options.spill_dir = SpillDir(args);
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "backup redis:", ctx.quiet());
  auto result = sources::redis::BackupRedis(r, options);
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), "backup redis " + endpoint->Display());

  const auto& res = *result;
  audit.record().backup_size = res.rdb.bytes;
  audit.record().checksum = "sha256:" + res.snapshot.id.Hex();
  audit.record().details["snapshot"] = res.snapshot.id.Hex();
  audit.record().details["source"] = res.snapshot.source;
  Status audited = audit.Finish(r, "success");
  if (ctx.json()) {
    PrintJson({{"snapshot", res.snapshot.id.Hex()},
               {"component", res.snapshot.component},
               {"duration_seconds", res.duration_seconds},
               {"source", res.snapshot.source},
               {"summary", res.snapshot.summary},
               {"buffer",
                {{"memory_bytes", options.max_buffered_bytes},
                 {"spilled_bytes", res.buffer.bytes_spilled},
                 {"spill_file_peak_bytes", res.buffer.spill_file_peak}}}});
  } else if (!ctx.quiet()) {
    fmt::print(
        "snapshot {} saved ({}): Redis {} RDB v{}, {} keys, {} ({} transfer, offset {}); {} "
        "added ({} stored) in {}\n",
        res.snapshot.id.ShortHex(), res.snapshot.component,
        res.snapshot.source.value("redis_version", std::string("?")), res.rdb.version, res.rdb.keys,
        FormatBytes(res.rdb.bytes), res.diskless ? "diskless" : "disk", res.resync.offset,
        FormatBytes(res.bytes_added), FormatBytes(res.bytes_stored),
        FormatDuration(res.duration_seconds));
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

struct RedisRestoreArgs {
  std::string snapshot;
  std::string target;
  std::string component;
  bool force = false;
};

int RunRestoreRedis(Context& ctx, const RedisRestoreArgs& args) {
  auto repo = ctx.OpenRepositoryForReading();
  if (!repo.ok()) return ReportError(repo.error(), "restore redis");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "restore", args.component);
  audit.record().storage_location = r.backend().Location();
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");
  auto snap = ResolveSnapshot(r, args.snapshot, args.component);
  if (!snap.ok()) return audit.Fail(r, snap.error(), "restore redis");
  audit.record().component = snap->component;
  audit.record().checksum = "sha256:" + snap->id.Hex();
  audit.record().details = {
      {"snapshot", snap->id.Hex()}, {"target", args.target}, {"kind", "redis"}};
  sources::redis::RedisRestoreOptions options;
  options.target = args.target;
  options.force = args.force;
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "restore redis:", ctx.quiet());
  auto result = sources::redis::RestoreRedis(r, *snap, options);
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), "restore redis " + snap->id.ShortHex());
  audit.record().backup_size = result->rdb.bytes;
  Status audited = audit.Finish(r, "success");
  if (ctx.json()) {
    PrintJson({{"snapshot", snap->id.Hex()},
               {"path", result->path},
               {"rdb_bytes", result->rdb.bytes},
               {"keys", result->rdb.keys},
               {"duration_seconds", printer.ElapsedSeconds()}});
  } else if (!ctx.quiet()) {
    fmt::print(
        "restored Redis snapshot {} to {} ({}, {} keys, checksum verified); start it with "
        "`redis-server --dir {} --dbfilename dump.rdb`\n",
        snap->id.ShortHex(), result->path, FormatBytes(result->rdb.bytes), result->rdb.keys,
        args.target);
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

}  // namespace

void RegisterBackupRedis(CLI::App* backup, Context& ctx) {
  auto args = std::make_shared<RedisBackupArgs>();
  CLI::App* sub = backup->add_subcommand(
      "redis", "Snapshot a Redis server through the replication protocol (PSYNC)");
  sub->add_option("--component", args->component, "Component name")->required();
  sub->add_option("--url", args->url,
                  "redis://[user@]host:port[/db] or unix:///path/redis.sock (no password here)")
      ->required();
  sub->add_option("--redis-password-file", args->password_file,
                  "File holding the Redis password (or BULWARK_REDIS_PASSWORD, REDISCLI_AUTH)");
  sub->add_option("--timeout", args->timeout, "Seconds of server silence before giving up");
  sub->add_option("--buffer-mib", args->buffer_mib,
                  "MiB of received RDB held in memory while the repository catches up; the "
                  "rest waits in a temporary file (default 32)");
  sub->add_option("--spill-dir", args->spill_dir,
                  "Directory of that unlinked temporary file (default $TMPDIR, else /var/tmp)");
  sub->add_option("--tag", args->tags, "Tag for the snapshot (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--host", args->host, "Host name recorded in the snapshot (default: this host)");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunBackupRedis(ctx, *args); }; });
}

CLI::App* RegisterRestoreRedis(CLI::App* restore, Context& ctx) {
  auto args = std::make_shared<RedisRestoreArgs>();
  CLI::App* sub =
      restore->add_subcommand("redis", "Restore a Redis snapshot as dump.rdb into a directory");
  sub->add_option("SNAPSHOT", args->snapshot, "Snapshot ID (or unique prefix) or \"latest\"")
      ->required();
  sub->add_option("-t,--target", args->target, "Directory to write dump.rdb into")->required();
  sub->add_option("--component", args->component, "With \"latest\": the latest of this component");
  sub->add_flag("--force", args->force, "Replace an existing dump.rdb in the target");
  sub->callback(
      [&ctx, args] { ctx.action = [&ctx, args] { return RunRestoreRedis(ctx, *args); }; });
  return sub;
}

}  // namespace bulwark::cli

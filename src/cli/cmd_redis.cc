// `bulwark backup redis` and `bulwark restore redis` (subcommands hooked into the backup and
// restore commands by RegisterBackupRedis / RegisterRestoreRedis), `bulwark redis-stream` and
// `bulwark redis-status` (RegisterRedisStream).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
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
#include "sources/redis/restore_to.h"
#include "sources/redis/stream.h"

namespace bulwark::cli {

namespace {

// How to reach a Redis server: the URL, the password file and the TLS files.
struct RedisConnArgs {
  std::string url;
  std::string password_file;
  std::string ca_bundle;
  std::string cert;
  std::string key;
};

struct RedisBackupArgs : RedisConnArgs {
  std::string component;
  std::vector<std::string> tags;
  std::string host;
  int timeout = 60;
  size_t buffer_mib = 32;
  std::string spill_dir;
  bool full = false;
  double max_stream_percent = 50;
  int compression_level = 1;
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

// The Redis password: --redis-password-file, BULWARK_REDIS_PASSWORD, REDISCLI_AUTH, the
// config's [redis] password_file, or none.
Result<std::string> RedisPassword(const Context& ctx, const RedisConnArgs& args) {
  if (!args.password_file.empty()) return ReadPassphraseFile(args.password_file);
  for (const char* var : {"BULWARK_REDIS_PASSWORD", "REDISCLI_AUTH"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') return std::string(v);
  }
  if (!ctx.config.redis_password_file.empty()) {
    return ReadPassphraseFile(ctx.config.redis_password_file);
  }
  return std::string();
}

// A TLS file: the flag, else the environment variable, else the config's [redis] value.
std::string FlagEnvOrConfig(const std::string& flag, const char* var, const std::string& config) {
  if (!flag.empty()) return flag;
  if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  return config;
}

// The endpoint with its password and, for rediss://, the CA bundle and client certificate.
Result<sources::redis::RedisEndpoint> RedisEndpointFor(const Context& ctx,
                                                       const RedisConnArgs& args) {
  BW_ASSIGN_OR_RETURN(auto endpoint, sources::redis::ParseRedisUrl(args.url));
  auto password = RedisPassword(ctx, args);
  if (!password.ok()) return password.error().Wrap("Redis password file");
  endpoint.password = *password;
  // The config's TLS files serve rediss:// URLs; a plain one ignores them.
  const FileConfig none;
  const FileConfig& c = endpoint.tls ? ctx.config : none;
  endpoint.ca_bundle =
      FlagEnvOrConfig(args.ca_bundle, "BULWARK_REDIS_CA_BUNDLE", c.redis_ca_bundle);
  endpoint.cert_file = FlagEnvOrConfig(args.cert, "BULWARK_REDIS_CERT", c.redis_cert);
  endpoint.key_file = FlagEnvOrConfig(args.key, "BULWARK_REDIS_KEY", c.redis_key);
  if (!endpoint.tls && (!args.ca_bundle.empty() || !args.cert.empty() || !args.key.empty())) {
    return Error(ErrorCode::kUsage,
                 "--redis-ca-bundle, --redis-cert and --redis-key apply to rediss:// URLs only");
  }
  if (endpoint.cert_file.empty() != endpoint.key_file.empty()) {
    return Error(ErrorCode::kUsage,
                 "a TLS client certificate needs both --redis-cert and --redis-key "
                 "(BULWARK_REDIS_CERT, BULWARK_REDIS_KEY)");
  }
  for (const std::string* f : {&endpoint.ca_bundle, &endpoint.cert_file, &endpoint.key_file}) {
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0) {
      return Error(ErrorCode::kUsage, *f + " cannot be read");
    }
  }
  return endpoint;
}

// The connection flags shared by backup redis, redis-stream and restore redis --to.
void AddRedisConnOptions(CLI::App* sub, RedisConnArgs& args, bool url_required) {
  auto* url = sub->add_option(
      url_required ? "--url" : "--to", args.url,
      "redis://[user@]host:port[/db], rediss://... (TLS) or unix:///path/redis.sock (no "
      "password here)");
  if (url_required) url->required();
  sub->add_option("--redis-password-file", args.password_file,
                  "File holding the Redis password (or BULWARK_REDIS_PASSWORD, REDISCLI_AUTH)");
  sub->add_option("--redis-ca-bundle", args.ca_bundle,
                  "rediss://: PEM file of CA certificates to trust (or BULWARK_REDIS_CA_BUNDLE; "
                  "default: the system's)");
  sub->add_option("--redis-cert", args.cert,
                  "rediss://: client certificate (PEM) for tls-auth-clients (or "
                  "BULWARK_REDIS_CERT)");
  sub->add_option("--redis-key", args.key,
                  "rediss://: the client certificate's private key (or BULWARK_REDIS_KEY)");
}

int RunBackupRedis(Context& ctx, const RedisBackupArgs& args) {
  auto endpoint = RedisEndpointFor(ctx, args);
  if (!endpoint.ok()) return ReportError(endpoint.error(), "backup redis");

  auto repo = ctx.OpenRepository(args.component);
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
  options.full = args.full;
  options.writer.compression_level = args.compression_level;
  options.max_stream_ratio = args.max_stream_percent / 100;
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
  if (!res.full_reason.empty() && !args.full && !ctx.quiet()) {
    fmt::print(stderr, "backup redis: a full snapshot, not an incremental one: {}\n",
               res.full_reason);
  }
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
  } else if (res.incremental && !ctx.quiet()) {
    fmt::print(
        "snapshot {} saved ({}): incremental on {}, Redis {}, {} keys, stream to offset {} ({} "
        "new, {} since the full snapshot); {} added ({} stored) in {}\n",
        res.snapshot.id.ShortHex(), res.snapshot.component,
        res.snapshot.source.value("parent", std::string()).substr(0, 8),
        res.snapshot.source.value("redis_version", std::string("?")), res.rdb.keys,
        res.resync.offset, FormatBytes(res.stream_bytes_new), FormatBytes(res.stream_bytes_total),
        FormatBytes(res.bytes_added), FormatBytes(res.bytes_stored),
        FormatDuration(res.duration_seconds));
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

struct RedisRestoreArgs : RedisConnArgs {  // url: --to
  std::string snapshot;
  std::string target;
  std::string component;
  std::string time;
  bool force = false;
  int timeout = 60;
  size_t buffer_mib = 8;
};

// restore redis --to URL: replays the snapshot (and the stream up to --time) into a live server.
int RunRestoreRedisTo(Context& ctx, const RedisRestoreArgs& args, repo::Repository& r,
                      AuditScope& audit) {
  auto endpoint = RedisEndpointFor(ctx, args);
  if (!endpoint.ok()) return audit.Fail(r, endpoint.error(), "restore redis --to");
  sources::redis::RedisRestoreToOptions options;
  options.endpoint = *endpoint;
  options.timeout_seconds = args.timeout;
  options.force = args.force;
  options.component = args.component;
  options.batch_bytes = std::max<size_t>(args.buffer_mib, 1) << 20;
  std::optional<repo::Snapshot> base;
  if (!args.time.empty()) {
    auto t = repo::ParseTime(args.time);
    if (!t.ok()) return audit.Fail(r, t.error(), "--time");
    options.time_unix_ns = *t;
  }
  if (args.time.empty() || args.snapshot != "latest") {
    auto snap = ResolveSnapshot(r, args.snapshot, args.component);
    if (!snap.ok()) return audit.Fail(r, snap.error(), "restore redis");
    base = std::move(*snap);
  }
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "restore redis:", ctx.quiet());
  auto result = sources::redis::RestoreRedisTo(r, base, options);
  printer.Stop();
  if (!result.ok()) {
    return audit.Fail(r, result.error(), "restore redis --to " + endpoint->Display());
  }
  const auto& res = *result;
  audit.record().component = res.snapshot.component;
  audit.record().checksum = "sha256:" + res.snapshot.id.Hex();
  audit.record().backup_size = res.rdb.bytes;
  audit.record().details = {{"snapshot", res.snapshot.id.Hex()},
                            {"to", endpoint->Display()},
                            {"kind", "redis"},
                            {"keys", res.keys_restored},
                            {"force", args.force}};
  if (options.time_unix_ns) {
    audit.record().details["time"] = repo::FormatTimeRfc3339(*options.time_unix_ns);
    audit.record().details["stream_offset"] = res.to_offset;
  }
  Status audited = audit.Finish(r, "success");
  auto rfc = [](int64_t ns) { return ns > 0 ? repo::FormatTimeRfc3339(ns) : std::string(); };
  if (ctx.json()) {
    nlohmann::json j = {
        {"snapshot", res.snapshot.id.Hex()}, {"to", endpoint->Display()},
        {"rdb_bytes", res.rdb.bytes},        {"keys", res.keys_restored},
        {"functions", res.functions},        {"keys_existing", res.keys_existing},
        {"keys_after", res.keys_after},      {"duration_seconds", printer.ElapsedSeconds()}};
    if (options.time_unix_ns) {
      j["from_offset"] = res.from_offset;
      j["to_offset"] = res.to_offset;
      j["last_batch"] = rfc(res.last_batch_unix_ns);
      j["commands"] = res.commands;
      j["dropped_commands"] = res.dropped_commands;
    }
    PrintJson(j);
  } else if (!ctx.quiet()) {
    std::string stream;
    if (options.time_unix_ns) {
      stream = fmt::format(
          " and {} stream commands (offset {} to {}, last batch received {})", res.commands,
          res.from_offset, res.to_offset,
          res.last_batch_unix_ns > 0 ? FormatLocalTime(res.last_batch_unix_ns) : "none");
    }
    fmt::print("restored Redis snapshot {} ({} keys{}){} into {} in {}; it now holds {} keys\n",
               res.snapshot.id.ShortHex(), res.keys_restored,
               res.functions > 0 ? fmt::format(", {} function libraries", res.functions) : "",
               stream, endpoint->Display(), FormatDuration(printer.ElapsedSeconds()),
               res.keys_after);
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

// restore redis --time T, or of an incremental snapshot (`incremental`): the base dump.rdb and
// an AOF directory with the stream up to the time or the snapshot's offset.
int RunRestoreRedisAt(Context& ctx, const RedisRestoreArgs& args, repo::Repository& r,
                      AuditScope& audit, const std::optional<repo::Snapshot>& incremental) {
  sources::redis::RedisPitrOptions options;
  options.target = args.target;
  options.force = args.force;
  options.component = args.component;
  Progress progress;
  options.progress = &progress;
  std::string what = "restore redis --time " + args.time;
  Result<sources::redis::RedisPitrResult> result = Error(ErrorCode::kFailure, "not run");
  ProgressPrinter printer(progress, "restore redis:", ctx.quiet());
  if (incremental) {
    what = "restore redis " + incremental->id.ShortHex();
    auto plan = sources::redis::PlanRedisIncremental(r, *incremental);
    result = plan.ok() ? sources::redis::RestoreRedisPlan(r, *plan, options)
                       : Result<sources::redis::RedisPitrResult>(plan.error());
  } else {
    auto t = repo::ParseTime(args.time);
    if (!t.ok()) return audit.Fail(r, t.error(), "--time");
    options.time_unix_ns = *t;
    std::optional<repo::Snapshot> base;
    if (args.snapshot != "latest") {
      auto snap = ResolveSnapshot(r, args.snapshot, args.component);
      if (!snap.ok()) return audit.Fail(r, snap.error(), "restore redis");
      base = std::move(*snap);
    }
    result = sources::redis::RestoreRedisAt(r, base, options);
  }
  printer.Stop();
  if (!result.ok()) return audit.Fail(r, result.error(), what);
  const auto& res = *result;
  audit.record().component = res.snapshot.component;
  audit.record().checksum = "sha256:" + res.snapshot.id.Hex();
  audit.record().backup_size = res.rdb.bytes;
  audit.record().details = {{"snapshot", res.snapshot.id.Hex()},
                            {"target", args.target},
                            {"kind", "redis"},
                            {"stream_offset", res.to_offset}};
  if (incremental) {
    audit.record().details["incremental"] = true;
  } else {
    audit.record().details["time"] = repo::FormatTimeRfc3339(options.time_unix_ns);
  }
  Status audited = audit.Finish(r, "success");
  if (ctx.json()) {
    PrintJson(
        {{"snapshot", res.snapshot.id.Hex()},
         {"aof_dir", res.aof_dir},
         {"rdb_bytes", res.rdb.bytes},
         {"keys", res.rdb.keys},
         {"incremental", incremental.has_value()},
         {"from_offset", res.from_offset},
         {"to_offset", res.to_offset},
         {"last_batch", res.last_batch_unix_ns > 0 ? repo::FormatTimeRfc3339(res.last_batch_unix_ns)
                                                   : std::string()},
         {"commands", res.commands},
         {"dropped_commands", res.dropped_commands},
         {"duration_seconds", printer.ElapsedSeconds()}});
  } else if (incremental && !ctx.quiet()) {
    fmt::print(
        "restored incremental Redis snapshot {} ({} keys): the dump.rdb of its full snapshot and "
        "{} stream commands (offset {} to {}) to {}; start it with `redis-server --dir {} "
        "--appendonly yes`\n",
        res.snapshot.id.ShortHex(), res.snapshot.source.value("keys", uint64_t{0}), res.commands,
        res.from_offset, res.to_offset, res.aof_dir, args.target);
  } else if (!ctx.quiet()) {
    fmt::print(
        "restored Redis snapshot {} ({} keys) and {} stream commands (offset {} to {}, last "
        "batch received {}) to {}; start it with `redis-server --dir {} --appendonly yes`\n",
        res.snapshot.id.ShortHex(), res.rdb.keys, res.commands, res.from_offset, res.to_offset,
        res.last_batch_unix_ns > 0 ? FormatLocalTime(res.last_batch_unix_ns) : "none", res.aof_dir,
        args.target);
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

int RunRestoreRedis(Context& ctx, const RedisRestoreArgs& args) {
  if (args.target.empty() == args.url.empty()) {
    return ReportError(Error(ErrorCode::kUsage,
                             "give either --target DIR (write dump.rdb) or --to URL (replay into "
                             "a live Redis server)"),
                       "restore redis");
  }
  auto repo = ctx.OpenRepositoryForReading();
  if (!repo.ok()) return ReportError(repo.error(), "restore redis");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "restore", args.component);
  audit.record().storage_location = r.backend().Location();
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");
  if (!args.url.empty()) return RunRestoreRedisTo(ctx, args, r, audit);
  if (!args.time.empty()) return RunRestoreRedisAt(ctx, args, r, audit, std::nullopt);
  auto snap = ResolveSnapshot(r, args.snapshot, args.component);
  if (!snap.ok()) return audit.Fail(r, snap.error(), "restore redis");
  if (sources::redis::IsIncrementalRedisSnapshot(*snap)) {
    return RunRestoreRedisAt(ctx, args, r, audit, *snap);
  }
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
  AddRedisConnOptions(sub, *args, true);
  sub->add_option("--timeout", args->timeout, "Seconds of server silence before giving up");
  sub->add_option("--buffer-mib", args->buffer_mib,
                  "MiB of received RDB held in memory while the repository catches up; the "
                  "rest waits in a temporary file (default 32)");
  sub->add_option("--spill-dir", args->spill_dir,
                  "Directory of that unlinked temporary file (default $TMPDIR, else /var/tmp)");
  sub->add_option("--tag", args->tags, "Tag for the snapshot (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--host", args->host, "Host name recorded in the snapshot (default: this host)");
  sub->add_flag("--full", args->full,
                "A full snapshot (the RDB) even when the last one can be continued from the "
                "server's replication backlog");
  sub->add_option("--compression-level", args->compression_level,
                  "zstd level of this snapshot's data (default 1, not the repository's: RDB "
                  "strings are LZF-compressed already)")
      ->check(CLI::Range(-7, 22));
  sub->add_option("--max-stream-percent", args->max_stream_percent,
                  "A full snapshot once the stream kept since the last one exceeds this share of "
                  "its RDB (default 50)")
      ->check(CLI::Range(0.0, 10000.0));
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunBackupRedis(ctx, *args); }; });
}

CLI::App* RegisterRestoreRedis(CLI::App* restore, Context& ctx) {
  auto args = std::make_shared<RedisRestoreArgs>();
  CLI::App* sub = restore->add_subcommand(
      "redis", "Restore a Redis snapshot as dump.rdb into a directory, or into a live server");
  sub->add_option("SNAPSHOT", args->snapshot, "Snapshot ID (or unique prefix) or \"latest\"")
      ->required();
  sub->add_option("-t,--target", args->target, "Directory to write dump.rdb into");
  AddRedisConnOptions(sub, *args, false);
  sub->add_option("--timeout", args->timeout, "--to: seconds to wait for the server");
  sub->add_option("--buffer-mib", args->buffer_mib,
                  "--to: MiB of commands sent ahead of their replies (default 8)");
  sub->add_option("--component", args->component, "With \"latest\": the latest of this component");
  sub->add_flag("--force", args->force,
                "Replace an existing dump.rdb in the target; with --to, restore into a server "
                "that holds keys (the snapshot's keys replace those of the same name)");
  sub->add_option("--time", args->time,
                  "Point in time, e.g. \"2026-11-24 10:15:00.250+00\": also write appendonlydir/ "
                  "(base RDB + the captured stream up to then) for `redis-server --appendonly "
                  "yes`; with latest, picks the snapshot whose stream covers it");
  sub->callback(
      [&ctx, args] { ctx.action = [&ctx, args] { return RunRestoreRedis(ctx, *args); }; });
  return sub;
}

namespace {

struct RedisStreamArgs {
  RedisBackupArgs backup;
  int flush_ms = 500;
  int64_t snapshot_every = 900;
};

int RunRedisStream(Context& ctx, const RedisStreamArgs& args) {
  auto endpoint = RedisEndpointFor(ctx, args.backup);
  if (!endpoint.ok()) return ReportError(endpoint.error(), "redis-stream");
  auto repo = ctx.OpenRepository(args.backup.component);
  if (!repo.ok()) return ReportError(repo.error(), "redis-stream");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "backup", args.backup.component);
  audit.record().details["kind"] = "redis-stream";
  audit.record().details["endpoint"] = endpoint->Display();
  if (Status st = r.LoadIndex(); !st.ok()) return audit.Fail(r, st.error(), "loading the index");

  sources::redis::RedisStreamOptions options;
  options.backup.endpoint = *endpoint;
  options.backup.component = args.backup.component;
  options.backup.tags = args.backup.tags;
  options.backup.hostname = args.backup.host;
  options.backup.timeout_seconds = args.backup.timeout;
  options.backup.max_buffered_bytes = std::max<size_t>(args.backup.buffer_mib, 1) << 20;
  options.backup.spill_dir = SpillDir(args.backup);
  options.flush_interval_ms = std::max(args.flush_ms, 10);
  options.snapshot_interval_seconds = std::max<int64_t>(args.snapshot_every, 0);
  if (!ctx.quiet()) {
    options.log = [](const std::string& line) {
      std::fprintf(stderr, "bulwark: redis-stream: %s\n", line.c_str());
    };
  }
  auto result = sources::redis::StreamRedis(r, options);
  if (!result.ok()) return audit.Fail(r, result.error(), "redis-stream " + endpoint->Display());
  const auto& res = *result;
  audit.record().details["snapshots"] = res.snapshots;
  audit.record().details["segments"] = res.segments;
  audit.record().details["stream_bytes"] = res.bytes;
  audit.record().details["replid"] = res.replid;
  audit.record().details["offset"] = res.offset;
  Status audited = audit.Finish(r, "success");
  if (ctx.json()) {
    PrintJson({{"component", args.backup.component},
               {"snapshots", res.snapshots},
               {"segments", res.segments},
               {"stream_bytes", res.bytes},
               {"continues", res.continues},
               {"full_resyncs", res.full_resyncs},
               {"replid", res.replid},
               {"offset", res.offset}});
  } else if (!ctx.quiet()) {
    fmt::print(
        "redis-stream stopped ({}): {} snapshots, {} segments ({} of stream), {} resumed with "
        "+CONTINUE, {} full resyncs; stored up to offset {} of {}\n",
        args.backup.component, res.snapshots, res.segments, FormatBytes(res.bytes), res.continues,
        res.full_resyncs, res.offset, res.replid);
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

int RunRedisStatus(Context& ctx, const std::string& component) {
  auto repo = ctx.OpenRepositoryForReading();
  if (!repo.ok()) return ReportError(repo.error(), "redis-status");
  auto st = sources::redis::GetRedisStreamStatus(**repo, component);
  if (!st.ok()) return ReportError(st.error(), "redis-status");
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t newest = std::max(st->last_batch_unix_ns, st->last_snapshot_unix_ns);
  const double lag = newest > 0 ? (now - newest) / 1e9 : -1;
  auto rfc = [](int64_t ns) { return ns > 0 ? repo::FormatTimeRfc3339(ns) : std::string(); };
  if (ctx.json()) {
    PrintJson({{"component", component},
               {"last_snapshot", st->last_snapshot_id},
               {"last_snapshot_time", rfc(st->last_snapshot_unix_ns)},
               {"last_batch_time", rfc(st->last_batch_unix_ns)},
               {"lag_seconds", lag},
               {"replid", st->replid},
               {"offset", st->offset},
               {"segments", st->segments},
               {"stream_bytes", st->stream_bytes}});
    return 0;
  }
  if (!st->has_snapshot) {
    fmt::print("component {}: no Redis snapshot\n", component);
    return 0;
  }
  fmt::print("component {}: last snapshot {} at {}\n", component, st->last_snapshot_id.substr(0, 8),
             FormatLocalTime(st->last_snapshot_unix_ns));
  if (st->last_batch_unix_ns > 0) {
    fmt::print("last captured batch at {}; {} segments ({})\n",
               FormatLocalTime(st->last_batch_unix_ns), st->segments,
               FormatBytes(st->stream_bytes));
  } else {
    fmt::print("no replication stream captured (run `bulwark redis-stream`)\n");
  }
  fmt::print("lag now (RPO): {}; replid {} offset {}\n", FormatDuration(lag), st->replid,
             st->offset);
  return 0;
}

}  // namespace

void RegisterRedisStream(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<RedisStreamArgs>();
  CLI::App* sub = app.add_subcommand(
      "redis-stream",
      "Snapshot a Redis server, then keep its replication stream as time-indexed segments for "
      "point-in-time restore (runs until SIGINT/SIGTERM)");
  RedisBackupArgs& b = args->backup;
  sub->add_option("--component", b.component, "Component name")->required();
  AddRedisConnOptions(sub, b, true);
  sub->add_option("--timeout", b.timeout, "Seconds of server silence before reconnecting");
  sub->add_option("--buffer-mib", b.buffer_mib, "As for backup redis (default 32)");
  sub->add_option("--spill-dir", b.spill_dir, "As for backup redis");
  sub->add_option("--tag", b.tags, "Tag for the snapshots (repeatable)")->allow_extra_args(false);
  sub->add_option("--host", b.host, "Host name recorded in the snapshots (default: this host)");
  sub->add_option("--flush-ms", args->flush_ms,
                  "Milliseconds between stored segments and REPLCONF ACKs while commands arrive "
                  "(default 500)");
  sub->add_option("--snapshot-every", args->snapshot_every,
                  "Seconds between fresh snapshots, taken while the stream goes on (default 900; "
                  "0: only when the primary cannot continue the stream)");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunRedisStream(ctx, *args); }; });

  auto component = std::make_shared<std::string>();
  CLI::App* status = app.add_subcommand(
      "redis-status", "Last Redis snapshot, last captured stream batch and the lag (RPO now)");
  status->add_option("--component", *component, "Component name")->required();
  status->callback([&ctx, component] {
    ctx.action = [&ctx, component] { return RunRedisStatus(ctx, *component); };
  });
}

}  // namespace bulwark::cli

// `bulwark forget --keep-*`: removes snapshots a retention policy does not keep; with --prune
// also reclaims their data.
#include <fmt/format.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/prune_util.h"
#include "policy/forget.h"
#include "repo/redis_stream_store.h"
#include "repo/snapshot.h"
#include "sources/postgres/backup.h"
#include "sources/postgres/wal_archive.h"

namespace bulwark::cli {

namespace {

struct ForgetArgs {
  std::string component;
  std::string host;
  int keep_last = 0, keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0,
      keep_yearly = 0;
  std::string keep_within;
  std::vector<std::string> keep_tags;
  bool prune = false;
  bool dry_run = false;
};

int RunForget(Context& ctx, const ForgetArgs& args) {
  policy::ForgetOptions options;
  options.component = args.component;
  options.hostname = args.host;
  options.dry_run = args.dry_run;
  auto& p = options.policy;
  p.keep_last = args.keep_last;
  p.keep_hourly = args.keep_hourly;
  p.keep_daily = args.keep_daily;
  p.keep_weekly = args.keep_weekly;
  p.keep_monthly = args.keep_monthly;
  p.keep_yearly = args.keep_yearly;
  p.keep_tags = args.keep_tags;
  if (!args.keep_within.empty()) {
    auto d = policy::ParseDuration(args.keep_within);
    if (!d.ok()) return ReportError(d.error(), "forget --keep-within");
    p.keep_within = *d;
  }
  if (p.Empty()) {
    return ReportError(Error(ErrorCode::kUsage, "no retention rule given"), "forget",
                       "use --keep-last, --keep-daily, ... or --keep-within");
  }
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "forget");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "forget", args.component);
  audit.record().details["policy"] = p.ToString();
  audit.record().details["dry_run"] = args.dry_run;
  auto report = policy::Forget(r, options);
  if (!report.ok()) return audit.Fail(r, report.error(), "forget");
  const auto& rep = *report;
  std::vector<std::string> removed;
  for (const auto& id : rep.removed) removed.push_back(id.Hex());
  audit.record().details["removed"] = removed;
  // Archived PostgreSQL WAL older than what the remaining backups of a component need goes too.
  const std::set<std::string> forgotten(removed.begin(), removed.end());
  std::set<std::string> pg_components;
  for (const auto& g : rep.groups) {
    for (const auto& d : g.decisions) {
      if (d.snapshot.kind == sources::postgres::kSnapshotKind) pg_components.insert(g.component);
    }
  }
  nlohmann::json wal_removed = nlohmann::json::object();
  std::vector<std::string> wal_lines;
  for (const auto& c : pg_components) {
    auto exp = sources::postgres::ExpireWal(r, c, forgotten, args.dry_run);
    if (!exp.ok()) return audit.Fail(r, exp.error(), "forget: expiring the WAL of " + c);
    if (exp->removed.empty()) continue;
    wal_removed[c] = exp->removed.size();
    wal_lines.push_back(fmt::format("{} {} archived WAL file{} of component {} (kept from {})",
                                    rep.dry_run ? "would remove" : "removed", exp->removed.size(),
                                    exp->removed.size() == 1 ? "" : "s", c, exp->keep_from));
  }
  audit.record().details["wal_removed"] = wal_removed;
  // Redis stream segments go with the snapshot they continue (and orphans of earlier runs).
  std::set<Id> forgotten_ids(rep.removed.begin(), rep.removed.end());
  auto stream = repo::ExpireRedisStream(r, args.component, forgotten_ids, args.dry_run);
  if (!stream.ok()) return audit.Fail(r, stream.error(), "forget: expiring Redis stream segments");
  audit.record().details["redis_stream_removed"] = stream->removed;
  audit.record().details["kept"] = rep.kept;
  Status audited = audit.Finish(r, "success");

  if (ctx.json()) {
    nlohmann::json j = policy::ForgetReportToJson(rep);
    j["wal_removed"] = wal_removed;
    j["redis_stream_removed"] = stream->removed;
    if (stream->locked.objects) j["redis_stream_locked"] = stream->locked.ToJson();
    PrintJson(j);
  } else if (!ctx.quiet()) {
    fmt::print("policy: {}\n", p.ToString());
    for (const auto& g : rep.groups) {
      fmt::print("\ncomponent {} on host {}: keep {}, remove {}\n", g.component, g.hostname,
                 g.KeptCount(), g.RemovedCount());
      std::vector<std::vector<std::string>> rows;
      for (const auto& d : g.decisions) {
        std::string reasons;
        for (const auto& why : d.reasons) reasons += (reasons.empty() ? "" : ", ") + why;
        rows.push_back({d.snapshot.id.ShortHex(), FormatLocalTime(d.snapshot.time_unix_ns),
                        d.keep ? "keep" : "remove", reasons});
      }
      PrintTable({"ID", "Time", "Action", "Reasons"}, rows);
    }
    fmt::print("\n{} {} snapshot{}, kept {}\n", rep.dry_run ? "would remove" : "removed",
               rep.removed.size(), rep.removed.size() == 1 ? "" : "s", rep.kept);
    for (const auto& [id, until] : rep.locked) {
      fmt::print("snapshot {} is under object lock: kept, deletable from {}\n", id.ShortHex(),
                 repo::FormatUnlockTime(until));
    }
    if (!rep.locked.empty()) fmt::print("{}\n", rep.locked_tally.Message("snapshot", "snapshots"));
    for (const auto& line : wal_lines) fmt::print("{}\n", line);
    if (stream->removed) {
      fmt::print("{} {} Redis stream segment{} of forgotten snapshots\n",
                 rep.dry_run ? "would remove" : "removed", stream->removed,
                 stream->removed == 1 ? "" : "s");
    }
    if (stream->locked.objects) {
      fmt::print("{}\n", stream->locked.Message("Redis stream segment", "Redis stream segments"));
    }
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  if (args.prune && !args.dry_run) {
    repo::PruneOptions prune;
    return RunPruneOn(ctx, r, prune);
  }
  return 0;
}

}  // namespace

void RegisterForget(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ForgetArgs>();
  CLI::App* sub = app.add_subcommand("forget", "Remove snapshots according to a retention policy");
  sub->add_option("--component", args->component, "Only snapshots of this component");
  sub->add_option("--host", args->host, "Only snapshots of this host");
  const char* unlimited = " (-1: unlimited)";
  sub->add_option("--keep-last", args->keep_last,
                  std::string("Keep the N most recent snapshots") + unlimited);
  sub->add_option("--keep-hourly", args->keep_hourly,
                  std::string("Keep the last snapshot of each of the N latest hours") + unlimited);
  sub->add_option("--keep-daily", args->keep_daily,
                  std::string("Keep the last snapshot of each of the N latest days") + unlimited);
  sub->add_option("--keep-weekly", args->keep_weekly,
                  std::string("Keep the last snapshot of each of the N latest weeks") + unlimited);
  sub->add_option("--keep-monthly", args->keep_monthly,
                  std::string("Keep the last snapshot of each of the N latest months") + unlimited);
  sub->add_option("--keep-yearly", args->keep_yearly,
                  std::string("Keep the last snapshot of each of the N latest years") + unlimited);
  sub->add_option("--keep-within", args->keep_within,
                  "Keep snapshots newer than DURATION before the latest (e.g. 90d, 1y2m, 12h)");
  sub->add_option("--keep-tag", args->keep_tags, "Keep snapshots with this tag (repeatable)")
      ->allow_extra_args(false);
  sub->add_flag("--prune", args->prune, "Run prune afterwards to reclaim space");
  sub->add_flag("-n,--dry-run", args->dry_run, "Only report what would be removed");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunForget(ctx, *args); }; });
}

}  // namespace bulwark::cli

// `bulwark check [--read-data | --read-data-subset N%]`: verifies the repository; exit 4 when
// damage is found, naming the affected snapshots and files.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cli/audit_hook.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/progress_printer.h"
#include "repo/check.h"
#include "repo/snapshot.h"
#include "sources/postgres/wal_archive.h"
#include "sources/redis/stream_check.h"

namespace bulwark::cli {

namespace {

struct CheckArgs {
  bool read_data = false;
  std::string subset;
  uint64_t seed = 0;
  bool have_seed = false;
};

int RunCheck(Context& ctx, const CheckArgs& args) {
  repo::CheckOptions options;
  if (!args.subset.empty()) {
    auto pct = repo::ParseSubsetPercent(args.subset);
    if (!pct.ok()) return ReportError(pct.error(), "check --read-data-subset");
    options.read_data = true;
    options.read_data_percent = *pct;
  } else {
    options.read_data = args.read_data;
  }
  if (args.have_seed) options.subset_seed = args.seed;
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "check");
  repo::Repository& r = **repo;
  AuditScope audit(ctx, "check");
  audit.record().details["read_data"] = options.read_data;
  if (options.read_data) audit.record().details["read_data_percent"] = options.read_data_percent;
  Progress progress;
  options.progress = &progress;
  ProgressPrinter printer(progress, "check: packs", ctx.quiet());
  auto report = repo::Check(r, options);
  printer.Stop();
  if (!report.ok()) return audit.Fail(r, report.error(), "check");
  const auto& rep = *report;
  const auto& c = rep.counters;
  // Continuity and data of the archived PostgreSQL WAL (when the repository itself is sound).
  std::vector<std::string> data_problems;
  nlohmann::json wal = nlohmann::json::array();
  if (rep.ok()) {
    Status loaded = r.LoadIndex();
    auto wal_check = loaded.ok()
                         ? sources::postgres::CheckWalArchive(r)
                         : Result<std::vector<sources::postgres::WalCheckResult>>(loaded.error());
    if (!wal_check.ok()) {
      data_problems.push_back("WAL archive: " + wal_check.error().message());
    } else {
      for (const auto& w : *wal_check) {
        wal.push_back({{"component", w.component},
                       {"from", w.from},
                       {"to", w.to},
                       {"files", w.files},
                       {"problems", w.problems}});
        data_problems.insert(data_problems.end(), w.problems.begin(), w.problems.end());
      }
    }
  }
  // The captured Redis streams and incremental Redis snapshots (likewise).
  nlohmann::json redis = nlohmann::json::array();
  if (rep.ok()) {
    auto redis_check = sources::redis::CheckRedisData(r, options.read_data);
    if (!redis_check.ok()) {
      data_problems.push_back("Redis data: " + redis_check.error().message());
    } else {
      for (const auto& c : *redis_check) {
        redis.push_back({{"component", c.component},
                         {"snapshots", c.snapshots},
                         {"incremental", c.incremental},
                         {"segments", c.segments},
                         {"stream_bytes", c.stream_bytes},
                         {"bytes_read", c.bytes_read},
                         {"problems", c.problems}});
        data_problems.insert(data_problems.end(), c.problems.begin(), c.problems.end());
      }
    }
  }
  const bool ok = rep.ok() && data_problems.empty();
  audit.record().validated = ok;
  audit.record().validation_timestamp =
      repo::FormatTimeRfc3339(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
  audit.record().backup_size = c.bytes_read;
  audit.record().details["errors"] = rep.errors.size() + data_problems.size();
  audit.record().details["affected_snapshots"] = rep.affected.size();
  audit.record().details["snapshots"] = c.snapshots;
  audit.record().details["packs"] = c.packs;
  Status audited = audit.Finish(r, ok ? "success" : "failure");

  if (ctx.json()) {
    nlohmann::json j = repo::CheckReportToJson(rep);
    j["wal"] = wal;
    j["redis"] = redis;
    if (!data_problems.empty()) j["ok"] = false;
    PrintJson(j);
  } else {
    for (const auto& e : rep.errors) fmt::print("error: {}\n", e);
    for (const auto& e : data_problems) fmt::print("error: {}\n", e);
    for (const auto& line : rep.DamageLines()) fmt::print("damaged: {}\n", line);
    if (!ctx.quiet()) {
      for (const auto& w : rep.warnings) fmt::print("warning: {}\n", w);
      std::string data;
      if (rep.read_data) {
        data = fmt::format(
            ", read {} pack{} ({}{}), {} blobs verified", c.packs_read,
            c.packs_read == 1 ? "" : "s", FormatBytes(c.bytes_read),
            rep.read_data_percent < 100
                ? fmt::format(", {}% subset, seed {}", rep.read_data_percent, rep.subset_seed)
                : "",
            c.blobs_verified);
      }
      fmt::print("checked {} snapshots, {} trees, {} index files, {} packs, {} blobs{}: {}\n",
                 c.snapshots, c.trees, c.index_files, c.packs, c.blobs, data,
                 rep.ok() ? "no errors found" : fmt::format("{} errors", rep.errors.size()));
      for (const auto& w : wal) {
        fmt::print("WAL of component {}: {} files, {} .. {}: {}\n",
                   w["component"].get<std::string>(), w["files"].get<size_t>(),
                   w["from"].get<std::string>(), w["to"].get<std::string>(),
                   w["problems"].empty() ? "continuous" : "problems found");
      }
      for (const auto& c : redis) {
        fmt::print(
            "Redis data of component {}: {} snapshots ({} incremental), {} stream "
            "segments ({}){}: {}\n",
            c["component"].get<std::string>(), c["snapshots"].get<uint64_t>(),
            c["incremental"].get<uint64_t>(), c["segments"].get<uint64_t>(),
            FormatBytes(c["stream_bytes"].get<uint64_t>()),
            options.read_data ? ", commands parsed" : "",
            c["problems"].empty() ? "consistent" : "problems found");
      }
    }
  }
  if (rep.ok() && !data_problems.empty()) {
    PrintWarning(fmt::format("check: {} problem{} in the archived WAL or Redis data",
                             data_problems.size(), data_problems.size() == 1 ? "" : "s"));
    return 4;
  }
  if (!rep.ok()) {
    PrintWarning(fmt::format("check: {} integrity problem{} found, {} snapshot{} affected",
                             rep.errors.size(), rep.errors.size() == 1 ? "" : "s",
                             rep.affected.size(), rep.affected.size() == 1 ? "" : "s"));
    return 4;
  }
  if (!audited.ok()) return ExitCodeFor(audited.error().code());
  return 0;
}

}  // namespace

void RegisterCheck(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* sub = app.add_subcommand("check", "Verify the repository's structure and data");
  auto* rd = sub->add_flag("--read-data", args->read_data, "Download and verify all packs");
  auto* subset = sub->add_option("--read-data-subset", args->subset,
                                 "Download and verify this share of the packs, e.g. 10%");
  rd->excludes(subset);
  sub->add_option("--subset-seed", args->seed, "Seed choosing the subset (reproducible runs)")
      ->each([args](const std::string&) { args->have_seed = true; });
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunCheck(ctx, *args); }; });
}

}  // namespace bulwark::cli

#include "policy/forget.h"

#include <fmt/format.h>

#include <chrono>

#include "repo/lock.h"
#include "repo/snapshot.h"

namespace bulwark::policy {
namespace {

Status ValidateCounts(const RetentionPolicy& p) {
  const std::pair<const char*, int> counts[] = {
      {"keep-last", p.keep_last},       {"keep-hourly", p.keep_hourly},
      {"keep-daily", p.keep_daily},     {"keep-weekly", p.keep_weekly},
      {"keep-monthly", p.keep_monthly}, {"keep-yearly", p.keep_yearly},
  };
  for (const auto& [name, n] : counts) {
    if (n < -1)
      return Error(ErrorCode::kUsage,
                   fmt::format("--{} {}: expected a count >= 0, or -1 for unlimited", name, n));
  }
  return Status::Ok();
}

}  // namespace

Result<ForgetReport> Forget(repo::Repository& repo, const ForgetOptions& options) {
  if (options.policy.Empty()) {
    return Error(ErrorCode::kUsage,
                 "no retention rule given (e.g. --keep-last 7 or --keep-within 90d); refusing to "
                 "forget every snapshot");
  }
  BW_RETURN_IF_ERROR(ValidateCounts(options.policy));

  std::unique_ptr<repo::RepoLock> lock;
  if (options.take_lock && !options.dry_run) {
    BW_ASSIGN_OR_RETURN(lock, repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "forget"));
  }

  BW_ASSIGN_OR_RETURN(auto all, repo::LoadAllSnapshots(repo));
  std::vector<repo::Snapshot> selected;
  for (auto& s : all) {
    if (!options.component.empty() && s.component != options.component) continue;
    if (!options.hostname.empty() && s.hostname != options.hostname) continue;
    selected.push_back(std::move(s));
  }

  ForgetReport report;
  report.dry_run = options.dry_run;
  report.groups = ApplyRetention(selected, options.policy);
  for (const auto& g : report.groups) {
    for (const auto& d : g.decisions) {
      if (d.keep) {
        ++report.kept;
      } else {
        report.removed.push_back(d.snapshot.id);
      }
    }
  }
  // Object lock: the server would refuse to delete a snapshot still under retention (or, on
  // a plain DELETE, only hide it), so ask it (HEAD) and keep those.
  if (const auto& ol = repo.config().object_lock; ol.enabled() && !report.removed.empty()) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::vector<Id> deletable;
    for (const auto& id : report.removed) {
      auto info = repo.backend().Stat(repo::ObjectPrefix(repo::ObjectKind::kSnapshot) + id.Hex());
      if (!info.ok())
        return info.error().Wrap("checking the retention of snapshot " + id.ShortHex());
      int64_t until = repo::RetainUntil(ol, *info, /*margin_seconds=*/60);
      if (until > now) {
        report.locked.emplace_back(id, until);
        report.locked_tally.Add(info->size, until);
      } else {
        deletable.push_back(id);
      }
    }
    report.kept += report.locked.size();
    report.removed = std::move(deletable);
  }
  if (options.dry_run) return report;

  for (const auto& id : report.removed) {
    if (lock && !lock->StillValid()) {
      return Error(ErrorCode::kLocked, "lost the repository lock while forgetting snapshots");
    }
    Status st = repo.RemoveObject(repo::ObjectKind::kSnapshot, id);
    if (!st.ok()) return st.error().Wrap(fmt::format("removing snapshot {}", id.ShortHex()));
  }
  if (lock) BW_RETURN_IF_ERROR(lock->Release());
  return report;
}

nlohmann::json ForgetReportToJson(const ForgetReport& report) {
  nlohmann::json j;
  j["dry_run"] = report.dry_run;
  j["kept"] = report.kept;
  auto removed = nlohmann::json::array();
  for (const auto& id : report.removed) removed.push_back(id.Hex());
  j["removed"] = removed;
  auto groups = nlohmann::json::array();
  for (const auto& g : report.groups) {
    nlohmann::json jg;
    jg["component"] = g.component;
    jg["hostname"] = g.hostname;
    auto snaps = nlohmann::json::array();
    for (const auto& d : g.decisions) {
      snaps.push_back({{"id", d.snapshot.id.Hex()},
                       {"time", repo::FormatTimeRfc3339(d.snapshot.time_unix_ns)},
                       {"tags", d.snapshot.tags},
                       {"keep", d.keep},
                       {"reasons", d.reasons}});
    }
    jg["snapshots"] = snaps;
    groups.push_back(jg);
  }
  j["groups"] = groups;
  if (!report.locked.empty()) {
    auto locked = nlohmann::json::array();
    for (const auto& [id, until] : report.locked) {
      locked.push_back({{"id", id.Hex()}, {"deletable", repo::FormatUnlockTime(until)}});
    }
    j["locked"] = locked;
  }
  return j;
}

}  // namespace bulwark::policy

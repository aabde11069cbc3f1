// Forget: applies a RetentionPolicy to a repository's snapshots (optionally one component) and
// removes the snapshot objects it does not keep. The data they referenced stays until prune.
// Takes a shared repository lock (never waits for backups or prune). Call from one thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "policy/retention.h"
#include "repo/repository.h"

namespace bulwark::policy {

struct ForgetOptions {
  RetentionPolicy policy;
  std::string component;  // empty = every component
  std::string hostname;   // empty = every host
  bool dry_run = false;   // decide and report, remove nothing
  bool take_lock = true;  // false when the caller already holds a lock
};

struct ForgetReport {
  bool dry_run = false;
  std::vector<RetentionGroup> groups;
  std::vector<Id> removed;  // snapshot IDs removed (or that would be, in a dry run)
  size_t kept = 0;
  // Object lock: snapshots the policy would remove that are still under retention. They
  // stay (they are not in `removed`); a later forget removes them once deletable.
  std::vector<std::pair<Id, int64_t>> locked;  // id, deletable from (Unix seconds)
  repo::LockedTally locked_tally;
};

// kUsage if the policy is empty. Errors removing a snapshot stop the run and are returned
// (snapshots removed before that stay removed; a re-run finishes the job).
Result<ForgetReport> Forget(repo::Repository& repo, const ForgetOptions& options);

// {"dry_run":..,"kept":N,"removed":[ids],"groups":[{"component","hostname","snapshots":[{"id",
// "time","keep","reasons":[..]}]}],"locked":[{"id","deletable"}]} (locked: with object lock)
nlohmann::json ForgetReportToJson(const ForgetReport& report);

}  // namespace bulwark::policy

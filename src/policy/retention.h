// Retention rules (restic-style keep-last/-hourly/-daily/-weekly/-monthly/-yearly, keep-within,
// keep-tag) and the pure function that decides which snapshots a policy keeps. Snapshots are
// grouped by component, then host; each group is evaluated on its own. Pure functions and
// value types: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "repo/snapshot.h"

namespace bulwark::policy {

// A calendar duration such as "90d", "12h", "2w", "1y2m" (y = years, m = months, w = weeks,
// d = days, h = hours). Months and years are calendar units; the day of month is clamped to
// the target month (March 31 minus "1m" is February 28 or 29), all in UTC.
struct Duration {
  int years = 0;
  int months = 0;
  int days = 0;  // weeks are folded into days
  int hours = 0;

  bool IsZero() const { return years == 0 && months == 0 && days == 0 && hours == 0; }
  std::string ToString() const;  // canonical form, e.g. "1y2m14d"
  bool operator==(const Duration&) const = default;
};

// kUsage on anything but a sequence of <positive integer><unit> with each unit at most once.
Result<Duration> ParseDuration(std::string_view text);

// `t` (unix ns, UTC) minus `d` in calendar arithmetic.
int64_t SubtractDuration(int64_t t_unix_ns, const Duration& d);

// A count of -1 means "unlimited" (keep one per bucket for every bucket); 0 disables the rule.
struct RetentionPolicy {
  int keep_last = 0;
  int keep_hourly = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  int keep_yearly = 0;
  Duration keep_within;                // zero = disabled; relative to the group's newest snapshot
  std::vector<std::string> keep_tags;  // keep snapshots carrying any of these tags

  // True when no rule is set (forget refuses an empty policy rather than removing everything).
  bool Empty() const;
  std::string ToString() const;  // e.g. "keep-last 3, keep-daily 7, keep-within 90d"
};

struct SnapshotDecision {
  repo::Snapshot snapshot;
  bool keep = false;
  std::vector<std::string> reasons;  // e.g. "last snapshot", "daily snapshot", "within 90d"
};

// One group (component, host), newest snapshot first.
struct RetentionGroup {
  std::string component;
  std::string hostname;
  std::vector<SnapshotDecision> decisions;

  size_t KeptCount() const;
  size_t RemovedCount() const { return decisions.size() - KeptCount(); }
};

// Decides every snapshot. Groups are ordered by (component, host); inside a group snapshots
// are ordered newest first (ties broken by ID), which is also the evaluation order: for a
// bucketed rule with count N, the newest snapshot of each of the N newest distinct buckets
// is kept. Buckets are computed in UTC: hour, day, ISO week (Monday start), month, year.
std::vector<RetentionGroup> ApplyRetention(const std::vector<repo::Snapshot>& snapshots,
                                           const RetentionPolicy& policy);

}  // namespace bulwark::policy

// Object lock (WORM) settings of a repository, as stored in its config: the retention mode and
// period every object is written with, and the helpers prune and forget use to tell which
// objects are still under retention and to report when they become deletable.
// Plain values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"
#include "storage/backend.h"

namespace bulwark::repo {

struct ObjectLockConfig {
  std::string mode;            // "" (no object lock), "governance" or "compliance"
  int64_t retain_seconds = 0;  // retention of each object after it is written

  bool enabled() const { return !mode.empty(); }
  // What the storage layer needs; locks/ (short-lived, removed by their holder) are exempt.
  storage::ObjectLock ToBackend() const;
  // e.g. "compliance, 1 day"
  std::string Describe() const;
};

// kUsage unless mode is governance or compliance and 1 s <= retain_seconds <= 100 years.
Status ValidateObjectLock(const ObjectLockConfig& c, ErrorCode code);
// A retention period: a plain number of days (e.g. 90), or a number with s, m, h or d (36h);
// kUsage naming `what` (e.g. "--retain") otherwise.
Result<int64_t> ParseRetention(const std::string& text, const std::string& what);
// A component's own object lock (the config's [components.NAME]) may make its objects' retention
// longer or stricter than the repository's, never shorter or weaker: kUsage when the repository
// has no object lock, when `component` is governance on a compliance repository, or shorter.
Status CheckComponentLock(const ObjectLockConfig& repository, const ObjectLockConfig& component,
                          const std::string& name);
// {"mode":"compliance","retain_seconds":86400}
nlohmann::json ObjectLockToJson(const ObjectLockConfig& c);
Result<ObjectLockConfig> ObjectLockFromJson(const nlohmann::json& j);

// Until when an object is retained, seconds since the epoch (0: not locked): what the server
// reported (ObjectInfo::retain_until_unix, from Stat), else its write time plus the
// repository's retention. `margin_seconds` is added to the estimate for clock differences.
int64_t RetainUntil(const ObjectLockConfig& c, const storage::ObjectInfo& info,
                    int64_t margin_seconds);

// Objects that would be deleted but are still under retention: a count, their bytes and the
// first and last date one becomes deletable.
struct LockedTally {
  uint64_t objects = 0;
  uint64_t bytes = 0;
  int64_t first_unlock_unix = 0;
  int64_t last_unlock_unix = 0;
  void Add(uint64_t size, int64_t until_unix);
  // e.g. "3 objects (12.0 MiB) are under object lock and kept; the first becomes deletable
  // on 2026-11-30 12:00:05 UTC, the last on 2026-11-30 12:01:10 UTC"; "" when empty. `one`
  // and `many` name the objects ("snapshot", "snapshots").
  std::string Message(const std::string& one, const std::string& many) const;
  nlohmann::json ToJson() const;
};

// "2026-11-30 12:00:05 UTC"
std::string FormatUnlockTime(int64_t unix_seconds);

}  // namespace bulwark::repo

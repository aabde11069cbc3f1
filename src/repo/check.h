// Check: verifies a repository's structure (index files, packs and their headers, snapshots,
// every tree reachable from them, every referenced blob indexed) and optionally its data
// (download packs, SHA-256 == name, decrypt and verify every blob). Every problem is mapped to
// what it damages: the snapshots and the paths inside them. Takes the exclusive lock unless
// told otherwise. Call from one thread; it runs its own worker pool.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

struct CheckOptions {
  bool read_data = false;               // download and verify packs
  double read_data_percent = 100.0;     // with read_data: share of packs to read (0 < p <= 100)
  std::optional<uint64_t> subset_seed;  // which subset; random when unset (reported back)
  int threads = 0;                      // 0 = a default suited to I/O + decryption
  bool take_lock = true;                // false when the caller already holds the exclusive lock
  Progress* progress = nullptr;         // optional: packs read (files_*) and bytes (bytes_*)
};

// A snapshot that has damaged content, and the paths inside it that are affected.
struct AffectedSnapshot {
  Id snapshot;
  std::string component;
  std::string time;                // RFC 3339
  bool unreadable = false;         // the snapshot object itself does not decode
  std::vector<std::string> paths;  // "/etc/x/file.conf", "/etc/x/ (directory listing)"
};

struct CheckCounters {
  uint64_t index_files = 0;
  uint64_t packs = 0;  // packs referenced by an index
  uint64_t packs_in_storage = 0;
  uint64_t unreferenced_packs = 0;  // in storage but in no index (warning)
  uint64_t blobs = 0;               // distinct indexed blobs
  uint64_t snapshots = 0;
  uint64_t trees = 0;       // distinct trees walked
  uint64_t packs_read = 0;  // with read_data
  uint64_t bytes_read = 0;
  uint64_t blobs_verified = 0;
};

struct CheckReport {
  std::vector<std::string> errors;    // integrity problems (exit 4)
  std::vector<std::string> warnings;  // not damage: e.g. unreferenced packs
  std::vector<AffectedSnapshot> affected;
  CheckCounters counters;
  bool read_data = false;
  double read_data_percent = 0;
  uint64_t subset_seed = 0;

  bool ok() const { return errors.empty(); }
  // One line per affected path: "snapshot 1a2b3c4d (component config): /etc/x/file.conf".
  std::vector<std::string> DamageLines() const;
};

// Storage errors that stop the check itself (cannot list, lock held: kLocked) are returned as
// errors; damage found is reported in CheckReport (ok() false), not as an error.
Result<CheckReport> Check(Repository& repo, const CheckOptions& options);

nlohmann::json CheckReportToJson(const CheckReport& report);

// Parses "--read-data-subset" values: "N%" or "N" (percent, 0 < N <= 100).
Result<double> ParseSubsetPercent(std::string_view text);

}  // namespace bulwark::repo

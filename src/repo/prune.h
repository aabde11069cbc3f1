// Prune: reclaims the space of data no snapshot references, without ever stopping backups or
// deleting anything a running or later backup relies on. Two-phase: "mark" condemns unused
// packs (repacking partly used ones) in a DeletionRecord; "sweep" deletes a record's packs
// once no writer that could have deduplicated against them is still running. The protocol is
// specified in docs/FORMAT.md ("Prune"). Takes the exclusive lock unless told otherwise.
// Call from one thread; it runs its own workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

struct PruneOptions {
  bool dry_run = false;      // report what would be removed/repacked, change nothing
  double max_unused = 0.10;  // repack a used pack when more than this share of its bytes
                             // is unused (0 = repack every pack with any unused blob)
  // Allowance for clock differences between hosts: a writer lock created up to this long
  // after a deletion record still blocks its sweep, and unindexed packs must be this much
  // older than every live writer before they count as leftovers.
  std::chrono::seconds clock_skew_margin{60};
  bool take_lock = true;  // false when the caller already holds the exclusive lock
  bool sweep_now = true;  // sweep the new record at once when no writer predates it
  int threads = 0;        // repack workers; 0 = default
};

struct PruneReport {
  bool dry_run = false;
  // Mark phase.
  uint64_t packs_total = 0;      // indexed packs seen
  uint64_t packs_kept = 0;       // left as they are
  uint64_t packs_condemned = 0;  // no used blob
  uint64_t packs_repacked = 0;   // used blobs copied out, then condemned
  uint64_t blobs_repacked = 0;
  uint64_t bytes_repacked = 0;  // sealed bytes of used blobs copied
  uint64_t unused_blobs = 0;
  uint64_t unused_bytes = 0;
  uint64_t index_files_written = 0;
  uint64_t index_files_superseded = 0;
  std::string deletion_record;  // hex ID of the record saved by this run (empty if none)
  // Sweep phase (this run's record and earlier ones).
  uint64_t records_swept = 0;
  uint64_t records_pending = 0;  // waiting for running backups
  uint64_t packs_deleted = 0;    // condemned packs removed from storage
  uint64_t packs_rescued = 0;    // condemned packs a late snapshot uses: kept, re-indexed
  uint64_t index_files_deleted = 0;
  uint64_t leftover_packs_deleted = 0;  // unindexed packs of killed backups
  uint64_t bytes_freed = 0;             // deleted bytes, less what repacking stored again
  // Object lock: objects prune would delete (or packs it would repack) that are still under
  // retention. They are left alone, never deleted early; a later prune takes them.
  LockedTally locked;
  std::vector<std::string> messages;  // human-readable notes, e.g. pending deletions
};

// kLocked if another prune/check holds the exclusive lock; kIntegrity (changing nothing) when
// a snapshot or tree cannot be read or references a blob that is not indexed, because then it
// is impossible to tell which data is still used.
Result<PruneReport> Prune(Repository& repo, const PruneOptions& options);

nlohmann::json PruneReportToJson(const PruneReport& report);

}  // namespace bulwark::repo

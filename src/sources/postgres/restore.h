// PostgreSQL restore: picks the base backup for a recovery target, checks that the WAL it
// needs is archived, restores the data directory with the files restore machinery (parallel,
// durable), and writes the recovery configuration (backup_label, recovery.signal,
// restore_command, recovery target, promote). Refuses before writing anything when the target
// cannot be reached. One call runs one restore; call it from any one thread after
// Repository::LoadIndex.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::sources::postgres {

enum class RecoveryTarget {
  kLatest,     // replay all archived WAL (the default)
  kImmediate,  // stop as soon as the backup is consistent
  kTime,       // recovery_target_time
  kLsn,        // recovery_target_lsn
  kXid,        // recovery_target_xid
  kName,       // recovery_target_name (pg_create_restore_point)
};

struct PgRestoreOptions {
  std::string component;  // required when snapshot is "latest"
  std::string snapshot = "latest";
  std::string target_dir;  // must be missing or empty
  RecoveryTarget target = RecoveryTarget::kLatest;
  std::string target_value;  // time, LSN, xid or restore point name
  // recovery_target_timeline: "current", "latest" or a number. Empty: "current" (the backup's
  // timeline) with a target, so a point in the past is found on the timeline it was on even
  // when later restores forked new timelines; "latest" without one.
  std::string timeline;
  // restore_command is this prefix (binary and global flags: repository, passphrase file, as
  // shell words) followed by "wal-get --component <component> %f %p".
  std::string wal_get_prefix;
  int workers = 0;
  Progress* progress = nullptr;
};

struct PgRestorePlan {
  repo::Snapshot snapshot;
  std::vector<std::string> wal_needed;  // segments the backup needs (start..stop)
};

struct PgRestoreResult {
  PgRestorePlan plan;
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes_written = 0;
  std::vector<std::string> settings;  // lines written to postgresql.auto.conf
};

// Chooses the snapshot and validates the target without writing anything: kUsage when the
// target is before the oldest usable backup or after the newest archived WAL, kNotFound when
// there is no backup, kIntegrity when a WAL segment the backup needs is not archived.
Result<PgRestorePlan> PlanPgRestore(const repo::Repository& repo, const PgRestoreOptions& options);

// Plans, then restores into options.target_dir. Damaged files fail the restore (kIntegrity).
Result<PgRestoreResult> RestorePostgres(repo::Repository& repo, const PgRestoreOptions& options);

// Quotes `s` as one word for /bin/sh ('...' with embedded quotes escaped).
std::string ShellQuote(const std::string& s);

}  // namespace bulwark::sources::postgres

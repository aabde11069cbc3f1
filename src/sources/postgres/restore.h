// PostgreSQL restore: picks the base backup for a recovery target, checks that the WAL it
// needs is archived, restores the data directory with the files restore machinery (parallel,
// durable) into a new directory or, with delta, over a stopped cluster's one (rewriting only
// what differs), relocates tablespaces on request, and writes the recovery configuration
// (backup_label, recovery.signal, restore_command, recovery target, promote). Refuses before
// writing anything when the target cannot be reached. One call runs one restore; call it from
// any one thread after Repository::LoadIndex.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "sources/postgres/restore_delta.h"

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
  std::string target_dir;  // must be missing or empty (with delta: or a stopped data directory)
  // An existing data directory is brought to the backup's contents: files whose contents
  // already match are kept, others rewritten, entries the backup does not hold removed.
  // Refused while a server runs there (postmaster.pid names a live process).
  bool delta = false;
  // Tablespaces restored into a directory of their own (missing or empty; with delta also a
  // tablespace directory of this cluster), with pg_tblspc/<oid> a symlink to it. Others are
  // restored as plain directories in pg_tblspc, except that delta keeps an existing
  // pg_tblspc/<oid> symlink and brings the directory it points to up to date.
  std::vector<TablespaceMapping> tablespace_map;
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
  bool rehash = false;  // FilesRestoreOptions::rehash
  Progress* progress = nullptr;
};

struct PgRestorePlan {
  repo::Snapshot snapshot;
  std::vector<std::string> wal_needed;  // segments the backup needs (start..stop)
};

struct PgRestoreResult {
  PgRestorePlan plan;
  uint64_t files = 0;  // regular files written
  uint64_t dirs = 0;
  uint64_t bytes_written = 0;
  bool delta = false;                          // an existing data directory was updated in place
  LayoutCounts kept;                           // delta: files kept as they were, entries removed
  std::vector<TablespaceMapping> tablespaces;  // where relocated tablespaces went
  std::vector<std::string> settings;           // lines written to postgresql.auto.conf
};

// Chooses the snapshot and validates the target without writing anything: kUsage when the
// target is before the oldest usable backup or after the newest archived WAL (or, for --xid and
// --name, in no archived WAL after a backup: see wal_target.h), kNotFound when
// there is no backup, kIntegrity when a WAL segment the backup needs is not archived.
Result<PgRestorePlan> PlanPgRestore(const repo::Repository& repo, const PgRestoreOptions& options);

// Plans, then restores into options.target_dir. Damaged files fail the restore (kIntegrity).
Result<PgRestoreResult> RestorePostgres(repo::Repository& repo, const PgRestoreOptions& options);

// Quotes `s` as one word for /bin/sh ('...' with embedded quotes escaped).
std::string ShellQuote(const std::string& s);

}  // namespace bulwark::sources::postgres

// PostgreSQL physical backup: runs the non-exclusive backup API over libpq (pg_backup_start /
// pg_backup_stop on one session) and reads the data directory directly with parallel readers,
// or, with `remote`, receives the same files from BASE_BACKUP over a replication connection
// (their tar stream parsed as it arrives) into the same snapshot layout. Relation files are
// verified page by page (when the cluster has data checksums) and stored in fixed page-aligned
// blocks so that a changed page costs one block; other files go through the content-defined
// chunker. One call runs one backup with its own threads; call it from any one thread after
// Repository::LoadIndex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/blob_writer.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::sources::postgres {

inline constexpr const char* kSnapshotKind = "postgres";
// Two pages: a changed page costs 16 KiB. Measured on pgbench scale 4 after 600 transactions
// (full / incremental plaintext added, index): 8 KiB 72 MB / 9.1 MB, 443 KB; 16 KiB 72 MB /
// 15.4 MB, 267 KB; 32 KiB 72 MB / 25 MB, 166 KB; 128 KiB 73 MB / 50 MB, 73 KB. 8 KiB blocks
// compress markedly worse (a full stores 1.75x the bytes of 128 KiB blocks, 16 KiB 1.35x) and
// multiply the per-blob work; 16 KiB keeps most of the incremental saving.
inline constexpr uint32_t kDefaultRelationBlockSize = 16 * 1024;

enum class BackupType { kFull, kIncremental };

struct PgBackupOptions {
  std::string component;  // required
  std::string pgdata;     // the data directory, readable by this process (not with remote)
  std::string conninfo;   // libpq connection string of the same cluster
  // Take the files from BASE_BACKUP over a replication connection (conninfo's role needs
  // REPLICATION) instead of reading pgdata; every file is received, dedup keeps what is stored
  // to the changed blocks.
  bool remote = false;
  // kIncremental re-reads only files whose size or mtime changed since the parent (the latest
  // postgres snapshot of the component) and becomes a full backup when there is none.
  BackupType type = BackupType::kIncremental;
  uint32_t block_size = kDefaultRelationBlockSize;  // multiple of 8 KiB
  std::vector<std::string> tags;
  std::string hostname;    // empty: this host
  std::string label;       // backup label passed to pg_backup_start; empty: a generated one
  int reader_threads = 0;  // 0: a sensible default
  // How long the backup waits for the archiver to archive the last WAL file it needs (a
  // broken archive_command would otherwise hang it); 0 waits as long as it takes.
  double archive_timeout_seconds = 60;
  repo::WriterOptions writer;
  Progress* progress = nullptr;
};

// A page whose checksum did not match (and still did not on a second read).
struct CorruptPage {
  std::string file;       // relative to the data directory, e.g. "base/5/16384"
  uint32_t block = 0;     // block number within that file
  uint16_t expected = 0;  // computed
  uint16_t found = 0;     // stored in the page
};

struct PgBackupCounters {
  uint64_t files = 0;
  uint64_t files_read = 0;
  uint64_t files_unmodified = 0;  // reused from the parent without reading
  uint64_t dirs = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_added = 0;   // plaintext bytes of new blobs
  uint64_t bytes_stored = 0;  // sealed bytes of new blobs
  uint64_t blobs_new = 0;
  uint64_t pages_verified = 0;
};

struct PgBackupResult {
  repo::Snapshot snapshot;              // as saved (id set)
  BackupType type = BackupType::kFull;  // what was actually done
  std::vector<CorruptPage> corrupt_pages;
  std::vector<std::string> errors;  // unreadable files, "path: reason"
  PgBackupCounters counters;
  double duration_seconds = 0;
};

// Runs one backup. Refuses with kUsage (before the backup starts) when pgdata is not a data
// directory, wal_level is minimal, archive_mode is off, the role may not run the backup
// functions (remote: lacks REPLICATION), or the cluster's system identifier differs from the
// component's earlier postgres snapshots; with kFailure when the server cannot be reached.
// Corrupt pages and unreadable files do not stop the backup: they are in the result and in the
// snapshot (CLI exit code 3).
Result<PgBackupResult> BackupPostgres(repo::Repository& repo, const PgBackupOptions& options);

}  // namespace bulwark::sources::postgres

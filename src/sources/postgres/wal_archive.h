// Continuous WAL archiving into the repository (repo/wal_store.h): push one file for
// archive_command, get one file (prefetching the following segments into a spool) for
// restore_command, and the archive's status (newest segment, lag, gaps). The streaming receiver
// (wal_receive.h) also stores partial segments here. Each call runs on the
// calling thread plus short-lived fetch threads; the repository must be open (get and status
// need its index loaded: Repository::LoadIndex).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "repo/repository.h"
#include "repo/wal_store.h"

namespace bulwark::sources::postgres {

struct WalPushResult {
  std::string name;
  uint64_t size = 0;
  bool already_archived = false;  // the same file was archived before: nothing stored
  uint64_t bytes_stored = 0;
  Id sha256;  // of the file's contents
};

// Archives the file at `path` under its base name. Idempotent: the same contents again is ok
// (already_archived); different contents under an archived name is kAlreadyExists. Everything is
// durable in the repository when this returns ok.
Result<WalPushResult> PushWalFile(repo::Repository& repo, const std::string& component,
                                  const std::string& path);

// Archives `data` under `name`, with the same rules as PushWalFile.
Result<WalPushResult> PushWalData(repo::Repository& repo, const std::string& component,
                                  const std::string& name, ByteView data);

// Archives several files in one batch (for the asynchronous pusher): their blobs share packs,
// compressed in parallel by `workers` threads, under one shared lock. One result per path, in
// order; a file that cannot be read or conflicts fails alone. The call fails as a whole only
// when the repository cannot be written. Everything reported ok is durable.
Result<std::vector<Result<WalPushResult>>> PushWalFiles(repo::Repository& repo,
                                                        const std::string& component,
                                                        const std::vector<std::string>& paths,
                                                        int workers);

// Partial segments stored by wal-receive: "<segment>.partial.<size as 8 hex digits>" holds the
// first `size` bytes of the segment (a newer, longer one supersedes it). The name never
// collides with a segment, with PostgreSQL's own "<segment>.partial", or with another size.
std::string PartialWalName(const std::string& segment, uint64_t size);
struct PartialWalId {
  std::string segment;
  uint64_t size = 0;
};
std::optional<PartialWalId> ParsePartialWalName(std::string_view name);

struct WalGetOptions {
  std::string spool_dir;  // where prefetched segments wait; empty: no prefetch
  int prefetch = 4;       // following segments fetched in parallel with the requested one
};

// Writes archived file `name` to `dest` (atomically: temp file + rename), verifying its
// SHA-256. kNotFound when the component has no such file (restore_command's normal "no more
// WAL" answer). Uses a prefetched copy from the spool when there is one. A segment that is not
// archived whole but of which wal-receive stored partial records is returned from the longest
// of them, padded with zeros to the segment size (like pg_receivewal's .partial files): the end
// of the streamed WAL, where recovery then ends.
Status GetWalFile(const repo::Repository& repo, const std::string& component,
                  const std::string& name, const std::string& dest, const WalGetOptions& options);

struct WalStatus {
  size_t files = 0;
  uint64_t bytes = 0;
  std::string oldest_segment;
  std::string newest_segment;
  int64_t newest_pushed_unix_ns = 0;
  std::vector<std::string> gaps;       // "first..last" missing ranges between archived segments
  std::vector<std::string> histories;  // timeline history files
};

Result<WalStatus> GetWalStatus(const repo::Repository& repo, const std::string& component,
                               uint64_t seg_size);

struct WalExpireResult {
  std::string keep_from;             // oldest segment still needed; empty: nothing expired
  std::vector<std::string> removed;  // archived files removed (or that would be, in a dry run)
};

// Retention for the archive: removes the component's archived WAL older than what its oldest
// remaining PostgreSQL backup needs (segments, partial segments and backup history files whose
// segment number lies before that backup's first WAL segment, on any timeline). Timeline
// history files are kept. Backups whose ids are in `forgotten` count as gone; with no backup
// left nothing is removed. The data blobs become unreferenced (prune reclaims them).
Result<WalExpireResult> ExpireWal(repo::Repository& repo, const std::string& component,
                                  const std::set<std::string>& forgotten, bool dry_run);

struct WalCheckResult {
  std::string component;
  std::string from;                   // first segment the oldest backup needs
  std::string to;                     // newest archived segment
  size_t files = 0;                   // archived files of the component
  std::vector<std::string> problems;  // gaps and files whose data is missing
};

// For every component with PostgreSQL backups: every segment number from the oldest backup's
// first segment to the newest archived segment is archived (on some timeline: a timeline
// switch continues the same numbering), and every archived file's data blobs are in the index
// (Repository::LoadIndex first).
Result<std::vector<WalCheckResult>> CheckWalArchive(const repo::Repository& repo);

// Names of the archived files of the component.
Result<std::set<std::string>> ArchivedWalNames(const repo::Repository& repo,
                                               const std::string& component);

}  // namespace bulwark::sources::postgres

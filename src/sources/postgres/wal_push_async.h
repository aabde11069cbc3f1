// Asynchronous WAL archiving (`wal-push --async`): archive_command returns as soon as a
// long-lived pusher process has made the file durable in the repository. The pusher reads
// ahead: it archives every file PostgreSQL has marked ready (pg_wal/archive_status/*.ready) in
// batches, compressing in parallel, with the repository opened (and its key derived) once.
// The spool directory is the only channel between archive_command calls and the pusher:
//   pusher.lock   flock()ed by the live pusher, holds its pid    pusher.log  its output
//   queue/<name>  a file asked for without a .ready file (holds the file's absolute path)
//   ok/<name>     "<size> <sha256 hex>": archived and durable
//   error/<name>  "<error code number> <message>": why the last attempt failed (taken by
//                 the next ask)
// Each function is called from one thread; archive_command and the pusher are processes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/result.h"
#include "repo/repository.h"
#include "sources/files/fs_util.h"

namespace bulwark::sources::postgres {

struct AsyncPushOptions {
  std::string spool_dir;
  std::string wal_dir;  // directory of the WAL files (holding archive_status/)
  size_t batch = 16;    // files per batch: their blobs share packs
  int workers = 2;      // compression threads
  double idle_exit_seconds = 30;
};

// "<wal_dir>/.bulwark-push": inside pg_wal, which backups leave out and PostgreSQL ignores.
std::string DefaultPushSpool(const std::string& wal_dir);

// Creates the spool's directories (mode 0700).
Status PrepareSpool(const std::string& spool_dir);

enum class SpoolVerdict { kPending, kArchived, kFailed };
struct SpoolAnswer {
  SpoolVerdict verdict = SpoolVerdict::kPending;
  ErrorCode code = ErrorCode::kFailure;  // kFailed: the pusher's error
  std::string error;
};

// The pusher's answer for the file at `path`. kArchived only if the file's size and SHA-256
// are what the pusher archived (an answer about other contents is dropped: kPending). kFailed
// consumes the error, so asking again retries.
Result<SpoolAnswer> CheckSpool(const std::string& spool_dir, const std::string& path);

// Asks the pusher to archive `path` (absolute) although PostgreSQL has no .ready file for it.
Status QueuePush(const std::string& spool_dir, const std::string& path);

// True while a pusher holds the spool's lock.
bool PusherRunning(const std::string& spool_dir);

// The pusher's exclusive hold on a spool (flock, released with the object or the process).
class PusherLock {
 public:
  // nullopt when another pusher holds it.
  static Result<std::optional<PusherLock>> TryAcquire(const std::string& spool_dir);

 private:
  explicit PusherLock(files::UniqueFd fd) : fd_(std::move(fd)) {}
  files::UniqueFd fd_;
};

// Archives ready and queued files until none appeared for idle_exit_seconds, or until
// cancelled (core/cancel.h; the batch in progress finishes first). Per-file failures
// go to error/<name> (the pusher goes on with the others); only failures to use the spool or
// the repository as a whole are returned.
Status RunPusher(repo::Repository& repo, const std::string& component, const PusherLock& lock,
                 const AsyncPushOptions& options);

}  // namespace bulwark::sources::postgres

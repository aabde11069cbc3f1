// Files source, backup side: walks directory trees (or reads one stream) and stores them in a
// repository as trees + content chunks, then writes a snapshot. One call runs one backup; it
// uses its own reader threads internally and may be called from any one thread. The caller
// must have opened the repository and loaded its index (Repository::LoadIndex) first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/progress.h"
#include "core/result.h"
#include "repo/blob_writer.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::sources::files {

struct FilesBackupOptions {
  // Inputs to back up (files, directories, symlinks...). Relative paths are made absolute
  // against the current directory and normalised lexically; the snapshot stores absolute paths
  // and its tree mirrors them from "/" (backing up /etc/app gives a tree /etc/app/...).
  // Ignored by BackupStream.
  std::vector<std::string> paths;
  // Glob patterns (fnmatch) like restic --exclude: an entry is skipped (with everything below
  // it) when a pattern matches its name or its full absolute path.
  std::vector<std::string> excludes;
  std::string component;  // required, e.g. "config"
  std::vector<std::string> tags;
  std::string hostname;  // empty: this host's name
  // Explicit parent snapshot for change detection. When absent, the latest snapshot of the
  // same component, kind and (sorted) paths is used, if there is one.
  std::optional<Id> parent;
  int reader_threads = 0;  // parallel file readers; 0 = a sensible default
  repo::WriterOptions writer;
  Progress* progress = nullptr;  // optional, updated from the backup's threads
};

struct FilesBackupCounters {
  uint64_t files_new = 0;         // not in the parent snapshot: read
  uint64_t files_changed = 0;     // in the parent but size/mtime/ctime/inode differ: read
  uint64_t files_unmodified = 0;  // unchanged since the parent: content reused, not read
  uint64_t dirs = 0;
  uint64_t others = 0;        // symlinks, devices, fifos, sockets
  uint64_t bytes_total = 0;   // size of all files in the snapshot
  uint64_t bytes_read = 0;    // bytes actually read from the source
  uint64_t bytes_added = 0;   // plaintext bytes of new blobs (data + trees) stored
  uint64_t bytes_stored = 0;  // bytes those new blobs take in the repository (sealed)
  uint64_t blobs_new = 0;
};

struct FilesBackupResult {
  repo::Snapshot snapshot;          // as saved (snapshot.id set)
  std::vector<std::string> errors;  // unreadable inputs, each "path: reason"
  FilesBackupCounters counters;
  double duration_seconds = 0;
};

// Backs up options.paths as a snapshot of kind "files". Takes a shared repository lock for its
// duration. Unreadable files and directories do not stop the backup: they are listed in the
// result's errors and in snapshot.errors (the caller then exits with code 3); everything else
// is stored. Fails without writing a snapshot on repository/storage errors, when every path
// is missing (kNotFound), or when cancelled (kCancelled, core/cancel.h).
Result<FilesBackupResult> BackupFiles(repo::Repository& repo, const FilesBackupOptions& options);

// Backs up the byte stream read from `fd` until EOF as one file named `filename` (no '/'),
// as a snapshot of kind "stdin" whose tree holds that single file (mode 0644, owned by the
// caller, mtime = now). options.paths/excludes/reader_threads are ignored.
Result<FilesBackupResult> BackupStream(repo::Repository& repo, int fd, const std::string& filename,
                                       const FilesBackupOptions& options);

}  // namespace bulwark::sources::files

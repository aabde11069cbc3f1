// Files source, restore side: recreates a snapshot's tree (or part of it) under a target
// directory with contents and metadata, fetching packs in parallel. One call runs one restore
// with its own worker threads; call it from any one thread. The repository's index must be
// loaded (Repository::LoadIndex).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/progress.h"
#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::sources::files {

struct FilesRestoreOptions {
  std::string target;  // created if missing; existing files there are replaced
  // Only restore snapshot paths matching one of these globs (fnmatch against the name or the
  // full snapshot path, e.g. "*.conf" or "/etc/app/sub"), everything below a matching
  // directory, and the directories needed to reach them. Empty: everything.
  std::vector<std::string> includes;
  // Exact snapshot paths to restore the same way (with everything below them and the
  // directories leading to them), found by lookup rather than pattern matching: for callers
  // that computed a large selection themselves (a delta restore). A path is restored when it
  // is in `paths` or matches `includes`; both empty: everything.
  std::unordered_set<std::string> paths;
  // Restore only this snapshot path ("/etc/app"): a directory's contents land directly in
  // target, a file lands as target/<name>. Empty or "/": the whole tree (target/etc/app/...).
  std::string subpath;
  int workers = 0;  // parallel pack fetch+decode+write; 0 = a sensible default
  // Also recompute each chunk's keyed content hash (repo::Repository::BlobCheck::kRehash);
  // otherwise chunks are checked by their authentication tag, which binds their ID.
  bool rehash = false;
  Progress* progress = nullptr;  // optional
};

struct FilesRestoreResult {
  uint64_t files = 0;  // regular files restored completely (hard links included)
  uint64_t dirs = 0;
  uint64_t others = 0;         // symlinks, fifos, devices, sockets
  uint64_t bytes_written = 0;  // file content bytes restored
  // Files whose data is damaged or missing in the repository, each "path: reason" (e.g.
  // "/etc/app/x: damaged data in pack 1a2b3c4d"). They are NOT created under their name;
  // everything else is restored. Non-empty: the CLI exits with 4.
  std::vector<std::string> damaged;
  // Other per-path failures (cannot create, chown...), each "path: reason". Non-empty with
  // no damage: the CLI exits with 1.
  std::vector<std::string> errors;
};

// Restores `snapshot` into options.target. Each file is written under a temporary name in
// its directory and renamed into place only when complete; zero chunks of sparse files are
// left as holes; hard links are recreated; owners (when root), modes and times are applied
// after the data, directories last. Ends with syncfs() on the target so the restore is
// durable when this returns. Returns an error only for failures that stop the whole restore
// (target not creatable, disk full, cancelled, the subpath is not in the snapshot).
Result<FilesRestoreResult> RestoreSnapshot(repo::Repository& repo, const repo::Snapshot& snapshot,
                                           const FilesRestoreOptions& options);

}  // namespace bulwark::sources::files

// Restore postgres, layout side: where the parts of a backup land (the data directory and
// relocated tablespaces), what of an existing directory is kept (files whose contents hash to
// the backup's chunk IDs), removed (whatever the backup does not hold) or written, and the
// `--tablespace-map OID=DIR` syntax. Used by RestorePostgres; call from one thread (PlanLayout
// runs its own reader threads).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::sources::postgres {

// `--tablespace-map OID=DIR`: the contents of tablespace OID go into DIR (absolute), and
// pg_tblspc/OID becomes a symlink to it.
struct TablespaceMapping {
  std::string oid;
  std::string dir;
};

// Parses "OID=DIR": OID all digits, DIR absolute (normalised, no trailing "/"); kUsage else.
Result<TablespaceMapping> ParseTablespaceMapping(std::string_view text);

// One place a part of the snapshot lands: the data directory (snap_root "/") or a relocated
// tablespace (snap_root "/pg_tblspc/<oid>").
struct RestoreLocation {
  std::string snap_root;
  std::string dir;
  // Snapshot paths to write there (FilesRestoreOptions::paths).
  std::vector<std::string> paths;
  bool everything = false;  // write the whole subtree: nothing on disk is kept
};

struct LayoutCounts {
  uint64_t files_kept = 0;  // regular files left as they were (contents identical)
  uint64_t bytes_kept = 0;
  uint64_t removed = 0;  // entries removed from disk (a directory with its contents counts once)
};

// Compares `snapshot` with what is on disk in each location (locations[0] is "/"; the others
// are relocated tablespaces, which locations[0] leaves out: there pg_tblspc/<oid> must become
// a symlink, so anything else in its place is removed) and fills each location's paths.
// Disk entries the snapshot does not hold, or holds with another type, are removed without
// following symlinks. A regular file is kept when its size is the stored size and every piece
// hashes (keyed, like the backup) to its stored chunk ID; a kept file's mode, owner (as root)
// and times are set to the stored ones. Missing directories that lead to a relocated
// tablespace are created here. For missing or empty directories this plans a plain restore.
Status PlanLayout(const repo::Repository& repo, const repo::Snapshot& snapshot, int workers,
                  std::vector<RestoreLocation>& locations, LayoutCounts& counts);

// kUsage if `data_dir`/postmaster.pid names a live process (a running server).
Status CheckServerStopped(const std::string& data_dir);

// The target of the symlink at `path`; empty if it is none.
std::string ReadSymlink(const std::string& path);

}  // namespace bulwark::sources::postgres

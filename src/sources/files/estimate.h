// Size estimate of a files backup: a quick stat-only walk of the paths (same excludes, no
// symlinks followed) that fills Progress's estimate counters, so a terminal shows an ETA
// while the backup itself is still discovering files. Runs on its own thread next to the
// backup; the result only feeds progress display, never the snapshot.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "core/progress.h"

namespace bulwark::sources::files {

// Walks `paths`, adding each regular file to progress.estimate_files/estimate_bytes, and sets
// estimate_done when complete. Returns early (estimate_done stays false) once `stop` is set.
// Unreadable directories are skipped silently: the backup reports them.
void EstimateTree(const std::vector<std::string>& paths, const std::vector<std::string>& excludes,
                  Progress& progress, const std::atomic<bool>& stop);

}  // namespace bulwark::sources::files

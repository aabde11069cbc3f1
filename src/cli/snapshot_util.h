// Helpers for commands that take a snapshot argument: resolving "latest" / ID prefixes with a
// clear message, and reading the total size a snapshot's summary records. Main thread only.
#pragma once

#include <string_view>

#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::cli {

// "latest" (of `component` if given), a full ID or a unique prefix.
Result<repo::Snapshot> ResolveSnapshot(const repo::Repository& repo, std::string_view ref,
                                       std::string_view component);

// Bytes of file content in the snapshot as its summary records (0 if unknown).
uint64_t SnapshotSize(const repo::Snapshot& snapshot);

}  // namespace bulwark::cli

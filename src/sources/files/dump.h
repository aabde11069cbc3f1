// Files source: writes one file's content from a snapshot to a file descriptor (for
// `bulwark dump SNAPSHOT PATH` to stdout), fetching upcoming chunks in parallel while writing
// in order. Call from any one thread; the repository's index must be loaded.
#pragma once

#include <string_view>

#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"

namespace bulwark::sources::files {

// `path` is an absolute snapshot path ("/etc/app/x.conf"; for stdin snapshots "/NAME").
// kNotFound if absent, kUsage if it is not a regular file (e.g. a directory), kIntegrity if
// its data is damaged (output written so far stays written), kIo if writing out_fd fails.
Status DumpFile(repo::Repository& repo, const repo::Snapshot& snapshot, std::string_view path,
                int out_fd);

}  // namespace bulwark::sources::files

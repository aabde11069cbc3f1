// Runs prune on an opened repository with the CLI's audit record and printing; shared by
// `prune` and `forget --prune`. Main thread only.
#pragma once

#include "cli/context.h"
#include "repo/prune.h"
#include "repo/repository.h"

namespace bulwark::cli {

// Returns the exit code.
int RunPruneOn(Context& ctx, repo::Repository& repo, const repo::PruneOptions& options);

}  // namespace bulwark::cli

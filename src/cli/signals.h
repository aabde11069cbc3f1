// SIGINT/SIGTERM handling for the CLI: the first signal asks running operations to stop
// (RequestCancel, core/cancel.h) so they finish cleanly; a second SIGINT exits at once with
// status 130 (the repository is crash-consistent by design). Install once from main().
#pragma once

namespace bulwark::cli {

void InstallSignalHandlers();
// The signal that requested cancellation (SIGINT, SIGTERM), or 0 if none arrived.
int CancelSignal();

}  // namespace bulwark::cli

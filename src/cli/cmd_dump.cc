// `bulwark dump SNAPSHOT PATH`: writes one file from a snapshot to stdout.
#include <unistd.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/snapshot_util.h"
#include "sources/files/dump.h"

namespace bulwark::cli {

namespace {

struct DumpArgs {
  std::string snapshot;
  std::string path;
  std::string component;
};

int RunDump(Context& ctx, const DumpArgs& args) {
  auto repo = ctx.OpenRepositoryForReading();
  if (!repo.ok()) return ReportError(repo.error(), "dump");
  if (Status st = (*repo)->LoadIndex(); !st.ok()) return ReportError(st.error(), "dump");
  auto snap = ResolveSnapshot(**repo, args.snapshot, args.component);
  if (!snap.ok()) return ReportError(snap.error(), "dump");
  std::string path = args.path;
  if (path.empty() || path.front() != '/') path = "/" + path;
  if (Status st = sources::files::DumpFile(**repo, *snap, path, STDOUT_FILENO); !st.ok()) {
    return ReportError(st.error(), "dump " + path);
  }
  return 0;
}

}  // namespace

void RegisterDump(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App* sub = app.add_subcommand("dump", "Write a file from a snapshot to standard output");
  sub->add_option("SNAPSHOT", args->snapshot, "Snapshot ID (or unique prefix) or \"latest\"")
      ->required();
  sub->add_option("PATH", args->path, "Path of the file in the snapshot")->required();
  sub->add_option("--component", args->component, "With \"latest\": the latest of this component");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunDump(ctx, *args); }; });
}

}  // namespace bulwark::cli

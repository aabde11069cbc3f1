// `bulwark unlock [--remove-all]`: removes stale locks (dead process or old heartbeat), or
// every lock with --remove-all.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "repo/lock.h"

namespace bulwark::cli {

namespace {

int RunUnlock(Context& ctx, bool all) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "unlock");
  auto removed = repo::RemoveLocks(**repo, all);
  if (!removed.ok()) return ReportError(removed.error(), "unlock");
  if (ctx.json()) {
    PrintJson({{"removed", *removed}});
  } else if (!ctx.quiet()) {
    fmt::print("removed {} {}lock{}\n", *removed, all ? "" : "stale ", *removed == 1 ? "" : "s");
  }
  return 0;
}

}  // namespace

void RegisterUnlock(CLI::App& app, Context& ctx) {
  auto all = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("unlock", "Remove stale locks");
  sub->add_flag("--remove-all", *all, "Remove every lock, also live ones (dangerous)");
  sub->callback([&ctx, all] { ctx.action = [&ctx, all] { return RunUnlock(ctx, *all); }; });
}

}  // namespace bulwark::cli

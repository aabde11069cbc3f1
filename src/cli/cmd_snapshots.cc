// `bulwark snapshots [--component C] [--json]`: lists snapshots, oldest first.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/snapshot_util.h"
#include "repo/snapshot.h"

namespace bulwark::cli {

namespace {

struct SnapshotsArgs {
  std::string component;
  std::string host;
  std::vector<std::string> tags;
};

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

int RunSnapshots(Context& ctx, const SnapshotsArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "snapshots");
  auto all = repo::LoadAllSnapshots(**repo);
  if (!all.ok()) return ReportError(all.error(), "listing snapshots");
  std::vector<repo::Snapshot> shown;
  for (auto& s : *all) {
    if (!args.component.empty() && s.component != args.component) continue;
    if (!args.host.empty() && s.hostname != args.host) continue;
    bool tags_ok = true;
    for (const auto& t : args.tags) {
      tags_ok = tags_ok && std::find(s.tags.begin(), s.tags.end(), t) != s.tags.end();
    }
    if (tags_ok) shown.push_back(std::move(s));
  }
  if (ctx.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : shown) out.push_back(repo::SnapshotToJson(s));
    PrintJson(out);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : shown) {
    std::string flags = s.errors.empty() ? "" : " (incomplete)";
    rows.push_back({s.id.ShortHex(), FormatLocalTime(s.time_unix_ns), s.hostname, s.component,
                    s.kind, Join(s.tags, ","), Join(s.paths, " ") + flags,
                    FormatBytes(SnapshotSize(s))});
  }
  PrintTable({"ID", "Time", "Host", "Component", "Kind", "Tags", "Paths", "Size"}, rows);
  if (!ctx.quiet()) fmt::print("{} snapshot{}\n", shown.size(), shown.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

void RegisterSnapshots(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<SnapshotsArgs>();
  CLI::App* sub = app.add_subcommand("snapshots", "List snapshots");
  sub->add_option("--component", args->component, "Only snapshots of this component");
  sub->add_option("--host", args->host, "Only snapshots taken on this host");
  sub->add_option("--tag", args->tags, "Only snapshots with this tag (repeatable: all of them)")
      ->allow_extra_args(false);
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunSnapshots(ctx, *args); }; });
}

}  // namespace bulwark::cli

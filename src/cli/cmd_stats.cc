// `bulwark stats [--json]`: repository size, deduplication and compression.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "repo/stats.h"

namespace bulwark::cli {

namespace {

int RunStats(Context& ctx) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "stats");
  if (Status st = (*repo)->LoadIndex(); !st.ok()) return ReportError(st.error(), "stats");
  auto stats = repo::ComputeStats(**repo);
  if (!stats.ok()) return ReportError(stats.error(), "stats");
  const auto& s = *stats;
  if (ctx.json()) {
    PrintJson(repo::RepoStatsToJson(s));
    return 0;
  }
  fmt::print("snapshots:          {}\n", s.snapshots);
  fmt::print("files (all snaps):  {}\n", s.files);
  fmt::print("logical size:       {}\n", FormatBytes(s.logical_bytes));
  fmt::print("blobs:              {} data, {} tree\n", s.data_blobs, s.tree_blobs);
  fmt::print("packs:              {}\n", s.packs);
  fmt::print("raw bytes:          {} (unique data before compression)\n", FormatBytes(s.raw_bytes));
  fmt::print("stored bytes:       {} in packs, {} in the whole repository\n",
             FormatBytes(s.pack_bytes), FormatBytes(s.total_bytes));
  fmt::print("dedup ratio:        {:.2f}x\n", s.DedupRatio());
  fmt::print("compression ratio:  {:.2f}x\n", s.CompressionRatio());
  return 0;
}

}  // namespace

void RegisterStats(CLI::App& app, Context& ctx) {
  CLI::App* sub = app.add_subcommand("stats", "Show repository size and deduplication");
  sub->callback([&ctx] { ctx.action = [&ctx] { return RunStats(ctx); }; });
}

}  // namespace bulwark::cli

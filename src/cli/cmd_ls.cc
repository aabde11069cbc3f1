// `bulwark ls SNAPSHOT [PATH]`: lists a snapshot's tree (everything below PATH).
#include <fmt/format.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/snapshot_util.h"
#include "sources/files/list.h"

namespace bulwark::cli {

namespace {

struct LsArgs {
  std::string snapshot;
  std::string path = "/";
  std::string component;
  bool long_format = false;
  bool no_recursive = false;
};

const char* TypeName(repo::NodeType t) {
  switch (t) {
    case repo::NodeType::kFile:
      return "file";
    case repo::NodeType::kDir:
      return "dir";
    case repo::NodeType::kSymlink:
      return "symlink";
    case repo::NodeType::kBlockDev:
      return "blockdev";
    case repo::NodeType::kCharDev:
      return "chardev";
    case repo::NodeType::kFifo:
      return "fifo";
    case repo::NodeType::kSocket:
      return "socket";
  }
  return "unknown";
}

std::string ModeString(const repo::Node& n) {
  static const char kType[] = {'-', 'd', 'l', 'b', 'c', 'p', 's'};
  std::string s(10, '-');
  s[0] = kType[static_cast<int>(n.type) % 7];
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (n.mode & (1u << (8 - i))) s[1 + i] = rwx[i];
  }
  if (n.mode & S_ISUID) s[3] = (n.mode & S_IXUSR) ? 's' : 'S';
  if (n.mode & S_ISGID) s[6] = (n.mode & S_IXGRP) ? 's' : 'S';
  if (n.mode & S_ISVTX) s[9] = (n.mode & S_IXOTH) ? 't' : 'T';
  return s;
}

nlohmann::json NodeToJson(const std::string& path, const repo::Node& n) {
  nlohmann::json j = {{"path", path},
                      {"name", n.name},
                      {"type", TypeName(n.type)},
                      {"mode", n.mode},
                      {"uid", n.uid},
                      {"gid", n.gid},
                      {"user", n.user},
                      {"group", n.group},
                      {"size", n.size},
                      {"mtime", repo::FormatTimeRfc3339(n.mtime_ns)}};
  if (n.type == repo::NodeType::kSymlink) j["link_target"] = n.link_target;
  if (n.links > 1) j["links"] = n.links;
  return j;
}

int RunLs(Context& ctx, const LsArgs& args) {
  auto repo = ctx.OpenRepository();
  if (!repo.ok()) return ReportError(repo.error(), "ls");
  if (Status st = (*repo)->LoadIndex(); !st.ok()) return ReportError(st.error(), "ls");
  auto snap = ResolveSnapshot(**repo, args.snapshot, args.component);
  if (!snap.ok()) return ReportError(snap.error(), "ls");
  nlohmann::json out = nlohmann::json::array();
  auto print = [&](const std::string& path, const repo::Node& n) -> Status {
    if (ctx.json()) {
      out.push_back(NodeToJson(path, n));
    } else if (args.long_format) {
      std::string owner = n.user.empty() ? std::to_string(n.uid) : n.user;
      std::string group = n.group.empty() ? std::to_string(n.gid) : n.group;
      std::string line = fmt::format("{} {:>8} {:>8} {:>12} {} {}", ModeString(n), owner, group,
                                     n.size, FormatLocalTime(n.mtime_ns), path);
      if (n.type == repo::NodeType::kSymlink) line += " -> " + n.link_target;
      fmt::print("{}\n", line);
    } else {
      fmt::print("{}\n", path);
    }
    return Status::Ok();
  };
  Status st = sources::files::ListSnapshot(**repo, *snap, args.path, !args.no_recursive, print);
  if (!st.ok()) return ReportError(st.error(), "ls " + args.path);
  if (ctx.json()) PrintJson(out);
  return 0;
}

}  // namespace

void RegisterLs(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* sub = app.add_subcommand("ls", "List the files in a snapshot");
  sub->add_option("SNAPSHOT", args->snapshot, "Snapshot ID (or unique prefix) or \"latest\"")
      ->required();
  sub->add_option("PATH", args->path, "Only this path and what is below it (default /)");
  sub->add_option("--component", args->component, "With \"latest\": the latest of this component");
  sub->add_flag("-l,--long", args->long_format, "Show mode, owner, size and time");
  sub->add_flag("--no-recursive", args->no_recursive, "Only direct children of PATH");
  sub->callback([&ctx, args] { ctx.action = [&ctx, args] { return RunLs(ctx, *args); }; });
}

}  // namespace bulwark::cli

#include "sources/files/list.h"

#include <algorithm>

#include "sources/files/fs_util.h"

namespace bulwark::sources::files {

Result<repo::Tree> LoadTree(const repo::Repository& repo, const Id& tree_id) {
  auto blob = repo.LoadBlob(repo::BlobType::kTree, tree_id);
  if (!blob.ok()) return blob.error().Wrap("loading tree " + tree_id.ShortHex());
  auto tree = repo::DecodeTree(*blob);
  if (!tree.ok()) {
    return Error(ErrorCode::kIntegrity,
                 "tree " + tree_id.ShortHex() + " is damaged: " + tree.error().message());
  }
  return tree;
}

Result<std::vector<std::string>> SplitSnapshotPath(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error(ErrorCode::kUsage, "'..' is not allowed in a snapshot path");
    parts.emplace_back(part);
  }
  return parts;
}

namespace {

const repo::Node* FindChild(const repo::Tree& tree, const std::string& name) {
  auto it = std::lower_bound(tree.nodes.begin(), tree.nodes.end(), name,
                             [](const repo::Node& n, const std::string& v) { return n.name < v; });
  if (it == tree.nodes.end() || it->name != name) return nullptr;
  return &*it;
}

Status WalkBelow(const repo::Repository& repo, const Id& tree_id, const std::string& dir_path,
                 bool recursive, const ListFn& fn) {
  BW_ASSIGN_OR_RETURN(repo::Tree tree, LoadTree(repo, tree_id));
  for (const auto& node : tree.nodes) {
    std::string path = JoinPath(dir_path, node.name);
    BW_RETURN_IF_ERROR(fn(path, node));
    if (recursive && node.type == repo::NodeType::kDir) {
      BW_RETURN_IF_ERROR(WalkBelow(repo, node.subtree, path, recursive, fn));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<repo::Node> FindNode(const repo::Repository& repo, const repo::Snapshot& snapshot,
                            std::string_view path) {
  BW_ASSIGN_OR_RETURN(auto parts, SplitSnapshotPath(path));
  repo::Node node;
  node.name = "/";
  node.type = repo::NodeType::kDir;
  node.mode = 0755;
  node.subtree = snapshot.tree;
  std::string walked;
  for (const auto& part : parts) {
    walked = JoinPath(walked.empty() ? "/" : walked, part);
    if (node.type != repo::NodeType::kDir) {
      return Error(ErrorCode::kNotFound, "'" + walked + "' not found in snapshot " +
                                             snapshot.id.ShortHex() +
                                             " (parent is not a directory)");
    }
    BW_ASSIGN_OR_RETURN(repo::Tree tree, LoadTree(repo, node.subtree));
    const repo::Node* child = FindChild(tree, part);
    if (child == nullptr) {
      return Error(ErrorCode::kNotFound,
                   "'" + walked + "' not found in snapshot " + snapshot.id.ShortHex());
    }
    node = *child;
  }
  return node;
}

Status ListSnapshot(const repo::Repository& repo, const repo::Snapshot& snapshot,
                    std::string_view path, bool recursive, const ListFn& fn) {
  BW_ASSIGN_OR_RETURN(auto parts, SplitSnapshotPath(path));
  BW_ASSIGN_OR_RETURN(repo::Node node, FindNode(repo, snapshot, path));
  std::string full = "/";
  for (const auto& p : parts) full = JoinPath(full, p);
  if (!parts.empty()) BW_RETURN_IF_ERROR(fn(full, node));
  if (node.type != repo::NodeType::kDir) return Status::Ok();
  return WalkBelow(repo, node.subtree, full, recursive, fn);
}

}  // namespace bulwark::sources::files

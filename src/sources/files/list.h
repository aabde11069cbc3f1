// Files source: reading a snapshot's tree — load one tree blob, find the node at a path, walk
// (for `bulwark ls`). Pure functions over a const Repository; safe from any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "repo/repository.h"
#include "repo/snapshot.h"
#include "repo/tree.h"

namespace bulwark::sources::files {

// Loads and decodes one tree blob (kIntegrity if damaged, kNotFound if not in the index).
Result<repo::Tree> LoadTree(const repo::Repository& repo, const Id& tree_id);

// Splits an absolute or relative snapshot path into its names ("/a//b/" -> {"a","b"});
// "." components are dropped; ".." is rejected (kUsage).
Result<std::vector<std::string>> SplitSnapshotPath(std::string_view path);

// The node at `path` in the snapshot. For "/" or "" returns a synthetic directory node named
// "/" whose subtree is snapshot.tree. kNotFound (naming the path) if absent.
Result<repo::Node> FindNode(const repo::Repository& repo, const repo::Snapshot& snapshot,
                            std::string_view path);

// Called with the absolute snapshot path ("/etc/app/x") and the node. Return an error to
// stop the walk (it is passed through).
using ListFn = std::function<Status(const std::string& path, const repo::Node& node)>;

// Lists the node at `path` (not for the root) and, if it is a directory, the nodes below it:
// all of them depth-first in name order when `recursive`, otherwise only its direct children.
Status ListSnapshot(const repo::Repository& repo, const repo::Snapshot& snapshot,
                    std::string_view path, bool recursive, const ListFn& fn);

}  // namespace bulwark::sources::files

// Trees: one blob per directory listing its entries (sorted by name) with their metadata,
// file contents as ordered lists of chunk IDs, and subdirectories as tree IDs. Used by every
// source (files, PostgreSQL data directories, Redis dumps). Pure value types and functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace bulwark::repo {

enum class NodeType : uint8_t {
  kFile = 0,
  kDir = 1,
  kSymlink = 2,
  kBlockDev = 3,
  kCharDev = 4,
  kFifo = 5,
  kSocket = 6,
};

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (no type bits)
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string user;  // names, for restores onto hosts with other numeric IDs
  std::string group;
  int64_t mtime_ns = 0;
  int64_t atime_ns = 0;
  int64_t ctime_ns = 0;  // change detection only; cannot be restored
  uint64_t inode = 0;    // change detection and hard-link grouping
  uint64_t device = 0;
  uint64_t links = 1;  // st_nlink; > 1 means hard links share `inode` within `device`
  uint64_t size = 0;
  uint64_t rdev = 0;        // device nodes
  std::string link_target;  // symlinks
  std::vector<Id> content;  // regular files: chunk IDs in order
  Id subtree;               // directories
  bool sparse = false;      // file had holes; restore leaves zero chunks as holes
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name, names unique
};

Bytes EncodeTree(const Tree& tree);
// Validates everything (lengths, types, sort order, no '/' or "." / ".." names).
Result<Tree> DecodeTree(ByteView data);

}  // namespace bulwark::repo

// Test support for check and prune: writes snapshots of small synthetic file trees straight
// through the repo layer (BlobWriter, trees, snapshots), with fixed-size chunks and tiny packs
// so that a handful of files spreads over many packs; helpers to find where a file's data
// lives and to load every blob of a snapshot. Single-threaded.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "repo/blob_writer.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "repo_test_util.h"

namespace bulwark::repo::testing {

// Deterministic incompressible bytes (xorshift64*).
inline Bytes PseudoRandom(size_t n, uint64_t seed) {
  Bytes out(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  for (size_t i = 0; i < n;) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1Dull;
    for (int b = 0; b < 8 && i < n; ++b, ++i) out[i] = static_cast<uint8_t>(v >> (8 * b));
  }
  return out;
}

struct FileSpec {
  std::string path;  // relative, e.g. "etc/app/a.conf"
  Bytes data;
};

inline constexpr size_t kTestChunk = 4096;

// Small packs (a few chunks each) so tests get many packs from little data.
inline InitOptions SmallPackOptions() {
  InitOptions o = FastInitOptions();
  o.config.pack_size = 16 * 1024;
  return o;
}

class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(Repository& repo) : repo_(repo) {}

  // Stores `files` (fixed 4 KiB chunks) and their directory trees through `writer` (or a
  // writer of its own), flushes the writer and then saves the snapshot.
  Result<Id> Write(const std::string& component, const std::vector<FileSpec>& files,
                   BlobWriter* writer = nullptr, int64_t time_ns = 0, uint64_t audit_seq = 0) {
    std::unique_ptr<BlobWriter> own;
    if (!writer) {
      WriterOptions wo;
      wo.workers = 2;
      own = std::make_unique<BlobWriter>(repo_, wo);
      writer = own.get();
    }
    Dir root;
    for (const auto& f : files) {
      Dir* d = &root;
      std::vector<std::string> parts;
      size_t start = 0;
      while (true) {
        size_t slash = f.path.find('/', start);
        if (slash == std::string::npos) break;
        parts.push_back(f.path.substr(start, slash - start));
        start = slash + 1;
      }
      for (const auto& p : parts) d = &d->dirs[p];
      Node n;
      n.name = f.path.substr(start);
      n.type = NodeType::kFile;
      n.mode = 0644;
      n.size = f.data.size();
      n.mtime_ns = 1'700'000'000'000'000'000;
      for (size_t off = 0; off < f.data.size(); off += kTestChunk) {
        size_t len = std::min(kTestChunk, f.data.size() - off);
        Bytes chunk(f.data.begin() + static_cast<long>(off),
                    f.data.begin() + static_cast<long>(off + len));
        BW_ASSIGN_OR_RETURN(Id id, writer->Add(BlobType::kData, std::move(chunk)));
        n.content.push_back(id);
      }
      d->files.push_back(std::move(n));
    }
    BW_ASSIGN_OR_RETURN(Id tree, StoreDir(root, *writer));
    BW_RETURN_IF_ERROR(writer->Flush());
    Snapshot s;
    s.time_unix_ns = time_ns ? time_ns : 1'700'000'000'000'000'000 + (counter_++) * 1'000'000'000;
    s.hostname = "testhost";
    s.username = "tester";
    s.component = component;
    s.kind = "files";
    s.paths = {"/"};
    s.tree = tree;
    s.audit_seq = audit_seq;
    return SaveSnapshot(repo_, s);
  }

 private:
  struct Dir {
    std::map<std::string, Dir> dirs;
    std::vector<Node> files;
  };
  Result<Id> StoreDir(const Dir& dir, BlobWriter& writer) {
    Tree t;
    for (const auto& [name, sub] : dir.dirs) {
      BW_ASSIGN_OR_RETURN(Id id, StoreDir(sub, writer));
      Node n;
      n.name = name;
      n.type = NodeType::kDir;
      n.mode = 0755;
      n.subtree = id;
      t.nodes.push_back(std::move(n));
    }
    for (const auto& f : dir.files) t.nodes.push_back(f);
    std::sort(t.nodes.begin(), t.nodes.end(),
              [](const Node& a, const Node& b) { return a.name < b.name; });
    return writer.Add(BlobType::kTree, EncodeTree(t));
  }

  Repository& repo_;
  int64_t counter_ = 0;
};

// The tree node at `path` ("etc/app/a.conf") of snapshot `snap`.
inline Result<Node> FindNode(const Repository& repo, const Id& snap, const std::string& path) {
  BW_ASSIGN_OR_RETURN(Snapshot s, LoadSnapshot(repo, snap));
  Node dir;
  dir.type = NodeType::kDir;
  dir.subtree = s.tree;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string name = path.substr(start, slash == std::string::npos ? slash : slash - start);
    BW_ASSIGN_OR_RETURN(Bytes plain, repo.LoadBlob(BlobType::kTree, dir.subtree));
    BW_ASSIGN_OR_RETURN(Tree t, DecodeTree(plain));
    auto it =
        std::find_if(t.nodes.begin(), t.nodes.end(), [&](const Node& n) { return n.name == name; });
    if (it == t.nodes.end()) return Error(ErrorCode::kNotFound, path);
    if (slash == std::string::npos) return *it;
    dir = *it;
    start = slash + 1;
  }
}

// Loads every tree and data blob of a snapshot; returns the number of data blobs.
inline Result<size_t> LoadEverything(const Repository& repo, const Id& snap) {
  BW_ASSIGN_OR_RETURN(Snapshot s, LoadSnapshot(repo, snap));
  size_t n = 0;
  std::vector<Id> stack = {s.tree};
  while (!stack.empty()) {
    Id t = stack.back();
    stack.pop_back();
    BW_ASSIGN_OR_RETURN(Bytes plain, repo.LoadBlob(BlobType::kTree, t));
    BW_ASSIGN_OR_RETURN(Tree tree, DecodeTree(plain));
    for (const auto& node : tree.nodes) {
      if (node.type == NodeType::kDir) stack.push_back(node.subtree);
      for (const auto& c : node.content) {
        BW_ASSIGN_OR_RETURN(Bytes data, repo.LoadBlob(BlobType::kData, c));
        (void)data;
        ++n;
      }
    }
  }
  return n;
}

inline std::set<std::string> ListKeys(storage::Backend& backend, const std::string& prefix) {
  std::set<std::string> out;
  auto l = backend.List(prefix);
  EXPECT_TRUE(l.ok());
  if (l.ok())
    for (const auto& o : *l) out.insert(o.key);
  return out;
}

inline void MakeWritable(const std::string& file) {
  std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
}

}  // namespace bulwark::repo::testing

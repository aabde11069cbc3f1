#include "repo/stats.h"

#include <unordered_map>
#include <unordered_set>

#include "repo/snapshot.h"
#include "repo/tree.h"

namespace bulwark::repo {

namespace {

struct TreeTotals {
  uint64_t bytes = 0;
  uint64_t files = 0;
};

// Totals of a tree, memoised by tree ID: snapshots share most subtrees, so each distinct tree
// is loaded once however many snapshots contain it.
class TreeSizer {
 public:
  explicit TreeSizer(const Repository& repo) : repo_(repo) {}

  Result<TreeTotals> Totals(const Id& tree_id, int depth = 0) {
    if (auto it = memo_.find(tree_id); it != memo_.end()) return it->second;
    if (depth > 4096) return Error(ErrorCode::kIntegrity, "tree nesting too deep");
    BW_ASSIGN_OR_RETURN(Bytes raw, repo_.LoadBlob(BlobType::kTree, tree_id));
    BW_ASSIGN_OR_RETURN(Tree tree, DecodeTree(raw));
    TreeTotals t;
    for (const Node& n : tree.nodes) {
      if (n.type == NodeType::kFile) {
        t.bytes += n.size;
        t.files += 1;
      } else if (n.type == NodeType::kDir) {
        BW_ASSIGN_OR_RETURN(TreeTotals sub, Totals(n.subtree, depth + 1));
        t.bytes += sub.bytes;
        t.files += sub.files;
      }
    }
    memo_.emplace(tree_id, t);
    return t;
  }

 private:
  const Repository& repo_;
  std::unordered_map<Id, TreeTotals, IdHash> memo_;
};

}  // namespace

double RepoStats::DedupRatio() const {
  return raw_data_bytes == 0
             ? 0.0
             : static_cast<double>(logical_bytes) / static_cast<double>(raw_data_bytes);
}

double RepoStats::CompressionRatio() const {
  return stored_bytes == 0 ? 0.0
                           : static_cast<double>(raw_bytes) / static_cast<double>(stored_bytes);
}

Result<RepoStats> ComputeStats(const Repository& repo) {
  RepoStats s;
  const Index& index = repo.index();
  s.packs = index.Packs().size();
  index.ForEachBlob([&](const IndexedBlob& b, const Id& pack) {
    // A blob stored in several packs counts once: at the location the index would use.
    auto loc = index.Find(b.type, b.id);
    if (!loc || loc->pack != pack || loc->offset != b.offset) return;
    if (b.type == BlobType::kData) {
      ++s.data_blobs;
      s.raw_data_bytes += b.raw_length;
    } else {
      ++s.tree_blobs;
    }
    s.raw_bytes += b.raw_length;
    s.stored_bytes += b.length;
  });

  auto& backend = const_cast<Repository&>(repo).backend();
  BW_ASSIGN_OR_RETURN(auto objects, backend.List(""));
  for (const auto& o : objects) {
    s.total_bytes += o.size;
    if (o.key.rfind("data/", 0) == 0) s.pack_bytes += o.size;
  }

  BW_ASSIGN_OR_RETURN(auto snapshots, LoadAllSnapshots(repo));
  s.snapshots = snapshots.size();
  TreeSizer sizer(repo);
  for (const Snapshot& snap : snapshots) {
    auto totals = sizer.Totals(snap.tree);
    if (!totals.ok()) return totals.error().Wrap("snapshot " + snap.id.ShortHex());
    s.logical_bytes += totals->bytes;
    s.files += totals->files;
  }
  return s;
}

nlohmann::json RepoStatsToJson(const RepoStats& s) {
  return {{"snapshots", s.snapshots},
          {"packs", s.packs},
          {"data_blobs", s.data_blobs},
          {"tree_blobs", s.tree_blobs},
          {"raw_bytes", s.raw_bytes},
          {"raw_data_bytes", s.raw_data_bytes},
          {"stored_bytes", s.stored_bytes},
          {"pack_bytes", s.pack_bytes},
          {"total_bytes", s.total_bytes},
          {"logical_bytes", s.logical_bytes},
          {"files", s.files},
          {"dedup_ratio", s.DedupRatio()},
          {"compression_ratio", s.CompressionRatio()}};
}

}  // namespace bulwark::repo

#include "repo/retention_hold.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "repo/parallel.h"
#include "repo/tree_reader.h"

namespace bulwark::repo {

namespace {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Packs already held by this process, per repository, and until when: a pack shared by many
// WAL segments or snapshots of one run costs one request.
std::mutex held_mu;
std::unordered_map<Id, std::unordered_map<Id, int64_t, IdHash>, IdHash> held_until;

Status HoldPacks(Repository& repo, const std::unordered_set<Id, IdHash>& packs) {
  const auto& lock = repo.write_lock();
  const int64_t now = UnixNow();
  // A pack written by this same backup falls short of the new object's date by the time
  // since; 1% of the retention (at least a minute, at most a day) is tolerated rather than
  // sending a request for each fresh pack.
  const int64_t tolerance = std::clamp<int64_t>(lock.retain_seconds / 100, 60, 86400);
  const int64_t needed = now + lock.retain_seconds - tolerance;
  // Extended a little beyond the new object's date (60 s for clocks), so that the backups of
  // the next days find the pack held and need no request.
  const int64_t extend_to =
      now + lock.retain_seconds + 60 + std::clamp<int64_t>(lock.retain_seconds / 10, 60, 7 * 86400);
  std::vector<Id> todo;
  {
    std::lock_guard guard(held_mu);
    auto& known = held_until[repo.config().repository_id];
    for (const Id& p : packs) {
      auto it = known.find(p);
      if (it == known.end() || it->second < needed) todo.push_back(p);
    }
  }
  BW_RETURN_IF_ERROR(ParallelFor(todo.size(), kIoThreads, [&](size_t i) -> Status {
    Status st = repo.backend().ExtendRetention(PackKey(todo[i]), needed, extend_to);
    if (!st.ok())
      return st.error().Wrap("holding pack " + todo[i].ShortHex() + " under object lock");
    return Status::Ok();
  }));
  std::lock_guard guard(held_mu);
  auto& known = held_until[repo.config().repository_id];
  for (const Id& p : todo) known[p] = needed;  // at least; perhaps extend_to
  return Status::Ok();
}

Status AddPack(const Repository& repo, BlobType type, const Id& id,
               std::unordered_set<Id, IdHash>& packs) {
  auto loc = repo.index().Find(type, id);
  if (!loc) {
    return Error(ErrorCode::kIntegrity, std::string(type == BlobType::kTree ? "tree" : "data") +
                                            " blob " + id.ShortHex() +
                                            " is in no index: its pack cannot be held");
  }
  packs.insert(loc->pack);
  return Status::Ok();
}

}  // namespace

Status HoldDataBlobs(Repository& repo, const std::vector<Id>& blobs) {
  if (!repo.write_lock().enabled() || blobs.empty()) return Status::Ok();
  std::unordered_set<Id, IdHash> packs;
  for (const Id& b : blobs) BW_RETURN_IF_ERROR(AddPack(repo, BlobType::kData, b, packs));
  return HoldPacks(repo, packs);
}

Status HoldSnapshotData(Repository& repo, const Id& tree) {
  if (!repo.write_lock().enabled()) return Status::Ok();
  std::unordered_set<Id, IdHash> packs;
  std::unordered_set<Id, IdHash> seen_trees{tree}, seen_data;
  std::vector<Id> level{tree};
  TreeReader trees(repo);
  while (!level.empty()) {
    std::vector<Id> next;
    for (const Id& t : level) {
      BW_RETURN_IF_ERROR(AddPack(repo, BlobType::kTree, t, packs));
      BW_ASSIGN_OR_RETURN(Tree decoded, trees.Load(t));
      for (const auto& node : decoded.nodes) {
        if (node.type == NodeType::kDir) {
          if (seen_trees.insert(node.subtree).second) next.push_back(node.subtree);
        } else if (node.type == NodeType::kFile) {
          for (const Id& c : node.content) {
            if (seen_data.insert(c).second)
              BW_RETURN_IF_ERROR(AddPack(repo, BlobType::kData, c, packs));
          }
        }
      }
    }
    level = std::move(next);
  }
  return HoldPacks(repo, packs);
}

}  // namespace bulwark::repo

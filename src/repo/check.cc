#include "repo/check.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/cancel.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "repo/deletion.h"
#include "repo/lock.h"
#include "repo/pack.h"
#include "repo/parallel.h"
#include "repo/snapshot.h"
#include "repo/tree.h"

namespace bulwark::repo {
namespace {

const char* TypeName(BlobType t) { return t == BlobType::kTree ? "tree" : "data"; }

struct BlobKey {
  Id id;
  BlobType type;
  bool operator==(const BlobKey&) const = default;
};
struct BlobKeyHash {
  size_t operator()(const BlobKey& k) const { return IdHash()(k.id) ^ static_cast<size_t>(k.type); }
};
// One stored copy of a blob.
struct LocKey {
  Id pack;
  BlobKey blob;
  bool operator==(const LocKey&) const = default;
};
struct LocKeyHash {
  size_t operator()(const LocKey& k) const { return IdHash()(k.pack) * 31 ^ BlobKeyHash()(k.blob); }
};

// "data/ab/ab12..." -> pack ID.
std::optional<Id> PackIdFromKey(const std::string& key) {
  auto slash = key.rfind('/');
  if (key.rfind("data/", 0) != 0 || slash == std::string::npos) return std::nullopt;
  auto id = Id::FromHex(std::string_view(key).substr(slash + 1));
  if (!id || PackKey(*id) != key) return std::nullopt;
  return id;
}

// Deterministic pseudo-random rank of a pack for --read-data-subset.
uint64_t SubsetRank(uint64_t seed, const Id& pack) {
  Bytes in;
  PutU64(in, seed);
  in.insert(in.end(), pack.bytes.begin(), pack.bytes.end());
  Id h = crypto::Sha256(in);
  uint64_t r;
  std::memcpy(&r, h.bytes.data(), sizeof(r));
  return r;
}

class Checker {
 public:
  Checker(Repository& repo, const CheckOptions& options) : repo_(repo), options_(options) {}

  Result<CheckReport> Run();

 private:
  void Error_(std::string text) {
    std::lock_guard lock(mu_);
    report_.errors.push_back(std::move(text));
  }
  void Warning(std::string text) {
    std::lock_guard lock(mu_);
    report_.warnings.push_back(std::move(text));
  }
  void BadLocation(const Id& pack, const IndexedBlob& b) {
    std::lock_guard lock(mu_);
    bad_locations_.insert(LocKey{pack, BlobKey{b.id, b.type}});
  }

  Status LoadIndexFiles();
  Status LoadDeletionRecords();
  Status CheckPacks();
  Status CheckOnePack(const Id& pack, uint64_t size, bool read_data);
  void ComputeUnusable();
  Status LoadSnapshots();
  Status CheckSnapshots();
  bool Usable(BlobType type, const Id& id) const;
  Result<Tree> LoadTree(const Id& id) const;
  bool Scan(const Id& tree);  // true if the tree or anything below it is damaged
  void Collect(const Id& tree, const std::string& path, std::vector<std::string>& out);

  Repository& repo_;
  CheckOptions options_;
  std::mutex mu_;
  CheckReport report_;

  Index index_;                                      // from the index files that decode
  std::unordered_set<Id, IdHash> condemned_;         // named by deletion records
  std::unordered_map<Id, uint64_t, IdHash> stored_;  // packs in storage -> size
  std::unordered_set<Id, IdHash> bad_packs_;         // missing: every copy in them is lost
  std::unordered_set<LocKey, LocKeyHash> bad_locations_;
  // Blobs with no intact copy left, and, for blobs with a damaged copy, their intact copies.
  std::unordered_set<BlobKey, BlobKeyHash> unusable_;
  std::unordered_map<BlobKey, BlobLocation, BlobKeyHash> good_copy_;

  // Tree walk state.
  enum class TreeState : uint8_t { kScanning, kClean, kDamagedBelow, kUnreadable };
  std::vector<Snapshot> snapshots_;  // loaded before the index (see Run)
  std::unordered_map<Id, TreeState, IdHash> trees_;
  std::unordered_map<Id, std::string, IdHash> tree_errors_;
  struct BlobKeyLess {
    bool operator()(const BlobKey& a, const BlobKey& b) const {
      return std::tie(a.type, a.id) < std::tie(b.type, b.id);
    }
  };
  std::set<BlobKey, BlobKeyLess> unindexed_;  // referenced but in no index
};

Status Checker::LoadIndexFiles() {
  BW_ASSIGN_OR_RETURN(auto ids, repo_.ListObjects(ObjectKind::kIndex));
  std::vector<std::vector<IndexedPack>> files(ids.size());
  std::vector<bool> good(ids.size(), false);
  BW_RETURN_IF_ERROR(ParallelFor(ids.size(), kIoThreads, [&](size_t i) -> Status {
    auto plain = repo_.LoadObject(ObjectKind::kIndex, ids[i]);
    if (!plain.ok()) {
      if (plain.error().code() == ErrorCode::kNotFound) return Status::Ok();  // pruned meanwhile
      Error_(fmt::format("index file {}: {}", ids[i].ShortHex(), plain.error().message()));
      return Status::Ok();
    }
    auto decoded = DecodeIndexFile(*plain);
    if (!decoded.ok()) {
      Error_(fmt::format("index file {} does not decode: {}", ids[i].ShortHex(),
                         decoded.error().message()));
      return Status::Ok();
    }
    files[i] = std::move(*decoded);
    good[i] = true;
    return Status::Ok();
  }));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!good[i]) continue;
    ++report_.counters.index_files;
    for (const auto& p : files[i]) index_.AddPack(p);
    index_.AddIndexFile(ids[i]);
  }
  return Status::Ok();
}

Status Checker::LoadDeletionRecords() {
  BW_ASSIGN_OR_RETURN(auto ids, repo_.ListObjects(ObjectKind::kDeletion));
  for (const auto& id : ids) {
    auto rec = LoadDeletionRecord(repo_, id);
    if (!rec.ok()) {
      if (rec.error().code() == ErrorCode::kNotFound) continue;  // swept meanwhile
      Error_(fmt::format("deletion record {} does not decode: {}", id.ShortHex(),
                         rec.error().message()));
      continue;
    }
    for (const auto& p : rec->packs) {
      condemned_.insert(p);
      index_.Condemn(p);
    }
  }
  return Status::Ok();
}

Status Checker::CheckOnePack(const Id& pack, uint64_t size, bool read_data) {
  if (CancelRequested()) return Error(ErrorCode::kCancelled, "check interrupted");
  const std::string key = PackKey(pack);
  std::vector<IndexedBlob> entries = index_.BlobsInPack(pack);
  uint64_t needed = 0;
  for (const auto& b : entries) needed = std::max<uint64_t>(needed, uint64_t{b.offset} + b.length);

  bool truncated = size < needed;
  if (truncated) {
    Error_(fmt::format("pack {} is truncated: {} bytes, but the index places blobs up to byte {}",
                       pack.ShortHex(), size, needed));
    for (const auto& b : entries) {
      if (uint64_t{b.offset} + b.length > size) BadLocation(pack, b);
    }
  }

  Result<std::vector<IndexedBlob>> header = Error(ErrorCode::kFailure, "not read");
  Bytes whole;
  if (read_data) {
    auto data = repo_.backend().Get(key);
    if (!data.ok()) {
      if (data.error().code() == ErrorCode::kNotFound) {
        Error_(fmt::format("pack {} disappeared during the check", pack.ShortHex()));
        std::lock_guard lock(mu_);
        bad_packs_.insert(pack);
        return Status::Ok();
      }
      Error_(fmt::format("pack {}: {}", pack.ShortHex(), data.error().message()));
      return Status::Ok();
    }
    whole = std::move(*data);
    {
      std::lock_guard lock(mu_);
      ++report_.counters.packs_read;
      report_.counters.bytes_read += whole.size();
    }
    if (options_.progress) {
      options_.progress->files_done.fetch_add(1, std::memory_order_relaxed);
      options_.progress->bytes_done.fetch_add(whole.size(), std::memory_order_relaxed);
    }
    if (crypto::Sha256(whole) != pack) {
      Error_(
          fmt::format("pack {}: content does not match its name (SHA-256 mismatch): the "
                      "stored bytes are damaged",
                      pack.ShortHex()));
    }
    header = ParsePackHeader(repo_.key().encryption, whole, whole.size());
  } else {
    header = ReadPackHeader(repo_.backend(), repo_.key().encryption, pack);
  }

  if (!header.ok()) {
    if (!truncated) {
      Error_(
          fmt::format("pack {}: header unreadable: {}", pack.ShortHex(), header.error().message()));
    }
  } else {
    struct Entry {
      uint32_t offset, length, raw_length;
    };
    std::unordered_map<BlobKey, Entry, BlobKeyHash> in_header;
    for (const auto& h : *header) in_header[{h.id, h.type}] = {h.offset, h.length, h.raw_length};
    size_t disagree = 0;
    for (const auto& b : entries) {
      auto it = in_header.find({b.id, b.type});
      if (it == in_header.end() || it->second.offset != b.offset || it->second.length != b.length ||
          it->second.raw_length != b.raw_length) {
        if (disagree++ < 3) {
          Error_(
              fmt::format("pack {}: the index entry of {} blob {} disagrees with the pack "
                          "header",
                          pack.ShortHex(), TypeName(b.type), b.id.ShortHex()));
        }
        BadLocation(pack, b);
      }
      if (it != in_header.end()) in_header.erase(it);
    }
    if (disagree > 3) {
      Error_(fmt::format("pack {}: {} more index entries disagree with the pack header",
                         pack.ShortHex(), disagree - 3));
    }
    if (!in_header.empty()) {
      Warning(fmt::format("pack {} holds {} blobs that no index lists", pack.ShortHex(),
                          in_header.size()));
    }
  }

  if (read_data) {
    size_t damaged = 0;
    uint64_t verified = 0;
    for (const auto& b : entries) {
      if (uint64_t{b.offset} + b.length > whole.size()) continue;  // reported as truncation
      ByteView sealed(whole.data() + b.offset, b.length);
      auto plain = repo_.DecodeBlob(b.type, b.id, sealed);
      if (plain.ok() && plain->size() != b.raw_length) {
        plain = Error(ErrorCode::kIntegrity, "length differs from the index");
      }
      if (!plain.ok()) {
        if (damaged++ < 3) {
          Error_(fmt::format("pack {}: {} blob {} is damaged: {}", pack.ShortHex(),
                             TypeName(b.type), b.id.ShortHex(), plain.error().message()));
        }
        BadLocation(pack, b);
      } else {
        ++verified;
      }
    }
    if (damaged > 3) {
      Error_(fmt::format("pack {}: {} more damaged blobs", pack.ShortHex(), damaged - 3));
    }
    std::lock_guard lock(mu_);
    report_.counters.blobs_verified += verified;
  }
  return Status::Ok();
}

Status Checker::CheckPacks() {
  BW_ASSIGN_OR_RETURN(auto listing, repo_.backend().List("data/"));
  for (const auto& o : listing) {
    auto id = PackIdFromKey(o.key);
    if (!id) {
      if (o.key.find(".tmp") == std::string::npos) {
        Warning(fmt::format("unexpected object {} in the data area", o.key));
      }
      continue;
    }
    stored_[*id] = o.size;
  }
  report_.counters.packs_in_storage = stored_.size();

  std::vector<Id> indexed = index_.Packs();
  std::sort(indexed.begin(), indexed.end());
  report_.counters.packs = indexed.size();
  report_.counters.blobs = index_.BlobCount();

  std::vector<std::pair<Id, uint64_t>> present;
  size_t missing_condemned = 0;
  for (const auto& p : indexed) {
    auto it = stored_.find(p);
    if (it != stored_.end()) {
      present.emplace_back(p, it->second);
      continue;
    }
    bad_packs_.insert(p);
    if (condemned_.count(p)) {
      // Prune deleted it and has not yet removed the index files naming it: not damage,
      // unless a snapshot still needs a blob only it held (found by the tree walk).
      ++missing_condemned;
      continue;
    }
    Error_(fmt::format("pack {} is missing ({} blobs indexed in it)", p.ShortHex(),
                       index_.BlobsInPack(p).size()));
  }
  if (missing_condemned > 0) {
    Warning(
        fmt::format("{} packs condemned by an unfinished prune are already deleted; the next "
                    "prune removes their index entries",
                    missing_condemned));
  }

  // Packs in storage that no index names: data of a running or interrupted backup.
  std::vector<std::pair<Id, uint64_t>> unreferenced;
  for (const auto& [id, size] : stored_) {
    if (!index_.HasPack(id)) unreferenced.emplace_back(id, size);
  }
  std::sort(unreferenced.begin(), unreferenced.end());
  report_.counters.unreferenced_packs = unreferenced.size();
  for (size_t i = 0; i < unreferenced.size() && i < 10; ++i) {
    Warning(
        fmt::format("pack {} ({} bytes) is in no index: unreferenced data from a running or "
                    "interrupted backup (prune collects it)",
                    unreferenced[i].first.ShortHex(), unreferenced[i].second));
  }
  if (unreferenced.size() > 10) {
    Warning(fmt::format("{} more packs are in no index", unreferenced.size() - 10));
  }

  // Which packs to download.
  std::unordered_set<Id, IdHash> to_read;
  if (options_.read_data) {
    double pct = options_.read_data_percent;
    if (pct >= 100.0) {
      for (const auto& [p, s] : present) to_read.insert(p);
    } else {
      std::vector<std::pair<uint64_t, Id>> ranked;
      for (const auto& [p, s] : present) ranked.emplace_back(SubsetRank(report_.subset_seed, p), p);
      std::sort(ranked.begin(), ranked.end());
      size_t n = static_cast<size_t>(std::ceil(pct / 100.0 * static_cast<double>(ranked.size())));
      for (size_t i = 0; i < n && i < ranked.size(); ++i) to_read.insert(ranked[i].second);
    }
    if (options_.progress) {
      uint64_t bytes = 0;
      for (const auto& [p, s] : present)
        if (to_read.count(p)) bytes += s;
      options_.progress->files_total.store(to_read.size());
      options_.progress->bytes_total.store(bytes);
      options_.progress->totals_final.store(true);
    }
  }

  int threads = options_.threads > 0 ? options_.threads : (options_.read_data ? 4 : kIoThreads);
  return ParallelFor(present.size(), threads, [&](size_t i) -> Status {
    const auto& [pack, size] = present[i];
    return CheckOnePack(pack, size, to_read.count(pack) > 0);
  });
}

void Checker::ComputeUnusable() {
  std::unordered_set<BlobKey, BlobKeyHash> damaged;  // at least one copy lost
  index_.ForEachBlob([&](const IndexedBlob& b, const Id& pack) {
    if (bad_packs_.count(pack) || bad_locations_.count(LocKey{pack, BlobKey{b.id, b.type}}))
      damaged.insert(BlobKey{b.id, b.type});
  });
  if (damaged.empty()) return;
  index_.ForEachBlob([&](const IndexedBlob& b, const Id& pack) {
    BlobKey k{b.id, b.type};
    if (!damaged.count(k) || good_copy_.count(k)) return;
    if (bad_packs_.count(pack) || bad_locations_.count(LocKey{pack, k})) return;
    good_copy_[k] = BlobLocation{pack, b.offset, b.length, b.raw_length};
  });
  for (const auto& k : damaged) {
    if (!good_copy_.count(k)) unusable_.insert(k);
  }
}

bool Checker::Usable(BlobType type, const Id& id) const {
  return !unusable_.count(BlobKey{id, type});
}

Result<Tree> Checker::LoadTree(const Id& id) const {
  BlobKey k{id, BlobType::kTree};
  std::optional<BlobLocation> loc;
  if (auto it = good_copy_.find(k); it != good_copy_.end()) {
    loc = it->second;
  } else {
    loc = index_.Find(BlobType::kTree, id);
  }
  if (!loc) return Error(ErrorCode::kIntegrity, "not in the index");
  if (unusable_.count(k)) return Error(ErrorCode::kIntegrity, "every stored copy is damaged");
  auto sealed = repo_.backend().GetRange(PackKey(loc->pack), loc->offset, loc->length);
  if (!sealed.ok()) return sealed.error().Wrap("pack " + loc->pack.ShortHex());
  auto plain = repo_.DecodeBlob(BlobType::kTree, id, *sealed);
  if (!plain.ok()) return plain.error().Wrap("pack " + loc->pack.ShortHex());
  auto tree = DecodeTree(*plain);
  if (!tree.ok()) return tree.error().Wrap("pack " + loc->pack.ShortHex());
  return tree;
}

bool Checker::Scan(const Id& tree_id) {
  if (auto it = trees_.find(tree_id); it != trees_.end()) {
    // kScanning here means a cycle, which content addressing rules out for honest data.
    return it->second != TreeState::kClean;
  }
  if (CancelRequested()) return false;
  trees_[tree_id] = TreeState::kScanning;
  auto tree = LoadTree(tree_id);
  if (!tree.ok()) {
    trees_[tree_id] = TreeState::kUnreadable;
    tree_errors_[tree_id] = tree.error().message();
    if (!index_.Find(BlobType::kTree, tree_id)) unindexed_.insert({tree_id, BlobType::kTree});
    return true;
  }
  bool damaged = false;
  for (const auto& node : tree->nodes) {
    if (node.type == NodeType::kDir) {
      if (Scan(node.subtree)) damaged = true;
    } else if (node.type == NodeType::kFile) {
      for (const auto& c : node.content) {
        if (!index_.Find(BlobType::kData, c)) {
          unindexed_.insert({c, BlobType::kData});
          damaged = true;
        } else if (!Usable(BlobType::kData, c)) {
          damaged = true;
        }
      }
    }
  }
  trees_[tree_id] = damaged ? TreeState::kDamagedBelow : TreeState::kClean;
  return damaged;
}

void Checker::Collect(const Id& tree_id, const std::string& path, std::vector<std::string>& out) {
  auto it = trees_.find(tree_id);
  if (it == trees_.end() || it->second == TreeState::kClean) return;
  std::string dir = path.empty() ? "/" : path + "/";
  if (it->second == TreeState::kUnreadable) {
    out.push_back(dir + " (directory listing unreadable: everything below is lost)");
    return;
  }
  auto tree = LoadTree(tree_id);
  if (!tree.ok()) {
    out.push_back(dir + " (directory listing unreadable: everything below is lost)");
    return;
  }
  for (const auto& node : tree->nodes) {
    std::string child = path + "/" + node.name;
    if (node.type == NodeType::kDir) {
      Collect(node.subtree, child, out);
    } else if (node.type == NodeType::kFile) {
      size_t lost = 0;
      for (const auto& c : node.content) {
        if (!index_.Find(BlobType::kData, c) || !Usable(BlobType::kData, c)) ++lost;
      }
      if (lost > 0) {
        out.push_back(lost == node.content.size() ? child
                                                  : fmt::format("{} ({} of {} chunks damaged)",
                                                                child, lost, node.content.size()));
      }
    }
  }
}

Status Checker::LoadSnapshots() {
  BW_ASSIGN_OR_RETURN(auto ids, repo_.ListObjects(ObjectKind::kSnapshot));
  std::vector<std::optional<Snapshot>> snaps(ids.size());
  std::vector<std::string> failures(ids.size());
  BW_RETURN_IF_ERROR(ParallelFor(ids.size(), kIoThreads, [&](size_t i) -> Status {
    auto s = LoadSnapshot(repo_, ids[i]);
    if (s.ok()) {
      snaps[i] = std::move(*s);
    } else if (s.error().code() != ErrorCode::kNotFound) {  // not forgotten meanwhile
      failures[i] = s.error().message();
    }
    return Status::Ok();
  }));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!failures[i].empty()) {
      Error_(fmt::format("snapshot {} does not decode: {}", ids[i].ShortHex(), failures[i]));
      AffectedSnapshot a;
      a.snapshot = ids[i];
      a.unreadable = true;
      report_.affected.push_back(std::move(a));
    }
    if (snaps[i]) {
      ++report_.counters.snapshots;
      snapshots_.push_back(std::move(*snaps[i]));
    }
  }
  return Status::Ok();
}

Status Checker::CheckSnapshots() {
  std::vector<const Snapshot*> ordered;
  for (const auto& s : snapshots_) ordered.push_back(&s);
  std::sort(ordered.begin(), ordered.end(), [](const Snapshot* a, const Snapshot* b) {
    return std::tie(a->time_unix_ns, a->id) < std::tie(b->time_unix_ns, b->id);
  });

  std::vector<bool> damaged(ordered.size(), false);
  for (size_t i = 0; i < ordered.size(); ++i) {
    damaged[i] = Scan(ordered[i]->tree);
    if (CancelRequested()) return Error(ErrorCode::kCancelled, "check interrupted");
  }
  report_.counters.trees = trees_.size();

  // One error per unreadable tree and a summary of unindexed blobs; the per-path damage
  // follows in `affected`.
  std::vector<std::pair<Id, std::string>> bad_trees(tree_errors_.begin(), tree_errors_.end());
  std::sort(bad_trees.begin(), bad_trees.end());
  for (const auto& [id, why] : bad_trees) {
    Error_(fmt::format("tree {} is damaged: {}", id.ShortHex(), why));
  }
  size_t unindexed_data = 0;
  std::string examples;
  for (const auto& k : unindexed_) {
    if (k.type != BlobType::kData) continue;
    if (unindexed_data++ < 3) examples += (examples.empty() ? "" : ", ") + k.id.ShortHex();
  }
  if (unindexed_data > 0) {
    Error_(fmt::format("{} data blobs referenced by snapshots are in no index (e.g. {})",
                       unindexed_data, examples));
  }

  for (size_t i = 0; i < ordered.size(); ++i) {
    if (!damaged[i]) continue;
    AffectedSnapshot a;
    a.snapshot = ordered[i]->id;
    a.component = ordered[i]->component;
    a.time = FormatTimeRfc3339(ordered[i]->time_unix_ns);
    Collect(ordered[i]->tree, "", a.paths);
    Error_(fmt::format("snapshot {} (component {}, {}): {} damaged path{}", a.snapshot.ShortHex(),
                       a.component, a.time, a.paths.size(), a.paths.size() == 1 ? "" : "s"));
    report_.affected.push_back(std::move(a));
  }
  return Status::Ok();
}

Result<CheckReport> Checker::Run() {
  if (options_.read_data &&
      !(options_.read_data_percent > 0.0 && options_.read_data_percent <= 100.0)) {
    return Error(ErrorCode::kUsage, "--read-data-subset must be between 0% and 100%");
  }
  report_.read_data = options_.read_data;
  report_.read_data_percent = options_.read_data ? options_.read_data_percent : 0.0;
  if (options_.subset_seed) {
    report_.subset_seed = *options_.subset_seed;
  } else {
    Bytes r = crypto::RandomBytes(8);
    std::memcpy(&report_.subset_seed, r.data(), sizeof(uint64_t));
  }

  std::unique_ptr<RepoLock> lock;
  if (options_.take_lock) {
    BW_ASSIGN_OR_RETURN(lock, RepoLock::Acquire(repo_, LockKind::kExclusive, "check"));
  }

  // Snapshots first, then the index, then the pack listing: backups keep running during a
  // check, and whatever a listed snapshot depends on was durable before it, so it is in the
  // later listings. Snapshots saved after the listing are simply not checked this time.
  BW_RETURN_IF_ERROR(LoadSnapshots());
  BW_RETURN_IF_ERROR(LoadIndexFiles());
  BW_RETURN_IF_ERROR(LoadDeletionRecords());
  BW_RETURN_IF_ERROR(CheckPacks());
  ComputeUnusable();
  BW_RETURN_IF_ERROR(CheckSnapshots());

  if (lock) BW_RETURN_IF_ERROR(lock->Release());
  return std::move(report_);
}

}  // namespace

std::vector<std::string> CheckReport::DamageLines() const {
  std::vector<std::string> out;
  for (const auto& a : affected) {
    if (a.unreadable) {
      out.push_back(
          fmt::format("snapshot {}: the snapshot object is damaged (the whole snapshot "
                      "is lost)",
                      a.snapshot.ShortHex()));
      continue;
    }
    for (const auto& p : a.paths) {
      out.push_back(
          fmt::format("snapshot {} (component {}): {}", a.snapshot.ShortHex(), a.component, p));
    }
  }
  return out;
}

Result<CheckReport> Check(Repository& repo, const CheckOptions& options) {
  Checker checker(repo, options);
  return checker.Run();
}

nlohmann::json CheckReportToJson(const CheckReport& r) {
  nlohmann::json j;
  j["ok"] = r.ok();
  j["errors"] = r.errors;
  j["warnings"] = r.warnings;
  auto affected = nlohmann::json::array();
  for (const auto& a : r.affected) {
    affected.push_back({{"snapshot", a.snapshot.Hex()},
                        {"component", a.component},
                        {"time", a.time},
                        {"unreadable", a.unreadable},
                        {"paths", a.paths}});
  }
  j["affected"] = affected;
  const auto& c = r.counters;
  j["counters"] = {{"index_files", c.index_files},
                   {"packs", c.packs},
                   {"packs_in_storage", c.packs_in_storage},
                   {"unreferenced_packs", c.unreferenced_packs},
                   {"blobs", c.blobs},
                   {"snapshots", c.snapshots},
                   {"trees", c.trees},
                   {"packs_read", c.packs_read},
                   {"bytes_read", c.bytes_read},
                   {"blobs_verified", c.blobs_verified}};
  j["read_data"] = r.read_data;
  if (r.read_data) {
    j["read_data_percent"] = r.read_data_percent;
    if (r.read_data_percent < 100.0) j["subset_seed"] = r.subset_seed;
  }
  return j;
}

Result<double> ParseSubsetPercent(std::string_view text) {
  std::string_view t = text;
  if (!t.empty() && t.back() == '%') t.remove_suffix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size() || !(v > 0.0) || v > 100.0) {
    return Error(ErrorCode::kUsage,
                 fmt::format("--read-data-subset \"{}\": expected a percentage in (0, 100], e.g. "
                             "10%",
                             text));
  }
  return v;
}

}  // namespace bulwark::repo

#include "repo/prune.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/cancel.h"
#include "core/host.h"
#include "repo/blob_writer.h"
#include "repo/deletion.h"
#include "repo/lock.h"
#include "repo/pack.h"
#include "repo/parallel.h"
#include "repo/redis_stream_store.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "repo/wal_store.h"

namespace bulwark::repo {
namespace {

struct BlobKey {
  Id id;
  BlobType type;
  bool operator==(const BlobKey&) const = default;
};
struct BlobKeyHash {
  size_t operator()(const BlobKey& k) const { return IdHash()(k.id) ^ static_cast<size_t>(k.type); }
};
using BlobSet = std::unordered_set<BlobKey, BlobKeyHash>;

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::optional<Id> PackIdFromKey(const std::string& key) {
  auto slash = key.rfind('/');
  if (key.rfind("data/", 0) != 0 || slash == std::string::npos) return std::nullopt;
  auto id = Id::FromHex(std::string_view(key).substr(slash + 1));
  if (!id || PackKey(*id) != key) return std::nullopt;
  return id;
}

Error Cancelled() { return Error(ErrorCode::kCancelled, "prune interrupted"); }

constexpr size_t kMaxBlobsPerIndexFile = 50'000;

class Pruner {
 public:
  Pruner(Repository& repo, const PruneOptions& options) : repo_(repo), options_(options) {}
  Result<PruneReport> Run();

 private:
  struct StoredPack {
    uint64_t size = 0;
    int64_t mtime_unix = 0;
  };

  Status ListStoredPacks();
  // Blobs every current snapshot references (trees walked). Reloads the index once if a
  // snapshot names a blob the loaded index lacks (a backup that finished meanwhile);
  // kIntegrity when it still cannot be resolved.
  Result<BlobSet> UsedBlobs();
  Result<BlobSet> WalkSnapshots(std::string* missing);
  // Live writer locks that could have deduplicated against what `record` condemns.
  bool Blocked(const DeletionRecord& record, const std::vector<LockInfo>& locks) const;
  Status Sweep(const Id& record_id, const DeletionRecord& record, const BlobSet& used);
  Status WriteIndexFiles(const std::vector<Id>& packs, uint64_t* written);
  Status CheckStillLocked() const;
  Status Mark(const std::vector<LockInfo>& locks, int64_t t0);
  // Object lock: until when `info` is retained (0 if it is deletable now). Every object is
  // locked for the repository's retention after it was written (with the clock-skew margin,
  // so nothing is ever tried early); prune never deletes, and never repacks, such objects.
  int64_t LockedUntil(const storage::ObjectInfo& info) const;
  int64_t PackLockedUntil(const Id& pack) const;
  // Locked-until of an index file or deletion record by key; not listed means gone (0),
  // except for this run's own record, which was just written.
  int64_t ObjectLockedUntil(const std::string& key) const;
  Status ListLockedMeta();

  Repository& repo_;
  PruneOptions options_;
  PruneReport report_;
  std::unique_ptr<RepoLock> lock_;
  std::unordered_map<Id, StoredPack, IdHash> stored_;
  uint64_t repack_written_ = 0;  // sealed bytes the repack stored again
  std::optional<BlobSet> used_;  // valid for the index and snapshots loaded at the start
  // Object lock only: index files and deletion records as listed at the start (mtimes).
  std::unordered_map<std::string, storage::ObjectInfo> meta_;
  int64_t now_unix_ = 0;
};

int64_t Pruner::LockedUntil(const storage::ObjectInfo& info) const {
  const auto& lock = repo_.config().object_lock;
  if (!lock.enabled()) return 0;
  int64_t until = RetainUntil(lock, info, options_.clock_skew_margin.count());
  return until > now_unix_ ? until : 0;
}

int64_t Pruner::PackLockedUntil(const Id& pack) const {
  auto it = stored_.find(pack);
  if (it == stored_.end()) return 0;  // gone already
  storage::ObjectInfo info;
  info.size = it->second.size;
  info.mtime_unix = it->second.mtime_unix;
  return LockedUntil(info);
}

int64_t Pruner::ObjectLockedUntil(const std::string& key) const {
  if (!repo_.config().object_lock.enabled()) return 0;
  auto it = meta_.find(key);
  if (it != meta_.end()) return LockedUntil(it->second);
  if (key == "deletions/" + report_.deletion_record) {
    storage::ObjectInfo info;
    info.mtime_unix = now_unix_;
    return LockedUntil(info);
  }
  return 0;
}

Status Pruner::ListLockedMeta() {
  meta_.clear();
  if (!repo_.config().object_lock.enabled()) return Status::Ok();
  for (const char* prefix : {"index/", "deletions/"}) {
    BW_ASSIGN_OR_RETURN(auto listing, repo_.backend().List(prefix));
    for (auto& o : listing) meta_[o.key] = o;
  }
  return Status::Ok();
}

Status Pruner::CheckStillLocked() const {
  if (CancelRequested()) return Cancelled();
  if (lock_ && !lock_->StillValid()) {
    return Error(ErrorCode::kLocked, "lost the exclusive repository lock; prune stopped");
  }
  return Status::Ok();
}

Status Pruner::ListStoredPacks() {
  stored_.clear();
  BW_ASSIGN_OR_RETURN(auto listing, repo_.backend().List("data/"));
  for (const auto& o : listing) {
    if (auto id = PackIdFromKey(o.key)) stored_[*id] = StoredPack{o.size, o.mtime_unix};
  }
  return Status::Ok();
}

Result<BlobSet> Pruner::WalkSnapshots(std::string* missing) {
  missing->clear();
  BW_ASSIGN_OR_RETURN(auto ids, repo_.ListObjects(ObjectKind::kSnapshot));
  std::vector<std::optional<Snapshot>> snaps(ids.size());
  BW_RETURN_IF_ERROR(ParallelFor(ids.size(), kIoThreads, [&](size_t i) -> Status {
    auto s = LoadSnapshot(repo_, ids[i]);
    if (s.ok()) {
      snaps[i] = std::move(*s);
      return Status::Ok();
    }
    if (s.error().code() == ErrorCode::kNotFound) return Status::Ok();  // forgotten meanwhile
    return Error(ErrorCode::kIntegrity,
                 fmt::format("snapshot {} cannot be read ({}); prune cannot tell which data is "
                             "still used: run `bulwark check`",
                             ids[i].ShortHex(), s.error().message()));
  }));

  BlobSet used;
  const Index& index = repo_.index();
  std::vector<std::pair<Id, const Snapshot*>> stack;
  for (const auto& s : snaps) {
    if (s) stack.emplace_back(s->tree, &*s);
  }
  while (!stack.empty()) {
    if (CancelRequested()) return Cancelled();
    auto [tree_id, snap] = stack.back();
    stack.pop_back();
    if (!used.insert(BlobKey{tree_id, BlobType::kTree}).second) continue;
    if (!index.Find(BlobType::kTree, tree_id)) {
      *missing = fmt::format("tree {} of snapshot {} is in no index", tree_id.ShortHex(),
                             snap->id.ShortHex());
      return used;
    }
    auto plain = repo_.LoadBlob(BlobType::kTree, tree_id);
    if (!plain.ok()) {
      return Error(ErrorCode::kIntegrity,
                   fmt::format("tree {} of snapshot {} cannot be read ({}); prune cannot tell "
                               "which data is still used: run `bulwark check`",
                               tree_id.ShortHex(), snap->id.ShortHex(), plain.error().message()));
    }
    auto tree = DecodeTree(*plain);
    if (!tree.ok()) {
      return Error(ErrorCode::kIntegrity,
                   fmt::format("tree {} of snapshot {} does not decode ({}): run `bulwark check`",
                               tree_id.ShortHex(), snap->id.ShortHex(), tree.error().message()));
    }
    for (const auto& node : tree->nodes) {
      if (node.type == NodeType::kDir) {
        stack.emplace_back(node.subtree, snap);
      } else if (node.type == NodeType::kFile) {
        for (const auto& c : node.content) {
          if (!used.insert(BlobKey{c, BlobType::kData}).second) continue;
          if (!index.Find(BlobType::kData, c)) {
            *missing = fmt::format("data blob {} of snapshot {} is in no index", c.ShortHex(),
                                   snap->id.ShortHex());
            return used;
          }
        }
      }
    }
  }
  return used;
}

Result<BlobSet> Pruner::UsedBlobs() {
  std::string missing;
  for (int attempt = 0; attempt < 2; ++attempt) {
    BW_ASSIGN_OR_RETURN(BlobSet used, WalkSnapshots(&missing));
    if (missing.empty()) {
      // Archived PostgreSQL WAL files reference data blobs outside any snapshot.
      BW_RETURN_IF_ERROR(ForEachWalBlob(repo_, [&used](const Id& id) {
        used.insert(BlobKey{id, BlobType::kData});
      }));
      // So do the stored segments of Redis replication streams.
      BW_RETURN_IF_ERROR(ForEachRedisStreamBlob(repo_, [&used](const Id& id) {
        used.insert(BlobKey{id, BlobType::kData});
      }));
      return used;
    }
    // A backup that finished after the index was loaded: its index files are there now.
    BW_RETURN_IF_ERROR(repo_.LoadIndex());
  }
  return Error(ErrorCode::kIntegrity,
               missing + "; prune cannot tell which data is still used: run `bulwark check`");
}

bool Pruner::Blocked(const DeletionRecord& record, const std::vector<LockInfo>& locks) const {
  const int64_t margin = std::chrono::nanoseconds(options_.clock_skew_margin).count();
  for (const auto& l : locks) {
    if (l.kind != LockKind::kShared || l.stale) continue;
    if (l.created_unix_ns < record.time_unix_ns + margin) return true;
  }
  return false;
}

Status Pruner::WriteIndexFiles(const std::vector<Id>& packs, uint64_t* written) {
  const Index& index = repo_.index();
  std::vector<IndexedPack> batch;
  size_t blobs = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    BW_ASSIGN_OR_RETURN(Id id, repo_.SaveObject(ObjectKind::kIndex, EncodeIndexFile(batch)));
    (void)id;
    ++*written;
    batch.clear();
    blobs = 0;
    return Status::Ok();
  };
  for (const auto& p : packs) {
    IndexedPack ip{p, index.BlobsInPack(p)};
    blobs += ip.blobs.size();
    batch.push_back(std::move(ip));
    if (blobs >= kMaxBlobsPerIndexFile) BW_RETURN_IF_ERROR(flush());
  }
  return flush();
}

Status Pruner::Sweep(const Id& record_id, const DeletionRecord& record, const BlobSet& used) {
  const Index& index = repo_.index();
  std::vector<Id> rescued, doomed;
  size_t locked_packs = 0;
  for (const auto& pack : record.packs) {
    if (int64_t until = PackLockedUntil(pack); until > 0) {
      report_.locked.Add(stored_[pack].size, until);
      ++locked_packs;
      continue;
    }
    bool needed = false;
    if (index.HasPack(pack) && stored_.count(pack)) {
      for (const auto& b : index.BlobsInPack(pack)) {
        // A snapshot written after the mark (by a backup that deduplicated against this pack
        // before the record existed) uses the blob, and no live pack has another copy.
        if (used.count(BlobKey{b.id, b.type}) && !index.HasUsable(b.type, b.id)) {
          needed = true;
          break;
        }
      }
    }
    (needed ? rescued : doomed).push_back(pack);
  }

  uint64_t freed = 0;
  for (const auto& p : doomed) {
    if (auto it = stored_.find(p); it != stored_.end()) freed += it->second.size;
  }
  report_.packs_rescued += rescued.size();
  // With object lock, the record stays until everything it names is gone: superseded index
  // files that came back without it would make its deleted packs look live again.
  std::vector<Id> index_files;
  size_t locked_files = 0;
  for (const auto& f : record.index_files) {
    std::string key = ObjectPrefix(ObjectKind::kIndex) + f.Hex();
    if (int64_t until = ObjectLockedUntil(key); until > 0) {
      auto it = meta_.find(key);
      report_.locked.Add(it == meta_.end() ? 0 : it->second.size, until);
      ++locked_files;
    } else {
      index_files.push_back(f);
    }
  }
  const std::string record_key = ObjectPrefix(ObjectKind::kDeletion) + record_id.Hex();
  const bool keep_record =
      locked_packs > 0 || locked_files > 0 || ObjectLockedUntil(record_key) > 0;
  if (options_.dry_run) {
    report_.packs_deleted += doomed.size();
    report_.index_files_deleted += index_files.size();
    report_.bytes_freed += freed;
    if (!keep_record) ++report_.records_swept;  // a kept one is in report_.locked
    return Status::Ok();
  }

  // Rescued packs get an index file of their own before the files naming them go away.
  BW_RETURN_IF_ERROR(CheckStillLocked());
  BW_RETURN_IF_ERROR(WriteIndexFiles(rescued, &report_.index_files_written));
  for (const auto& p : doomed) {
    BW_RETURN_IF_ERROR(CheckStillLocked());
    Status st = repo_.backend().Remove(PackKey(p));
    if (!st.ok()) return st.error().Wrap("deleting pack " + p.ShortHex());
    if (stored_.count(p)) ++report_.packs_deleted;
  }
  report_.bytes_freed += freed;
  for (const auto& f : index_files) {
    BW_RETURN_IF_ERROR(CheckStillLocked());
    Status st = repo_.RemoveObject(ObjectKind::kIndex, f);
    if (!st.ok() && st.error().code() != ErrorCode::kNotFound) {
      return st.error().Wrap("deleting index file " + f.ShortHex());
    }
    ++report_.index_files_deleted;
  }
  if (keep_record) {
    for (const auto& p : doomed) stored_.erase(p);
    return Status::Ok();  // what keeps it is counted in report_.locked
  }
  // The record goes last: until then a crash leaves it for the next prune to finish.
  Status st = repo_.RemoveObject(ObjectKind::kDeletion, record_id);
  if (!st.ok() && st.error().code() != ErrorCode::kNotFound) {
    return st.error().Wrap("deleting deletion record " + record_id.ShortHex());
  }
  for (const auto& p : doomed) stored_.erase(p);
  ++report_.records_swept;
  if (!rescued.empty()) {
    report_.messages.push_back(fmt::format(
        "{} condemned packs are used by snapshots written while they were condemned; kept and "
        "re-indexed",
        rescued.size()));
  }
  return Status::Ok();
}

Status Pruner::Mark(const std::vector<LockInfo>& locks, int64_t t0) {
  Index& index = repo_.mutable_index();
  BW_ASSIGN_OR_RETURN(auto pending, LoadAllDeletionRecords(repo_));
  std::unordered_set<Id, IdHash> pending_index_files;
  for (const auto& [id, r] : pending) {
    pending_index_files.insert(r.index_files.begin(), r.index_files.end());
  }
  if (!used_) {
    BW_ASSIGN_OR_RETURN(auto used, UsedBlobs());
    used_ = std::move(used);
  }
  const BlobSet& used = *used_;

  // Account every live pack. A blob stored in several packs counts as used only in the pack
  // the index would read it from.
  std::vector<Id> original_packs = index.Packs();
  std::sort(original_packs.begin(), original_packs.end());
  std::vector<Id> original_index_files = index.IndexFiles();
  struct Usage {
    uint64_t used_bytes = 0, unused_bytes = 0, used_blobs = 0, unused_blobs = 0;
  };
  std::vector<Id> condemn, repack;
  for (const auto& p : original_packs) {
    if (index.IsCondemned(p)) continue;  // an unfinished earlier prune owns it
    ++report_.packs_total;
    int64_t locked_until = PackLockedUntil(p);
    Usage u;
    for (const auto& b : index.BlobsInPack(p)) {
      bool used_here = false;
      if (used.count(BlobKey{b.id, b.type})) {
        auto loc = index.Find(b.type, b.id);
        used_here = loc && loc->pack == p;
      }
      if (used_here) {
        u.used_bytes += b.length;
        ++u.used_blobs;
      } else {
        u.unused_bytes += b.length;
        ++u.unused_blobs;
      }
    }
    report_.unused_blobs += u.unused_blobs;
    report_.unused_bytes += u.unused_bytes;
    const bool unused = u.used_blobs == 0;
    const bool wasteful =
        u.unused_blobs > 0 &&
        static_cast<double>(u.unused_bytes) >
            options_.max_unused * static_cast<double>(u.used_bytes + u.unused_bytes);
    if ((unused || wasteful) && locked_until == 0 && repo_.config().object_lock.enabled()) {
      // A later backup may have extended its retention (retention_hold.h): the write time
      // alone does not tell, the server does.
      BW_ASSIGN_OR_RETURN(auto info, repo_.backend().Stat(PackKey(p)));
      if (info.retain_until_unix > now_unix_) locked_until = info.retain_until_unix;
    }
    if ((unused || wasteful) && locked_until > 0) {
      // Under object lock: neither condemned nor repacked (a repack would delete it early).
      report_.locked.Add(stored_[p].size, locked_until);
      ++report_.packs_kept;
    } else if (unused) {
      condemn.push_back(p);
    } else if (wasteful) {
      repack.push_back(p);
    } else {
      ++report_.packs_kept;
    }
  }
  report_.packs_condemned = condemn.size();
  report_.packs_repacked = repack.size();
  for (const auto& p : repack) {
    for (const auto& b : index.BlobsInPack(p)) {
      if (!used.count(BlobKey{b.id, b.type})) continue;
      auto loc = index.Find(b.type, b.id);
      if (loc && loc->pack == p) {
        ++report_.blobs_repacked;
        report_.bytes_repacked += b.length;
      }
    }
  }

  // Leftovers of killed backups: packs no index names, older than every live writer (and
  // than this prune), by more than the clock margin.
  const int64_t margin_s = options_.clock_skew_margin.count();
  int64_t horizon_ns = t0;
  for (const auto& l : locks) {
    if (l.kind == LockKind::kShared && !l.stale)
      horizon_ns = std::min(horizon_ns, l.created_unix_ns);
  }
  const int64_t horizon_s = horizon_ns / 1'000'000'000 - margin_s;
  std::vector<Id> leftovers;
  for (const auto& [id, sp] : stored_) {
    if (index.HasPack(id) || sp.mtime_unix >= horizon_s) continue;
    if (int64_t until = PackLockedUntil(id); until > 0) {
      report_.locked.Add(sp.size, until);
      continue;
    }
    leftovers.push_back(id);
  }
  std::sort(leftovers.begin(), leftovers.end());
  uint64_t leftover_bytes = 0;
  for (const auto& p : leftovers) leftover_bytes += stored_[p].size;

  if (options_.dry_run) {
    report_.leftover_packs_deleted = leftovers.size();
    report_.bytes_freed += leftover_bytes;
    for (const auto& p : condemn) report_.bytes_freed += stored_.count(p) ? stored_[p].size : 0;
    for (const auto& p : repack) report_.bytes_freed += stored_.count(p) ? stored_[p].size : 0;
    if (report_.bytes_freed >= report_.bytes_repacked) {
      report_.bytes_freed -= report_.bytes_repacked;  // the repacked blobs are stored again
    }
    report_.packs_deleted += condemn.size() + repack.size();
    return Status::Ok();
  }

  for (const auto& p : leftovers) {
    BW_RETURN_IF_ERROR(CheckStillLocked());
    Status st = repo_.backend().Remove(PackKey(p));
    if (!st.ok()) return st.error().Wrap("deleting unreferenced pack " + p.ShortHex());
    stored_.erase(p);
  }
  report_.leftover_packs_deleted = leftovers.size();
  report_.bytes_freed += leftover_bytes;

  if (condemn.empty() && repack.empty()) return Status::Ok();

  // Condemn in memory first, so that the writer really stores the blobs it is given again
  // instead of deduplicating against the packs they are being moved out of.
  for (const auto& p : condemn) index.Condemn(p);
  for (const auto& p : repack) index.Condemn(p);

  if (!repack.empty()) {
    WriterOptions wo;
    wo.workers = options_.threads;
    BlobWriter writer(repo_, wo);
    for (const auto& p : repack) {
      BW_RETURN_IF_ERROR(CheckStillLocked());
      auto data = repo_.backend().Get(PackKey(p));
      if (!data.ok()) return data.error().Wrap("repacking pack " + p.ShortHex());
      for (const auto& b : index.BlobsInPack(p)) {
        if (!used.count(BlobKey{b.id, b.type})) continue;
        auto loc = index.Find(b.type, b.id);
        // Another live copy (in a kept pack) makes moving this one unnecessary.
        if (!loc || loc->pack != p) {
          if (index.HasUsable(b.type, b.id)) continue;
        }
        if (uint64_t{b.offset} + b.length > data->size()) {
          return Error(ErrorCode::kIntegrity,
                       fmt::format("pack {} is truncated; run `bulwark check`", p.ShortHex()));
        }
        auto plain = repo_.DecodeBlob(b.type, b.id, ByteView(data->data() + b.offset, b.length));
        if (!plain.ok()) {
          return plain.error().Wrap(
              fmt::format("repacking pack {} (run `bulwark check "
                          "--read-data`)",
                          p.ShortHex()));
        }
        BW_RETURN_IF_ERROR(writer.Add(b.type, b.id, std::move(*plain)));
      }
    }
    BW_RETURN_IF_ERROR(writer.Flush());
    report_.index_files_written += writer.stats().index_files_written;
    repack_written_ = writer.stats().bytes_new_stored;
  }

  // One consolidated index for every pack that stays, then the record. Only after both are
  // durable can anything named in the record be deleted.
  BW_RETURN_IF_ERROR(CheckStillLocked());
  std::vector<Id> kept;
  for (const auto& p : original_packs) {
    if (!index.IsCondemned(p)) kept.push_back(p);
  }
  BW_RETURN_IF_ERROR(WriteIndexFiles(kept, &report_.index_files_written));

  DeletionRecord record;
  record.packs = condemn;
  record.packs.insert(record.packs.end(), repack.begin(), repack.end());
  for (const auto& f : original_index_files) {
    if (!pending_index_files.count(f)) record.index_files.push_back(f);
  }
  std::sort(record.index_files.begin(), record.index_files.end());
  record.hostname = Hostname();
  record.pid = static_cast<int>(getpid());
  BW_RETURN_IF_ERROR(CheckStillLocked());
  record.time_unix_ns = NowNs();
  BW_ASSIGN_OR_RETURN(Id record_id, SaveDeletionRecord(repo_, record));
  report_.deletion_record = record_id.Hex();
  report_.index_files_superseded = record.index_files.size();

  if (!options_.sweep_now) {
    ++report_.records_pending;
    return Status::Ok();
  }
  // Sweep the new record now unless a backup that could rely on what it condemns is running.
  // Order matters: locks first, then the index and the snapshots.
  BW_ASSIGN_OR_RETURN(auto locks_now, ListLocks(repo_));
  if (Blocked(record, locks_now)) {
    ++report_.records_pending;
    report_.messages.push_back(
        fmt::format("{} packs condemned; deleted by the next prune once the running backups finish",
                    record.packs.size()));
    return Status::Ok();
  }
  BW_RETURN_IF_ERROR(repo_.LoadIndex());
  BW_ASSIGN_OR_RETURN(auto used_now, UsedBlobs());
  BW_RETURN_IF_ERROR(Sweep(record_id, record, used_now));
  // Report net space: the repacked blobs were stored again.
  report_.bytes_freed -= std::min(report_.bytes_freed, repack_written_);
  return Status::Ok();
}

Result<PruneReport> Pruner::Run() {
  report_.dry_run = options_.dry_run;
  if (!(options_.max_unused >= 0.0 && options_.max_unused <= 1.0)) {
    return Error(ErrorCode::kUsage, "--max-unused must be between 0% and 100%");
  }
  if (options_.take_lock) {
    BW_ASSIGN_OR_RETURN(lock_, RepoLock::Acquire(repo_, LockKind::kExclusive, "prune"));
  }
  // Locks first, then the index, snapshots and packs: anything a writer finished before the
  // listing is visible afterwards, and every writer still running is in the listing.
  const int64_t t0 = NowNs();
  now_unix_ = t0 / 1'000'000'000;
  BW_ASSIGN_OR_RETURN(auto locks, ListLocks(repo_));
  BW_RETURN_IF_ERROR(repo_.LoadIndex());
  BW_RETURN_IF_ERROR(ListStoredPacks());
  BW_RETURN_IF_ERROR(ListLockedMeta());

  // Sweep: finish what earlier prunes condemned, oldest first.
  BW_ASSIGN_OR_RETURN(auto records, LoadAllDeletionRecords(repo_));
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.time_unix_ns, a.first) < std::tie(b.second.time_unix_ns, b.first);
  });
  bool swept = false;
  for (const auto& [id, record] : records) {
    if (Blocked(record, locks)) {
      ++report_.records_pending;
      continue;
    }
    if (!used_) {
      BW_ASSIGN_OR_RETURN(auto used, UsedBlobs());
      used_ = std::move(used);
    }
    BW_RETURN_IF_ERROR(Sweep(id, record, *used_));
    swept = true;
  }
  if (report_.records_pending > 0) {
    report_.messages.push_back(fmt::format(
        "{} earlier deletion records wait for backups that were running when they were made",
        report_.records_pending));
  }
  if (swept && !options_.dry_run) {
    // The sweep removed index files and records; start the mark from a fresh view.
    BW_RETURN_IF_ERROR(repo_.LoadIndex());
    used_.reset();
  }

  BW_RETURN_IF_ERROR(Mark(locks, t0));
  if (std::string m = report_.locked.Message("object", "objects"); !m.empty()) {
    report_.messages.push_back(m + " (object lock: " + repo_.config().object_lock.Describe() + ")");
  }

  if (lock_) BW_RETURN_IF_ERROR(lock_->Release());
  return std::move(report_);
}

}  // namespace

Result<PruneReport> Prune(Repository& repo, const PruneOptions& options) {
  Pruner pruner(repo, options);
  return pruner.Run();
}

nlohmann::json PruneReportToJson(const PruneReport& r) {
  return {{"dry_run", r.dry_run},
          {"packs_total", r.packs_total},
          {"packs_kept", r.packs_kept},
          {"packs_condemned", r.packs_condemned},
          {"packs_repacked", r.packs_repacked},
          {"blobs_repacked", r.blobs_repacked},
          {"bytes_repacked", r.bytes_repacked},
          {"unused_blobs", r.unused_blobs},
          {"unused_bytes", r.unused_bytes},
          {"index_files_written", r.index_files_written},
          {"index_files_superseded", r.index_files_superseded},
          {"deletion_record", r.deletion_record},
          {"records_swept", r.records_swept},
          {"records_pending", r.records_pending},
          {"packs_deleted", r.packs_deleted},
          {"packs_rescued", r.packs_rescued},
          {"index_files_deleted", r.index_files_deleted},
          {"leftover_packs_deleted", r.leftover_packs_deleted},
          {"bytes_freed", r.bytes_freed},
          {"locked", r.locked.ToJson()},
          {"messages", r.messages}};
}

}  // namespace bulwark::repo

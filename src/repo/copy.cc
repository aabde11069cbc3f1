#include "repo/copy.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <unordered_set>

#include "core/cancel.h"
#include "crypto/hash.h"
#include "repo/parallel.h"
#include "repo/redis_stream_store.h"
#include "repo/retention_hold.h"
#include "repo/tree.h"
#include "repo/wal_store.h"

namespace bulwark::repo {

namespace {

struct BlobRef {
  BlobType type;
  Id id;
};

Error Cancelled() { return Error(ErrorCode::kCancelled, "copy interrupted"); }

// Reads of one pack cover neighbouring wanted blobs up to this size, skipping gaps up to
// kMaxRunGap: one request per run instead of one per chunk (on S3, per request).
constexpr uint64_t kMaxRunBytes = 8u << 20;
constexpr uint64_t kMaxRunGap = 256u << 10;

// Copies `blobs` (those the target lacks) from `from` into `writer`: in pack order of the
// source, each pack's wanted blobs read in ranges of neighbours. A range that cannot be read,
// or a blob in it that does not decode, is loaded on its own through the source repository
// (which reports it and tries its fallbacks).
Status TransferBlobs(const Repository& from, BlobWriter& writer, std::vector<BlobRef> blobs,
                     CopyResult& result) {
  struct Located {
    BlobRef ref;
    BlobLocation loc;
  };
  std::vector<Located> located;
  located.reserve(blobs.size());
  for (const auto& b : blobs) {
    auto loc = from.index().Find(b.type, b.id);
    if (!loc) {
      return Error(ErrorCode::kIntegrity, std::string(b.type == BlobType::kTree ? "tree" : "data") +
                                              " blob " + b.id.ShortHex() +
                                              " is in no index of the source repository " +
                                              from.display_name() + ": run `bulwark check` there");
    }
    located.push_back({b, *loc});
  }
  std::sort(located.begin(), located.end(), [](const Located& a, const Located& b) {
    return a.loc.pack != b.loc.pack ? a.loc.pack < b.loc.pack : a.loc.offset < b.loc.offset;
  });
  struct Run {
    size_t first = 0, end = 0;  // located[first, end), one pack
  };
  std::vector<Run> runs;
  for (size_t i = 0; i < located.size(); ++i) {
    if (!runs.empty()) {
      const Located& start = located[runs.back().first];
      const Located& prev = located[i - 1];
      const Located& cur = located[i];
      const uint64_t prev_end = uint64_t{prev.loc.offset} + prev.loc.length;
      if (cur.loc.pack == start.loc.pack && cur.loc.offset >= prev_end &&
          cur.loc.offset - prev_end <= kMaxRunGap &&
          uint64_t{cur.loc.offset} + cur.loc.length - start.loc.offset <= kMaxRunBytes) {
        runs.back().end = i + 1;
        continue;
      }
    }
    runs.push_back({i, i + 1});
  }
  std::atomic<uint64_t> copied{0}, bytes{0};
  auto store = [&](const BlobRef& b, Bytes plain) -> Status {
    const uint64_t size = plain.size();
    BW_ASSIGN_OR_RETURN(bool is_new, writer.Add(b.type, b.id, std::move(plain)));
    if (is_new) {
      copied.fetch_add(1, std::memory_order_relaxed);
      bytes.fetch_add(size, std::memory_order_relaxed);
    }
    return Status::Ok();
  };
  Repository& source = const_cast<Repository&>(from);  // Backend reads are thread-safe
  Status st = ParallelFor(runs.size(), kIoThreads, [&](size_t r) -> Status {
    if (CancelRequested()) return Cancelled();
    const Run& run = runs[r];
    const BlobLocation& head = located[run.first].loc;
    const BlobLocation& tail = located[run.end - 1].loc;
    auto range = source.backend().GetRange(PackKey(head.pack), head.offset,
                                           uint64_t{tail.offset} + tail.length - head.offset);
    for (size_t i = run.first; i < run.end; ++i) {
      const auto& [ref, loc] = located[i];
      Result<Bytes> plain = Error(ErrorCode::kIntegrity, "unread");
      if (range.ok() && range->size() >= uint64_t{loc.offset} - head.offset + loc.length) {
        plain = from.DecodeBlob(ref.type, ref.id,
                                ByteView(range->data() + (loc.offset - head.offset), loc.length));
      }
      if (!plain.ok()) plain = from.LoadBlob(ref.type, ref.id);
      if (!plain.ok()) return plain.error();
      BW_RETURN_IF_ERROR(store(ref, std::move(*plain)));
    }
    return Status::Ok();
  });
  result.blobs_copied += copied.load();
  result.bytes_copied += bytes.load();
  return st;
}

// Every tree and data blob a snapshot references, walking its trees in the source. Trees in
// `visited` (walked for an earlier snapshot of this run, whose blobs are durable in the
// target now) are not walked again.
Status CollectSnapshotBlobs(const Repository& from, const Snapshot& snap,
                            std::unordered_set<Id, IdHash>& visited, std::vector<BlobRef>& trees,
                            std::vector<Id>& data) {
  std::vector<Id> level;
  if (visited.insert(snap.tree).second) level.push_back(snap.tree);
  std::unordered_set<Id, IdHash> seen_data;
  while (!level.empty()) {
    if (CancelRequested()) return Cancelled();
    std::vector<Tree> decoded(level.size());
    BW_RETURN_IF_ERROR(ParallelFor(level.size(), kIoThreads, [&](size_t i) -> Status {
      auto plain = from.LoadBlob(BlobType::kTree, level[i]);
      if (!plain.ok()) {
        return plain.error().Wrap("snapshot " + snap.id.ShortHex() + " in repository " +
                                  from.display_name());
      }
      auto tree = DecodeTree(*plain);
      if (!tree.ok()) return tree.error().Wrap("tree " + level[i].ShortHex());
      decoded[i] = std::move(*tree);
      return Status::Ok();
    }));
    std::vector<Id> next;
    for (size_t i = 0; i < level.size(); ++i) {
      trees.push_back({BlobType::kTree, level[i]});
      for (const auto& node : decoded[i].nodes) {
        if (node.type == NodeType::kDir) {
          if (visited.insert(node.subtree).second) next.push_back(node.subtree);
        } else if (node.type == NodeType::kFile) {
          for (const Id& c : node.content) {
            if (seen_data.insert(c).second) data.push_back(c);
          }
        }
      }
    }
    level = std::move(next);
  }
  return Status::Ok();
}

// Blobs of `refs` the target cannot deduplicate against.
std::vector<BlobRef> Missing(const Repository& to, const std::vector<BlobRef>& refs,
                             CopyResult& result) {
  std::vector<BlobRef> out;
  for (const auto& r : refs) {
    if (to.index().HasUsable(r.type, r.id)) {
      ++result.blobs_present;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

// Copies an object byte for byte (create-only; an identical object already there is fine).
Status CopyObject(Repository& from, Repository& to, const std::string& key) {
  BW_ASSIGN_OR_RETURN(Bytes bytes, from.backend().Get(key));
  Status st = to.backend().Put(key, bytes);
  if (!st.ok() && st.error().code() != ErrorCode::kAlreadyExists) return st.error().Wrap(key);
  return Status::Ok();
}

// An area of sealed records that each name data blobs (WAL, Redis stream segments).
struct RecordArea {
  std::string prefix;  // what to list in the source
  // The blobs of the record stored under `key` (authenticating it).
  std::function<Result<std::vector<Id>>(const std::string& key)> blobs_of;
  // Whether the record belongs in the target (default: all).
  std::function<bool(const std::string& key)> wanted;
};

// Copies the records of `area` the target lacks: first their blobs, then, with every blob
// durable and indexed in the target, the records byte for byte. Returns {copied, skipped}.
Result<std::pair<uint64_t, uint64_t>> CopyRecords(Repository& from, Repository& to,
                                                  const RecordArea& area,
                                                  const CopyOptions& options, CopyResult& result) {
  BW_ASSIGN_OR_RETURN(auto source, from.backend().List(area.prefix));
  BW_ASSIGN_OR_RETURN(auto target, to.backend().List(area.prefix));
  std::set<std::string> present;
  for (const auto& o : target) present.insert(o.key);
  std::vector<std::string> keys;
  uint64_t skipped = 0;
  for (const auto& o : source) {
    if (present.count(o.key)) {
      ++skipped;
    } else if (!area.wanted || area.wanted(o.key)) {
      keys.push_back(o.key);
    }
  }
  if (keys.empty()) return std::pair<uint64_t, uint64_t>{0, skipped};
  std::vector<std::vector<Id>> blobs(keys.size());
  BW_RETURN_IF_ERROR(ParallelFor(keys.size(), kIoThreads, [&](size_t i) -> Status {
    if (CancelRequested()) return Cancelled();
    BW_ASSIGN_OR_RETURN(blobs[i], area.blobs_of(keys[i]));
    return Status::Ok();
  }));
  std::vector<BlobRef> refs;
  std::unordered_set<Id, IdHash> seen;
  for (const auto& list : blobs)
    for (const Id& id : list)
      if (seen.insert(id).second) refs.push_back({BlobType::kData, id});
  BlobWriter writer(to, options.writer);
  BW_RETURN_IF_ERROR(TransferBlobs(from, writer, Missing(to, refs, result), result));
  BW_RETURN_IF_ERROR(writer.Flush());
  result.bytes_stored += writer.stats().bytes_new_stored;
  BW_RETURN_IF_ERROR(ParallelFor(
      keys.size(), kIoThreads, [&](size_t i) -> Status { return CopyObject(from, to, keys[i]); }));
  return std::pair<uint64_t, uint64_t>{keys.size(), skipped};
}

Status CopyWal(Repository& from, Repository& to, const CopyOptions& options, CopyResult& result) {
  RecordArea area;
  area.prefix = options.component.empty() ? std::string(kWalPrefix)
                                          : WalComponentPrefix(from, options.component);
  area.blobs_of = [&from](const std::string& key) -> Result<std::vector<Id>> {
    BW_ASSIGN_OR_RETURN(Bytes sealed, from.backend().Get(key));
    const std::string ad = "bulwark-wal-record:" + key;
    auto plain = from.OpenWithMasterKey(sealed, AsBytes(ad));
    if (!plain.ok()) return Error(ErrorCode::kIntegrity, "WAL record " + key + " is damaged");
    BW_ASSIGN_OR_RETURN(WalRecord rec, DecodeWalRecord(*plain));
    return std::move(rec.blobs);
  };
  BW_ASSIGN_OR_RETURN(auto counts, CopyRecords(from, to, area, options, result));
  result.wal_copied += counts.first;
  result.wal_skipped += counts.second;
  return Status::Ok();
}

// The stream segments of the snapshots the target has (after the snapshots were copied): a
// segment of a snapshot the target lacks would be an orphan there.
Status CopyRedisStream(Repository& from, Repository& to, const CopyOptions& options,
                       CopyResult& result) {
  BW_ASSIGN_OR_RETURN(auto snapshots, LoadAllSnapshots(to));
  std::set<std::string> live;
  for (const auto& s : snapshots) live.insert(RedisStreamSnapshotPrefix(to, s.component, s.id));
  RecordArea area;
  area.prefix = options.component.empty() ? std::string(kRedisStreamPrefix)
                                          : RedisStreamComponentPrefix(from, options.component);
  area.wanted = [&live](const std::string& key) {
    return live.count(key.substr(0, key.rfind('/') + 1)) > 0;
  };
  area.blobs_of = [&from](const std::string& key) -> Result<std::vector<Id>> {
    // An inline segment carries its bytes in its own object, copied as it is.
    if (IsInlineRedisStreamKey(key)) return std::vector<Id>{};
    BW_ASSIGN_OR_RETURN(auto rec, LoadRedisStreamRecord(from, key));
    return std::move(rec.blobs);
  };
  BW_ASSIGN_OR_RETURN(auto counts, CopyRecords(from, to, area, options, result));
  result.redis_stream_copied += counts.first;
  result.redis_stream_skipped += counts.second;
  return Status::Ok();
}

}  // namespace

Status CheckSharedKeys(const Repository& from, const Repository& to) {
  if (SameKeys(from.key(), to.key())) return Status::Ok();
  return Error(ErrorCode::kUsage,
               "repositories " + from.display_name() + " and " + to.display_name() +
                   " do not share keys, so their chunk IDs differ and nothing can be copied; "
                   "create the target with `bulwark init --from-repo " +
                   from.display_name() + "`");
}

Result<CopyPlan> PlanCopy(const Repository& from, const Repository& to,
                          const std::string& component) {
  BW_ASSIGN_OR_RETURN(auto snaps, LoadAllSnapshots(from));
  BW_ASSIGN_OR_RETURN(auto present_ids, to.ListObjects(ObjectKind::kSnapshot));
  std::unordered_set<Id, IdHash> present(present_ids.begin(), present_ids.end());
  CopyPlan plan;
  for (auto& s : snaps) {
    if (!component.empty() && s.component != component) continue;
    if (present.count(s.id)) {
      ++plan.present;
    } else {
      plan.to_copy.push_back(std::move(s));
    }
  }
  return plan;
}

Result<CopyResult> CopySnapshots(Repository& from, Repository& to, const CopyPlan& plan,
                                 const CopyOptions& options) {
  BW_RETURN_IF_ERROR(CheckSharedKeys(from, to));
  CopyResult result;
  result.snapshots_skipped = plan.present;
  BW_RETURN_IF_ERROR(CopyWal(from, to, options, result));
  std::unordered_set<Id, IdHash> visited;
  for (const Snapshot& snap : plan.to_copy) {
    if (CancelRequested()) return Cancelled();
    if (options.still_locked && !options.still_locked()) {
      return Error(ErrorCode::kLocked, "the lock on a repository was lost; copy stopped");
    }
    std::vector<BlobRef> trees;
    std::vector<Id> data;
    BW_RETURN_IF_ERROR(CollectSnapshotBlobs(from, snap, visited, trees, data));
    std::vector<BlobRef> refs = std::move(trees);
    for (const Id& d : data) refs.push_back({BlobType::kData, d});
    BlobWriter writer(to, options.writer);
    BW_RETURN_IF_ERROR(TransferBlobs(from, writer, Missing(to, refs, result), result));
    BW_RETURN_IF_ERROR(writer.Flush());
    result.bytes_stored += writer.stats().bytes_new_stored;
    // Everything the snapshot references is durable and indexed in the target (and, under
    // object lock, held as long as the snapshot): write it, byte for byte, so it keeps its ID.
    BW_RETURN_IF_ERROR(HoldSnapshotData(to, snap.tree));
    BW_RETURN_IF_ERROR(CopyObject(from, to, ObjectKey(ObjectKind::kSnapshot, snap.id)));
    ++result.snapshots_copied;
    result.copied.push_back(snap.id);
    if (options.on_snapshot) options.on_snapshot(snap);
  }
  BW_RETURN_IF_ERROR(CopyRedisStream(from, to, options, result));
  return result;
}

}  // namespace bulwark::repo

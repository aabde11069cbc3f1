#include "sources/redis/stream_check.h"

#include <fmt/format.h>

#include <map>
#include <optional>

#include "repo/redis_stream_store.h"
#include "repo/snapshot.h"
#include "sources/redis/backup.h"
#include "sources/redis/resp_stream.h"
#include "sources/redis/restore.h"

namespace bulwark::sources::redis {

namespace {

// Stream bytes fed in order must be whole RESP commands; the first problem is kept.
class CommandCheck {
 public:
  void Append(ByteView bytes) {
    if (!error_.empty()) return;
    if (Status st = filter_.Append(bytes); !st.ok()) error_ = st.error().message();
  }
  // The problem, or empty.
  std::string Finish() {
    if (error_.empty()) {
      if (Status st = filter_.Finish(); !st.ok()) error_ = st.error().message();
    }
    return error_;
  }

 private:
  AofFilter filter_{[](ByteView) { return Status::Ok(); }};
  std::string error_;
};

void CheckCapturedStream(const repo::Repository& repo, const repo::Snapshot& snap,
                         const std::vector<const repo::RedisStreamRecord*>& records, bool read_data,
                         RedisCheckResult& out) {
  const std::string who =
      fmt::format("Redis stream after snapshot {} ({})", snap.id.ShortHex(), snap.component);
  uint64_t expected = snap.source.value("offset", uint64_t{0});
  CommandCheck commands;
  bool readable = true;
  for (const auto* r : records) {
    ++out.segments;
    out.stream_bytes += r->end_offset - r->start_offset;
    if (r->start_offset > expected) {
      out.problems.push_back(fmt::format("{}: offsets {} to {} are missing (a segment is lost)",
                                         who, expected + 1, r->start_offset));
      readable = false;
    } else if (r->start_offset < expected) {
      out.problems.push_back(
          fmt::format("{}: segments overlap at offsets {} to {}", who, r->start_offset, expected));
      readable = false;
    }
    if (r->end_offset <= r->start_offset || r->batches.empty() ||
        r->batches.back().offset != r->end_offset) {
      out.problems.push_back(
          fmt::format("{}: the segment at offset {} is inconsistent", who, r->start_offset));
    }
    expected = std::max(expected, r->end_offset);
    if (!r->is_inline) {
      for (const Id& id : r->blobs) {
        if (!repo.index().HasUsable(repo::BlobType::kData, id)) {
          out.problems.push_back(
              fmt::format("{}: the segment at offset {} names blob {}, which "
                          "is not in the index",
                          who, r->start_offset, id.ShortHex()));
          break;
        }
      }
    }
    if (!read_data) continue;
    Status st =
        repo::ReadRedisStreamBytes(repo, *r, r->end_offset - r->start_offset, [&](ByteView b) {
          out.bytes_read += b.size();
          commands.Append(b);
          return Status::Ok();
        });
    if (!st.ok()) {
      out.problems.push_back(fmt::format("{}: the segment at offset {} does not read: {}", who,
                                         r->start_offset, st.error().message()));
      readable = false;
    }
  }
  // Commands can be checked only across a stream read without a hole.
  if (read_data && readable) {
    if (std::string bad = commands.Finish(); !bad.empty()) {
      out.problems.push_back(fmt::format("{}: not whole RESP commands: {}", who, bad));
    }
  }
}

void CheckIncremental(const repo::Repository& repo, const repo::Snapshot& snap, bool read_data,
                      RedisCheckResult& out) {
  const std::string who =
      fmt::format("incremental Redis snapshot {} ({})", snap.id.ShortHex(), snap.component);
  // Finds stream.resp and checks its length against the offsets, as a restore would.
  auto plan = PlanRedisIncremental(repo, snap);
  if (!plan.ok()) {
    out.problems.push_back(fmt::format("{}: {}", who, plan.error().message()));
    return;
  }
  if (!read_data) return;
  CommandCheck commands;
  Status read = ReadRedisStream(repo, *plan, [&](ByteView b) {
    out.bytes_read += b.size();
    commands.Append(b);
    return Status::Ok();
  });
  if (!read.ok()) {
    out.problems.push_back(fmt::format("{}: {}", who, read.error().message()));
  } else if (std::string bad = commands.Finish(); !bad.empty()) {
    out.problems.push_back(
        fmt::format("{}: its stream.resp is not whole RESP commands: {}", who, bad));
  }
}

}  // namespace

Result<std::vector<RedisCheckResult>> CheckRedisData(const repo::Repository& repo, bool read_data) {
  BW_ASSIGN_OR_RETURN(auto all, repo::LoadAllSnapshots(repo));
  std::map<std::string, std::vector<const repo::Snapshot*>> by_component;
  for (const auto& s : all) {
    if (s.kind == kRedisSnapshotKind) by_component[s.component].push_back(&s);
  }
  std::vector<RedisCheckResult> results;
  for (const auto& [component, snaps] : by_component) {
    RedisCheckResult out;
    out.component = component;
    out.snapshots = snaps.size();
    auto records = repo::ListRedisStreamRecords(repo, component);
    if (!records.ok()) {
      out.problems.push_back(
          fmt::format("Redis stream of component {}: {}", component, records.error().message()));
    }
    for (const repo::Snapshot* s : snaps) {
      if (IsIncrementalRedisSnapshot(*s)) {
        ++out.incremental;
        CheckIncremental(repo, *s, read_data, out);
        continue;
      }
      if (!records.ok()) continue;
      std::vector<const repo::RedisStreamRecord*> mine;
      for (const auto& r : *records) {  // sorted by snapshot, then start offset
        if (r.snapshot == s->id) mine.push_back(&r);
      }
      if (!mine.empty()) CheckCapturedStream(repo, *s, mine, read_data, out);
    }
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace bulwark::sources::redis

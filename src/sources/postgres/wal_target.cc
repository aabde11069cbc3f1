#include "sources/postgres/wal_target.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include "sources/postgres/wal_archive.h"
#include "sources/postgres/wal_names.h"
#include "sources/postgres/wal_reader.h"

namespace bulwark::sources::postgres {

namespace {

constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

struct Archive {
  std::map<std::string, const repo::WalRecord*> whole;    // segment name -> record
  std::map<std::string, const repo::WalRecord*> partial;  // segment name -> longest partial
  std::vector<uint32_t> history_timelines;
};

Archive IndexArchive(const std::vector<repo::WalRecord>& records) {
  Archive a;
  for (const auto& r : records) {
    if (IsTimelineHistoryName(r.name)) {
      a.history_timelines.push_back(
          static_cast<uint32_t>(std::stoul(r.name.substr(0, 8), nullptr, 16)));
    } else if (auto p = ParsePartialWalName(r.name)) {
      auto& slot = a.partial[p->segment];
      if (slot == nullptr || slot->size < r.size) slot = &r;
    } else {
      a.whole[r.name] = &r;
    }
  }
  return a;
}

Result<Bytes> LoadWalFile(const repo::Repository& repo, const repo::WalRecord& r) {
  Bytes out;
  out.reserve(r.size);
  for (const Id& b : r.blobs) {
    BW_ASSIGN_OR_RETURN(Bytes part, repo.LoadBlob(repo::BlobType::kData, b));
    out.insert(out.end(), part.begin(), part.end());
  }
  if (out.size() != r.size) {
    return Error(ErrorCode::kIntegrity, fmt::format("archived WAL file {} holds {} bytes, not {}",
                                                    r.name, out.size(), r.size));
  }
  return out;
}

struct ScanResult {
  std::vector<Lsn> matches;  // where matching records start, in WAL order
  Lsn end = 0;               // just past the last whole record read
};

// Reads the segments [from, to) of `timeline` in order until the WAL ends: a segment that is
// not archived, a partial one (the end of what wal-receive streamed), or the end of valid
// records.
Result<ScanResult> ScanSegments(const repo::Repository& repo, const Archive& archive,
                                uint32_t timeline, uint64_t from, uint64_t to, uint64_t seg_size,
                                const std::function<bool(const WalTargetEvent&)>& match) {
  ScanResult result;
  WalTargetReader reader([&](const WalTargetEvent& e) {
    if (match(e)) result.matches.push_back(e.lsn);
  });
  for (uint64_t segno = from; segno < to; ++segno) {
    const std::string name = WalFileName(timeline, segno, seg_size);
    const repo::WalRecord* record = nullptr;
    bool last = false;
    if (auto it = archive.whole.find(name); it != archive.whole.end()) {
      record = it->second;
    } else if (auto p = archive.partial.find(name); p != archive.partial.end()) {
      record = p->second;
      last = true;
    }
    if (record == nullptr) break;
    BW_ASSIGN_OR_RETURN(Bytes data, LoadWalFile(repo, *record));
    if (data.size() > seg_size) break;
    data.resize(seg_size, 0);  // a partial segment ends in zeros, as wal-get serves it
    BW_ASSIGN_OR_RETURN(bool more, reader.Feed(data, segno * seg_size));
    result.end = reader.end_lsn();
    if (!more || last) break;
  }
  return result;
}

struct BackupWal {
  uint32_t timeline = 0;
  uint64_t first_segno = 0;
  Lsn start = 0;  // where recovery from the backup begins reading
  Lsn stop = 0;
  uint64_t seg_size = 0;
};

Result<BackupWal> WalOf(const repo::Snapshot& s) {
  BackupWal w;
  w.seg_size = s.source.value("wal_segment_size", kDefaultWalSegmentSize);
  auto first = ParseWalFileName(s.source.value("wal_start", std::string()), w.seg_size);
  auto start = ParseLsn(s.source.value("start_lsn", std::string()));
  auto stop = ParseLsn(s.source.value("stop_lsn", std::string()));
  if (!first || !start.ok() || !stop.ok()) {
    return Error(ErrorCode::kIntegrity,
                 "snapshot " + s.id.ShortHex() + " records no WAL range or stop LSN");
  }
  w.timeline = first->timeline;
  w.first_segno = first->segno;
  w.start = *start;
  w.stop = *stop;
  return w;
}

Result<uint32_t> ParseXid(const std::string& text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Error(ErrorCode::kUsage,
                 "--xid must be a transaction ID (a number), not '" + text + "'");
  }
  // An epoch-qualified (64-bit) ID names the same record as its low 32 bits.
  return static_cast<uint32_t>(v & 0xFFFFFFFFu);
}

}  // namespace

Result<const repo::Snapshot*> FindBackupForStopRecord(
    const repo::Repository& repo, const std::vector<const repo::Snapshot*>& backups,
    const repo::Snapshot* chosen, const std::vector<repo::WalRecord>& records,
    const StopRecordTarget& target) {
  if (backups.empty() && chosen == nullptr) {
    return Error(ErrorCode::kNotFound, "no PostgreSQL backup to restore");
  }
  std::function<bool(const WalTargetEvent&)> match;
  std::string what;
  if (target.is_xid) {
    BW_ASSIGN_OR_RETURN(uint32_t xid, ParseXid(target.value));
    match = [xid](const WalTargetEvent& e) {
      return e.kind != WalTargetEvent::Kind::kRestorePoint && e.xid == xid;
    };
    what = "the commit or abort of transaction " + target.value;
  } else {
    if (target.value.empty() || target.value.size() > 63) {
      return Error(ErrorCode::kUsage, "--name must be a restore point name of 1 to 63 bytes");
    }
    match = [&target](const WalTargetEvent& e) {
      return e.kind == WalTargetEvent::Kind::kRestorePoint && e.name == target.value;
    };
    what = "restore point '" + target.value + "'";
  }
  const repo::Snapshot* newest = chosen != nullptr ? chosen : backups.back();
  const std::string& component = newest->component;
  const Archive archive = IndexArchive(records);

  // Candidates newest first; each one's WAL is read from its start up to where the next newer
  // one's began (that part was read before).
  std::vector<const repo::Snapshot*> candidates;
  if (chosen != nullptr) {
    candidates.push_back(chosen);
  } else {
    candidates.assign(backups.rbegin(), backups.rend());
  }
  std::vector<Lsn> later_matches;  // matches in WAL already read, in WAL order
  Lsn read_to = 0;
  uint64_t limit = kNoLimit;
  for (const repo::Snapshot* b : candidates) {
    BW_ASSIGN_OR_RETURN(BackupWal w, WalOf(*b));
    for (uint32_t tli : archive.history_timelines) {
      if (tli > w.timeline) return newest;  // recovery may switch timelines: not checked
    }
    if (w.first_segno < limit) {
      BW_ASSIGN_OR_RETURN(ScanResult scan, ScanSegments(repo, archive, w.timeline, w.first_segno,
                                                        limit, w.seg_size, match));
      scan.matches.insert(scan.matches.end(), later_matches.begin(), later_matches.end());
      later_matches = std::move(scan.matches);
      read_to = std::max(read_to, scan.end);
      limit = w.first_segno;
    }
    // Recovery from this backup starts at its start LSN and stops at the first match it meets.
    auto first = std::lower_bound(later_matches.begin(), later_matches.end(), w.start);
    if (first == later_matches.end()) continue;
    if (*first >= w.stop) return b;
    if (chosen != nullptr) {
      return Error(
          ErrorCode::kUsage,
          fmt::format("recovery target: {} is at LSN {}, before the end of backup {} "
                      "({}); recovery could not stop there consistently: choose an "
                      "older backup or 'latest'",
                      what, FormatLsn(later_matches.front()), b->id.ShortHex(), FormatLsn(w.stop)));
    }
  }
  if (chosen != nullptr) {
    return Error(ErrorCode::kUsage,
                 fmt::format("recovery target: {} is not in the WAL archived for component '{}' "
                             "after backup {} (read up to LSN {}); recovery could not reach it",
                             what, component, chosen->id.ShortHex(), FormatLsn(read_to)));
  }
  return Error(ErrorCode::kUsage,
               fmt::format("recovery target: {} is not in the WAL archived for component '{}' "
                           "after any of its {} backups (read up to LSN {}); recovery could not "
                           "reach it",
                           what, component, backups.size(), FormatLsn(read_to)));
}

}  // namespace bulwark::sources::postgres

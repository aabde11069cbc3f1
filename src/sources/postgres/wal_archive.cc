#include "sources/postgres/wal_archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

#include "core/host.h"
#include "crypto/hash.h"
#include "repo/blob_writer.h"
#include "repo/lock.h"
#include "repo/parallel.h"
#include "repo/snapshot.h"
#include "sources/files/fs_util.h"
#include "sources/postgres/backup.h"
#include "sources/postgres/wal_names.h"

namespace bulwark::sources::postgres {

namespace {

// WAL is mostly unique and compresses well; fixed pieces keep a segment pushed again (or the
// copy that starts a new timeline) deduplicated without content-defined chunking's cost.
constexpr size_t kWalBlobSize = 1u << 20;

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<Bytes> ReadWholeFile(const std::string& path) {
  files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("opening " + path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Error(ErrorCode::kUsage, path + " is not a regular file");
  Bytes data(static_cast<size_t>(st.st_size));
  ssize_t n = files::ReadFull(fd.get(), data.data(), data.size());
  if (n < 0) return ErrnoError("reading " + path, errno);
  data.resize(static_cast<size_t>(n));
  return data;
}

Status SameOrConflict(const repo::WalRecord& existing, const std::string& component, uint64_t size,
                      const Id& sha) {
  if (existing.size == size && existing.sha256 == sha) return Status::Ok();
  return Error(ErrorCode::kAlreadyExists,
               fmt::format("a different {} is already archived for component '{}' ({} bytes, "
                           "sha256 {}; this one: {} bytes, sha256 {}); refusing to replace it",
                           existing.name, component, existing.size, existing.sha256.ShortHex(),
                           size, sha.ShortHex()));
}

// Fetches one archived file into `dest` via a temporary name.
// With pad_to, zeros follow the contents up to that size (a partial segment).
Status FetchTo(const repo::Repository& repo, const repo::WalRecord& rec, const std::string& dest,
               uint64_t pad_to = 0) {
  const std::string tmp = dest + ".bulwark-tmp";
  files::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("creating " + tmp, errno);
  crypto::Sha256Stream sha;
  uint64_t size = 0;
  for (const Id& id : rec.blobs) {
    auto data = repo.LoadBlob(repo::BlobType::kData, id);
    if (!data.ok()) {
      ::unlink(tmp.c_str());
      return data.error().Wrap("WAL file " + rec.name);
    }
    sha.Update(*data);
    Status st = files::WriteAll(fd.get(), *data, -1, tmp);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
    size += data->size();
  }
  if (size != rec.size || sha.Finish() != rec.sha256) {
    ::unlink(tmp.c_str());
    return Error(ErrorCode::kIntegrity, "WAL file " + rec.name +
                                            " read back from the repository does not match its "
                                            "recorded checksum");
  }
  if (pad_to > size) {
    const Bytes zeros(std::min<uint64_t>(pad_to - size, 1u << 20), 0);
    for (uint64_t at = size; at < pad_to;) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(zeros.size(), pad_to - at));
      Status st = files::WriteAll(fd.get(), ByteView(zeros.data(), len), -1, tmp);
      if (!st.ok()) {
        ::unlink(tmp.c_str());
        return st;
      }
      at += len;
    }
  }
  fd.Reset();
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError("renaming into " + dest, err);
  }
  return Status::Ok();
}

}  // namespace

Result<WalPushResult> PushWalFile(repo::Repository& repo, const std::string& component,
                                  const std::string& path) {
  const std::string name = BaseName(path);
  if (name.empty() || name == "." || name == "..") {
    return Error(ErrorCode::kUsage, "'" + path + "' does not name a WAL file");
  }
  BW_ASSIGN_OR_RETURN(Bytes data, ReadWholeFile(path));
  return PushWalData(repo, component, name, data);
}

Result<std::vector<Result<WalPushResult>>> PushWalFiles(repo::Repository& repo,
                                                        const std::string& component,
                                                        const std::vector<std::string>& paths,
                                                        int workers) {
  if (component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  std::vector<Result<WalPushResult>> results;
  std::vector<std::optional<repo::WalRecord>> records(paths.size());
  BW_ASSIGN_OR_RETURN(auto lock,
                      repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "wal-push"));
  repo::WriterOptions wo;
  wo.workers = std::max(1, workers);
  repo::BlobWriter writer(repo, wo);
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string name = BaseName(paths[i]);
    WalPushResult result;
    result.name = name;
    auto data = ReadWholeFile(paths[i]);
    if (!data.ok()) {
      results.push_back(data.error());
      continue;
    }
    result.size = data->size();
    const Id sha = crypto::Sha256(*data);
    result.sha256 = sha;
    auto existing = repo::GetWalRecord(repo, component, name);
    if (existing.ok()) {
      Status same = SameOrConflict(*existing, component, result.size, sha);
      if (!same.ok()) {
        results.push_back(same.error());
        continue;
      }
      result.already_archived = true;
      results.push_back(result);
      continue;
    }
    if (existing.error().code() != ErrorCode::kNotFound) return existing.error();
    repo::WalRecord rec;
    rec.component = component;
    rec.name = name;
    rec.size = result.size;
    rec.sha256 = sha;
    for (size_t at = 0; at < data->size(); at += kWalBlobSize) {
      const auto from = data->begin() + static_cast<std::ptrdiff_t>(at);
      const size_t len = std::min(kWalBlobSize, data->size() - at);
      BW_ASSIGN_OR_RETURN(Id id, writer.Add(repo::BlobType::kData,
                                            Bytes(from, from + static_cast<std::ptrdiff_t>(len))));
      rec.blobs.push_back(id);
    }
    records[i] = std::move(rec);
    results.push_back(result);
  }
  BW_RETURN_IF_ERROR(writer.Flush());
  if (!lock->StillValid()) {
    return Error(ErrorCode::kLocked, "the repository lock was lost; WAL files not archived");
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!records[i] || !results[i].ok()) continue;
    records[i]->pushed_unix_ns = NowNs();
    Status put = repo::PutWalRecord(repo, *records[i]);
    if (!put.ok() && put.error().code() == ErrorCode::kAlreadyExists) {
      // Another push of the same name won the race: fine if it is the same file.
      auto other = repo::GetWalRecord(repo, component, records[i]->name);
      if (!other.ok()) return other.error();
      Status same = SameOrConflict(*other, component, records[i]->size, records[i]->sha256);
      if (same.ok()) {
        results[i]->already_archived = true;
      } else {
        results[i] = same.error();
      }
      continue;
    }
    BW_RETURN_IF_ERROR(put);
  }
  return results;
}

std::string PartialWalName(const std::string& segment, uint64_t size) {
  return fmt::format("{}.partial.{:08X}", segment, size);
}

std::optional<PartialWalId> ParsePartialWalName(std::string_view name) {
  constexpr std::string_view kMid = ".partial.";
  if (name.size() != 24 + kMid.size() + 8 || !IsWalSegmentName(name.substr(0, 24)) ||
      name.substr(24, kMid.size()) != kMid) {
    return std::nullopt;
  }
  uint64_t size = 0;
  for (char c : name.substr(24 + kMid.size())) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (v < 0) return std::nullopt;
    size = size * 16 + static_cast<uint64_t>(v);
  }
  return PartialWalId{std::string(name.substr(0, 24)), size};
}

Result<WalPushResult> PushWalData(repo::Repository& repo, const std::string& component,
                                  const std::string& name, ByteView data) {
  if (component.empty()) return Error(ErrorCode::kUsage, "a component is required");
  if (name.empty() || name.find('/') != std::string::npos) {
    return Error(ErrorCode::kUsage, "'" + name + "' is not a WAL file name");
  }
  WalPushResult result;
  result.name = name;
  result.size = data.size();
  const Id sha = crypto::Sha256(data);
  result.sha256 = sha;

  auto existing = repo::GetWalRecord(repo, component, result.name);
  if (existing.ok()) {
    BW_RETURN_IF_ERROR(SameOrConflict(*existing, component, result.size, sha));
    result.already_archived = true;
    return result;
  }
  if (existing.error().code() != ErrorCode::kNotFound) return existing.error();

  BW_ASSIGN_OR_RETURN(auto lock,
                      repo::RepoLock::Acquire(repo, repo::LockKind::kShared, "wal-push"));
  repo::WalRecord rec;
  rec.component = component;
  rec.name = result.name;
  rec.size = result.size;
  rec.sha256 = sha;
  {
    repo::WriterOptions wo;
    wo.workers = 2;
    repo::BlobWriter writer(repo, wo);
    for (size_t at = 0; at < data.size(); at += kWalBlobSize) {
      size_t len = std::min(kWalBlobSize, data.size() - at);
      BW_ASSIGN_OR_RETURN(Id id,
                          writer.Add(repo::BlobType::kData,
                                     Bytes(data.begin() + static_cast<std::ptrdiff_t>(at),
                                           data.begin() + static_cast<std::ptrdiff_t>(at + len))));
      rec.blobs.push_back(id);
    }
    BW_RETURN_IF_ERROR(writer.Flush());
    result.bytes_stored = writer.stats().bytes_new_stored;
  }
  if (!lock->StillValid()) {
    return Error(ErrorCode::kLocked, "the repository lock was lost; WAL file not archived");
  }
  rec.pushed_unix_ns = NowNs();
  Status put = repo::PutWalRecord(repo, rec);
  if (!put.ok() && put.error().code() == ErrorCode::kAlreadyExists) {
    // Another push of the same name won the race: fine if it is the same file.
    BW_ASSIGN_OR_RETURN(auto other, repo::GetWalRecord(repo, component, result.name));
    BW_RETURN_IF_ERROR(SameOrConflict(other, component, result.size, sha));
    result.already_archived = true;
    return result;
  }
  BW_RETURN_IF_ERROR(put);
  return result;
}

Status GetWalFile(const repo::Repository& repo, const std::string& component,
                  const std::string& name, const std::string& dest, const WalGetOptions& options) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return Error(ErrorCode::kUsage, "'" + name + "' is not a WAL file name");
  }
  const bool spool = !options.spool_dir.empty();
  if (spool) {
    // A prefetched copy was verified when it was fetched.
    const std::string spooled = files::JoinPath(options.spool_dir, name);
    if (::rename(spooled.c_str(), dest.c_str()) == 0) return Status::Ok();
  }
  std::vector<std::string> names = {name};
  auto wid = ParseWalFileName(name, kDefaultWalSegmentSize);
  if (spool && options.prefetch > 0 && wid) {
    ::mkdir(options.spool_dir.c_str(), 0700);
    for (int k = 1; k <= options.prefetch; ++k) {
      std::string next =
          WalFileName(wid->timeline, wid->segno + static_cast<uint64_t>(k), kDefaultWalSegmentSize);
      struct stat st;
      if (::stat(files::JoinPath(options.spool_dir, next).c_str(), &st) == 0) continue;
      names.push_back(next);
    }
  }
  std::vector<Status> results(names.size());
  (void)repo::ParallelFor(names.size(), static_cast<int>(names.size()), [&](size_t i) -> Status {
    auto rec = repo::GetWalRecord(repo, component, names[i]);
    if (!rec.ok()) {
      results[i] = rec.error();
      return Status::Ok();
    }
    results[i] = FetchTo(repo, *rec, i == 0 ? dest : files::JoinPath(options.spool_dir, names[i]));
    return Status::Ok();
  });
  if (spool && wid) {
    // Older spooled segments will not be asked for again on this timeline.
    if (DIR* d = ::opendir(options.spool_dir.c_str())) {
      while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (IsWalSegmentName(n) && n.substr(0, 8) == name.substr(0, 8) && n < name) {
          ::unlink(files::JoinPath(options.spool_dir, n).c_str());
        }
      }
      ::closedir(d);
    }
  }
  if (!results[0].ok() && results[0].error().code() == ErrorCode::kNotFound && wid) {
    // The end of streamed WAL: the longest partial record of this segment, if any.
    BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo, component));
    const repo::WalRecord* best = nullptr;
    for (const auto& r : records) {
      auto p = ParsePartialWalName(r.name);
      if (p && p->segment == name && (best == nullptr || r.size > best->size)) best = &r;
    }
    if (best != nullptr) return FetchTo(repo, *best, dest, kDefaultWalSegmentSize);
  }
  if (!results[0].ok() && results[0].error().code() == ErrorCode::kNotFound) {
    return Error(ErrorCode::kNotFound,
                 "WAL file " + name + " is not archived for component '" + component + "'");
  }
  return results[0];
}

Result<WalExpireResult> ExpireWal(repo::Repository& repo, const std::string& component,
                                  const std::set<std::string>& forgotten, bool dry_run) {
  WalExpireResult result;
  BW_ASSIGN_OR_RETURN(auto snapshots, repo::LoadAllSnapshots(repo));
  std::optional<uint64_t> keep_segno;
  uint64_t seg_size = kDefaultWalSegmentSize;
  for (const auto& s : snapshots) {
    if (s.kind != kSnapshotKind || s.component != component || forgotten.count(s.id.Hex())) {
      continue;
    }
    const uint64_t seg = s.source.value("wal_segment_size", kDefaultWalSegmentSize);
    auto first = ParseWalFileName(s.source.value("wal_start", std::string()), seg);
    // A backup without a WAL range cannot be placed: keep everything.
    if (!first) return result;
    if (!keep_segno || first->segno < *keep_segno) {
      keep_segno = first->segno;
      seg_size = seg;
      result.keep_from = WalFileName(first->timeline, first->segno, seg);
    }
  }
  if (!keep_segno) return result;
  BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo, component));
  for (const auto& r : records) {
    // Segments, "<segment>.partial" and "<segment>.<offset>.backup" all start with the segment.
    auto id = ParseWalFileName(std::string_view(r.name).substr(0, 24), seg_size);
    if (IsTimelineHistoryName(r.name) || !id || id->segno >= *keep_segno) continue;
    result.removed.push_back(r.name);
  }
  std::sort(result.removed.begin(), result.removed.end());
  // Object lock: WAL still under retention stays (the server would refuse to delete it); a
  // later forget expires it.
  if (const auto& lock = repo.config().object_lock; lock.enabled()) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::vector<std::string> deletable;
    for (const auto& name : result.removed) {
      BW_ASSIGN_OR_RETURN(auto info,
                          repo.backend().Stat(repo::WalRecordKey(repo, component, name)));
      if (repo::RetainUntil(lock, info, 60) <= now) deletable.push_back(name);
    }
    result.removed = std::move(deletable);
  }
  if (dry_run) return result;
  for (const auto& name : result.removed) {
    BW_RETURN_IF_ERROR(repo.backend().Remove(repo::WalRecordKey(repo, component, name)));
  }
  return result;
}

Result<std::vector<WalCheckResult>> CheckWalArchive(const repo::Repository& repo) {
  BW_ASSIGN_OR_RETURN(auto snapshots, repo::LoadAllSnapshots(repo));
  struct Start {
    uint64_t segno = UINT64_MAX;
    uint64_t seg_size = kDefaultWalSegmentSize;
  };
  std::map<std::string, Start> starts;
  for (const auto& s : snapshots) {
    if (s.kind != kSnapshotKind) continue;
    Start& st = starts[s.component];
    const uint64_t seg = s.source.value("wal_segment_size", kDefaultWalSegmentSize);
    auto first = ParseWalFileName(s.source.value("wal_start", std::string()), seg);
    if (first && first->segno < st.segno) st = {first->segno, seg};
  }
  std::vector<WalCheckResult> out;
  for (const auto& [component, start] : starts) {
    WalCheckResult res;
    res.component = component;
    BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo, component));
    res.files = records.size();
    std::set<uint64_t> segnos;
    uint64_t newest = 0;
    for (const auto& r : records) {
      for (const auto& b : r.blobs) {
        if (!repo.index().HasUsable(repo::BlobType::kData, b)) {
          res.problems.push_back(
              fmt::format("archived WAL file {} of component '{}': data blob {} "
                          "is in no index",
                          r.name, component, b.ShortHex()));
          break;
        }
      }
      auto id = ParseWalFileName(r.name, start.seg_size);
      if (!id) continue;
      segnos.insert(id->segno);
      if (res.to.empty() || id->segno > newest || (id->segno == newest && r.name > res.to)) {
        newest = id->segno;
        res.to = r.name;
      }
    }
    if (start.segno != UINT64_MAX && (segnos.empty() || newest < start.segno)) {
      res.from = WalFileName(1, start.segno, start.seg_size);
      res.problems.push_back(
          fmt::format("WAL of component '{}' is not archived from segment "
                      "number {} on: its oldest backup cannot be restored",
                      component, res.from.substr(8)));
    } else if (start.segno != UINT64_MAX) {
      const uint32_t tli = res.to.empty() ? 1 : ParseWalFileName(res.to, start.seg_size)->timeline;
      res.from = WalFileName(tli, start.segno, start.seg_size);
      std::optional<uint64_t> gap;
      for (uint64_t n = start.segno; n <= newest + 1; ++n) {
        const bool have = n > newest || segnos.count(n) > 0;
        if (!have && !gap) gap = n;
        if (have && gap) {
          res.problems.push_back(fmt::format(
              "WAL of component '{}' has a gap: segment{} {}{} not archived", component,
              n - *gap > 1 ? "s" : "", WalFileName(tli, *gap, start.seg_size),
              n - *gap > 1 ? ".." + WalFileName(tli, n - 1, start.seg_size) + " are" : " is"));
          gap.reset();
        }
      }
    }
    out.push_back(std::move(res));
  }
  return out;
}

Result<std::set<std::string>> ArchivedWalNames(const repo::Repository& repo,
                                               const std::string& component) {
  BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo, component));
  std::set<std::string> names;
  for (const auto& r : records) names.insert(r.name);
  return names;
}

Result<WalStatus> GetWalStatus(const repo::Repository& repo, const std::string& component,
                               uint64_t seg_size) {
  BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo, component));
  WalStatus st;
  std::map<uint32_t, std::vector<uint64_t>> by_timeline;
  std::vector<std::pair<std::string, int64_t>> partials;  // segment, pushed
  for (const auto& r : records) {
    ++st.files;
    st.bytes += r.size;
    if (IsTimelineHistoryName(r.name)) st.histories.push_back(r.name);
    if (auto p = ParsePartialWalName(r.name)) partials.emplace_back(p->segment, r.pushed_unix_ns);
    auto id = ParseWalFileName(r.name, seg_size);
    if (!id) continue;
    by_timeline[id->timeline].push_back(id->segno);
    if (st.newest_segment.empty() || r.name > st.newest_segment) {
      st.newest_segment = r.name;
      st.newest_pushed_unix_ns = r.pushed_unix_ns;
    }
    if (st.oldest_segment.empty() || r.name < st.oldest_segment) st.oldest_segment = r.name;
  }
  // WAL that wal-receive streamed into a segment after the newest whole one counts for the lag.
  for (const auto& [segment, pushed] : partials) {
    if (segment > st.newest_segment) {
      st.newest_pushed_unix_ns = std::max(st.newest_pushed_unix_ns, pushed);
    }
  }
  std::sort(st.histories.begin(), st.histories.end());
  for (auto& [tli, segs] : by_timeline) {
    std::sort(segs.begin(), segs.end());
    for (size_t i = 1; i < segs.size(); ++i) {
      if (segs[i] > segs[i - 1] + 1) {
        st.gaps.push_back(WalFileName(tli, segs[i - 1] + 1, seg_size) + ".." +
                          WalFileName(tli, segs[i] - 1, seg_size));
      }
    }
  }
  return st;
}

}  // namespace bulwark::sources::postgres

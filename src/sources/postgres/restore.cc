#include "sources/postgres/restore.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>

#include "sources/files/fs_util.h"
#include "sources/files/list.h"
#include "sources/files/restore.h"
#include "sources/postgres/backup.h"
#include "sources/postgres/wal_archive.h"
#include "sources/postgres/wal_names.h"
#include "sources/postgres/wal_target.h"

namespace bulwark::sources::postgres {

namespace {

const char* TargetSetting(RecoveryTarget t) {
  switch (t) {
    case RecoveryTarget::kTime:
      return "recovery_target_time";
    case RecoveryTarget::kLsn:
      return "recovery_target_lsn";
    case RecoveryTarget::kXid:
      return "recovery_target_xid";
    case RecoveryTarget::kName:
      return "recovery_target_name";
    case RecoveryTarget::kImmediate:
      return "recovery_target";
    case RecoveryTarget::kLatest:
      break;
  }
  return "";
}

// Single-quoted postgresql.conf value.
std::string ConfQuote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'')
      out += "''";
    else if (c == '\\')
      out += "\\\\";
    else
      out += c;
  }
  return out + "'";
}

int64_t StopNs(const repo::Snapshot& s) {
  return s.source.value("backup_stop_unix_ns", s.time_unix_ns);
}

Result<Lsn> StopLsn(const repo::Snapshot& s) {
  return ParseLsn(s.source.value("stop_lsn", std::string()));
}

constexpr const char* kNotEmpty = "it is not empty";

bool DirIsEmptyOrMissing(const std::string& path, std::string* why) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return true;
    *why = std::strerror(errno);
    return false;
  }
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  if (!empty) *why = kNotEmpty;
  return empty;
}

Status WriteFileDurably(const std::string& path, const std::string& contents, uid_t uid, gid_t gid,
                        bool chown_it) {
  const std::string tmp = path + ".bulwark-tmp";
  files::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("creating " + tmp, errno);
  BW_RETURN_IF_ERROR(files::WriteAll(
      fd.get(), ByteView(reinterpret_cast<const uint8_t*>(contents.data()), contents.size()), -1,
      path));
  if (chown_it && ::fchown(fd.get(), uid, gid) != 0) return ErrnoError("chown " + path, errno);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + path, errno);
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("renaming " + path, errno);
  return Status::Ok();
}

std::string ReadSmallFile(const std::string& path) {
  files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// True if one of the two directories is the other or lies inside it.
bool Overlap(const std::string& a, const std::string& b) {
  return a == b || a.rfind(b + "/", 0) == 0 || b.rfind(a + "/", 0) == 0;
}

// Relocated tablespaces: each OID once, each directory apart from the others and the target.
Status CheckMappings(const std::vector<TablespaceMapping>& maps, const std::string& target) {
  for (size_t i = 0; i < maps.size(); ++i) {
    if (Overlap(maps[i].dir, target)) {
      return Error(ErrorCode::kUsage, "tablespace " + maps[i].oid + " directory " + maps[i].dir +
                                          " overlaps the restore target " + target);
    }
    for (size_t j = 0; j < i; ++j) {
      if (maps[i].oid == maps[j].oid) {
        return Error(ErrorCode::kUsage, "tablespace " + maps[i].oid + " is mapped twice");
      }
      if (Overlap(maps[i].dir, maps[j].dir)) {
        return Error(ErrorCode::kUsage, "tablespaces " + maps[j].oid + " and " + maps[i].oid +
                                            " are mapped to overlapping directories (" +
                                            maps[j].dir + ", " + maps[i].dir + ")");
      }
    }
  }
  return Status::Ok();
}

// A relocated tablespace's directory must be missing or empty; with delta it may also be a
// tablespace directory already (it holds a PG_<version>_<catversion> directory).
Status CheckTablespaceDir(const TablespaceMapping& m, bool delta) {
  std::string why;
  if (DirIsEmptyOrMissing(m.dir, &why)) return Status::Ok();
  if (delta && why == kNotEmpty) {
    DIR* d = ::opendir(m.dir.c_str());
    bool holds = false;
    while (d != nullptr && !holds) {
      struct dirent* e = ::readdir(d);
      if (e == nullptr) break;
      holds = std::strncmp(e->d_name, "PG_", 3) == 0;
    }
    if (d != nullptr) ::closedir(d);
    if (holds) return Status::Ok();
    why = "it is not empty and holds no PG_<version> directory (not a tablespace)";
  }
  return Error(ErrorCode::kUsage, "tablespace " + m.oid + " directory " + m.dir +
                                      " cannot be used: " + why + " (it must be missing or empty)");
}

// OIDs of the tablespaces a backup holds (the directories in its pg_tblspc).
Result<std::set<std::string>> BackupTablespaces(const repo::Repository& repo,
                                                const repo::Snapshot& snap) {
  std::set<std::string> oids;
  auto node = files::FindNode(repo, snap, "/pg_tblspc");
  if (!node.ok()) {
    if (node.error().code() == ErrorCode::kNotFound) return oids;
    return node.error();
  }
  if (node->type != repo::NodeType::kDir) return oids;
  BW_ASSIGN_OR_RETURN(repo::Tree tree, files::LoadTree(repo, node->subtree));
  for (const auto& n : tree.nodes) {
    if (n.type == repo::NodeType::kDir) oids.insert(n.name);
  }
  return oids;
}

// A relocated tablespace's directory gets the stored owner and mode, and pg_tblspc/<oid>
// becomes a symlink to it.
Status LinkTablespace(const repo::Repository& repo, const repo::Snapshot& snap,
                      const std::string& target, const TablespaceMapping& m, bool root) {
  BW_ASSIGN_OR_RETURN(repo::Node node, files::FindNode(repo, snap, "/pg_tblspc/" + m.oid));
  if (::mkdir(m.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("creating " + m.dir, errno);
  }
  if (root && ::chown(m.dir.c_str(), node.uid, node.gid) != 0) {
    return ErrnoError("chown " + m.dir, errno);
  }
  if (::chmod(m.dir.c_str(), node.mode) != 0) return ErrnoError("chmod " + m.dir, errno);
  const std::string parent = target + "/pg_tblspc";
  const std::string link = parent + "/" + m.oid;
  if (ReadSymlink(link) != m.dir) {
    ::unlink(link.c_str());  // PlanLayout removed anything else in its place
    if (::symlink(m.dir.c_str(), link.c_str()) != 0) {
      return ErrnoError("creating symlink " + link, errno);
    }
  }
  if (root && ::lchown(link.c_str(), node.uid, node.gid) != 0) {
    return ErrnoError("chown " + link, errno);
  }
  files::UniqueFd dfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid() || ::fsync(dfd.get()) != 0) return ErrnoError("syncing " + parent, errno);
  return Status::Ok();
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

Result<PgRestorePlan> PlanPgRestore(const repo::Repository& repo, const PgRestoreOptions& options) {
  BW_ASSIGN_OR_RETURN(auto all, repo::LoadAllSnapshots(repo));
  std::vector<const repo::Snapshot*> backups;  // oldest first
  for (const auto& s : all) {
    if (s.kind == kSnapshotKind &&
        (options.component.empty() || s.component == options.component)) {
      backups.push_back(&s);
    }
  }
  std::optional<int64_t> target_ns;
  std::optional<Lsn> target_lsn;
  if (options.target == RecoveryTarget::kTime) {
    auto t = repo::ParseTime(options.target_value);
    if (!t.ok()) return t.error().Wrap("--time");
    target_ns = *t;
  } else if (options.target == RecoveryTarget::kLsn) {
    BW_ASSIGN_OR_RETURN(Lsn l, ParseLsn(options.target_value));
    target_lsn = l;
  }

  PgRestorePlan plan;
  if (options.snapshot != "latest") {
    BW_ASSIGN_OR_RETURN(plan.snapshot,
                        repo::FindSnapshot(repo, options.snapshot, options.component));
    if (plan.snapshot.kind != kSnapshotKind) {
      return Error(ErrorCode::kUsage, "snapshot " + plan.snapshot.id.ShortHex() + " is a " +
                                          plan.snapshot.kind +
                                          " snapshot, not a PostgreSQL backup");
    }
    if (target_ns && *target_ns < StopNs(plan.snapshot)) {
      return Error(ErrorCode::kUsage,
                   fmt::format("recovery target time {} is before the end of backup {} ({}); "
                               "choose an older backup or 'latest'",
                               options.target_value, plan.snapshot.id.ShortHex(),
                               repo::FormatTimeRfc3339(StopNs(plan.snapshot))));
    }
    if (target_lsn) {
      BW_ASSIGN_OR_RETURN(Lsn stop, StopLsn(plan.snapshot));
      if (*target_lsn < stop) {
        return Error(
            ErrorCode::kUsage,
            fmt::format("recovery target LSN {} is before the end of backup {} ({})",
                        options.target_value, plan.snapshot.id.ShortHex(), FormatLsn(stop)));
      }
    }
  } else {
    if (backups.empty()) {
      return Error(ErrorCode::kNotFound,
                   "no PostgreSQL backup of component '" + options.component + "'");
    }
    const repo::Snapshot* pick = nullptr;
    for (auto it = backups.rbegin(); it != backups.rend(); ++it) {
      const repo::Snapshot* s = *it;
      if (target_ns && StopNs(*s) >= *target_ns) continue;
      if (target_lsn) {
        auto stop = StopLsn(*s);
        if (!stop.ok() || *stop > *target_lsn) continue;
      }
      pick = s;
      break;
    }
    if (pick == nullptr) {
      const repo::Snapshot* oldest = backups.front();
      if (target_ns) {
        return Error(ErrorCode::kUsage,
                     fmt::format("recovery target time {} is before the end of the oldest backup "
                                 "of component '{}' ({}, snapshot {})",
                                 options.target_value, options.component,
                                 repo::FormatTimeRfc3339(StopNs(*oldest)), oldest->id.ShortHex()));
      }
      return Error(
          ErrorCode::kUsage,
          fmt::format("recovery target LSN {} is before the end of the oldest backup of "
                      "component '{}' ({}, snapshot {})",
                      options.target_value, options.component,
                      oldest->source.value("stop_lsn", std::string()), oldest->id.ShortHex()));
    }
    plan.snapshot = *pick;
  }

  const std::string component = plan.snapshot.component;
  BW_ASSIGN_OR_RETURN(auto records, repo::ListWalRecords(repo, component));
  if (options.target == RecoveryTarget::kXid || options.target == RecoveryTarget::kName) {
    std::vector<const repo::Snapshot*> same_component;
    for (const auto* b : backups) {
      if (b->component == component) same_component.push_back(b);
    }
    StopRecordTarget stop{options.target == RecoveryTarget::kXid, options.target_value};
    BW_ASSIGN_OR_RETURN(
        const repo::Snapshot* pick,
        FindBackupForStopRecord(repo, same_component,
                                options.snapshot == "latest" ? nullptr : &plan.snapshot, records,
                                stop));
    if (pick != &plan.snapshot) plan.snapshot = *pick;
  }

  // The WAL the backup itself needs must be archived, and a time target must not lie beyond
  // the newest archived WAL.
  const auto& src = plan.snapshot.source;
  const uint64_t seg = src.value("wal_segment_size", kDefaultWalSegmentSize);
  auto first = ParseWalFileName(src.value("wal_start", std::string()), seg);
  auto last = ParseWalFileName(src.value("wal_stop", std::string()), seg);
  if (!first || !last) {
    return Error(ErrorCode::kIntegrity,
                 "snapshot " + plan.snapshot.id.ShortHex() + " records no WAL range");
  }
  std::set<std::string> names;
  int64_t newest_push = 0;
  for (const auto& r : records) {
    names.insert(r.name);
    newest_push = std::max(newest_push, r.pushed_unix_ns);
  }
  for (uint64_t s = first->segno; s <= last->segno; ++s) {
    std::string n = WalFileName(first->timeline, s, seg);
    plan.wal_needed.push_back(n);
    if (!names.count(n)) {
      return Error(ErrorCode::kIntegrity,
                   fmt::format("WAL segment {} needed by backup {} is not archived for component "
                               "'{}'; the backup cannot be made consistent (check archive_command "
                               "and `bulwark wal-status --component {}`)",
                               n, plan.snapshot.id.ShortHex(), component, component));
    }
  }
  if (target_ns && *target_ns > newest_push) {
    return Error(
        ErrorCode::kUsage,
        fmt::format("recovery target time {} is after the newest archived WAL of "
                    "component '{}' (archived {}); recovery could not reach it",
                    options.target_value, component, repo::FormatTimeRfc3339(newest_push)));
  }
  if (target_lsn) {
    // Every segment up to the target on the backup's timeline, unless a later timeline exists
    // (then the path may switch timelines and PostgreSQL follows the history files).
    bool later_timeline = false;
    for (const auto& n : names) {
      if (IsTimelineHistoryName(n) && n.substr(0, 8) > src.value("wal_start", "").substr(0, 8)) {
        later_timeline = true;
      }
    }
    if (!later_timeline) {
      for (uint64_t s = last->segno + 1; s <= SegmentBefore(*target_lsn, seg); ++s) {
        std::string n = WalFileName(first->timeline, s, seg);
        if (!names.count(n)) {
          return Error(ErrorCode::kUsage,
                       fmt::format("recovery target LSN {} needs WAL segment {}, which is not "
                                   "archived for component '{}'",
                                   options.target_value, n, component));
        }
      }
    }
  }
  return plan;
}

Result<PgRestoreResult> RestorePostgres(repo::Repository& repo, const PgRestoreOptions& options) {
  if (options.target_dir.empty()) return Error(ErrorCode::kUsage, "no --target given");
  BW_ASSIGN_OR_RETURN(std::string target, files::AbsolutePath(options.target_dir));
  if (options.wal_get_prefix.empty()) {
    return Error(ErrorCode::kUsage, "internal: no restore_command to write");
  }
  PgRestoreResult result;
  BW_RETURN_IF_ERROR(CheckMappings(options.tablespace_map, target));
  std::string why;
  if (!DirIsEmptyOrMissing(target, &why)) {
    if (!options.delta || why != kNotEmpty) {
      return Error(ErrorCode::kUsage,
                   "restore target " + target + " cannot be used: " + why +
                       " (restore postgres needs a missing or empty directory, or --delta to "
                       "update a stopped cluster's data directory)");
    }
    struct stat st;
    if (::stat((target + "/PG_VERSION").c_str(), &st) != 0) {
      return Error(ErrorCode::kUsage, "restore --delta target " + target +
                                          " is not a PostgreSQL data directory (no PG_VERSION); "
                                          "refusing to replace its contents");
    }
    BW_RETURN_IF_ERROR(CheckServerStopped(target));
    result.delta = true;
  }
  for (const auto& m : options.tablespace_map) {
    BW_RETURN_IF_ERROR(CheckTablespaceDir(m, result.delta));
  }
  BW_ASSIGN_OR_RETURN(result.plan, PlanPgRestore(repo, options));
  const repo::Snapshot& snap = result.plan.snapshot;

  // Where each part lands: the data directory, then relocated tablespaces.
  BW_ASSIGN_OR_RETURN(std::set<std::string> oids, BackupTablespaces(repo, snap));
  std::vector<RestoreLocation> locations = {{"/", target, {}, false}};
  for (const auto& m : options.tablespace_map) {
    if (!oids.count(m.oid)) {
      std::string held;
      for (const auto& o : oids) held += (held.empty() ? "" : ", ") + o;
      return Error(
          ErrorCode::kUsage,
          fmt::format("--tablespace-map {}={}: backup {} has no tablespace {} (it has: "
                      "{})",
                      m.oid, m.dir, snap.id.ShortHex(), m.oid, held.empty() ? "none" : held));
    }
    result.tablespaces.push_back(m);
  }
  if (result.delta) {
    // A tablespace that is a symlink in the existing directory stays where it is.
    for (const auto& oid : oids) {
      bool mapped = false;
      for (const auto& m : options.tablespace_map) mapped = mapped || m.oid == oid;
      const std::string link = target + "/pg_tblspc/" + oid;
      struct stat st;
      if (mapped || ::lstat(link.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
      std::string dest = ReadSymlink(link);
      if (dest.empty()) return ErrnoError("reading symlink " + link, errno);
      if (dest[0] != '/') dest = target + "/pg_tblspc/" + dest;
      BW_ASSIGN_OR_RETURN(dest, files::AbsolutePath(dest));
      TablespaceMapping m{oid, dest};
      BW_RETURN_IF_ERROR(CheckTablespaceDir(m, true));
      std::vector<TablespaceMapping> all = result.tablespaces;
      all.push_back(m);
      BW_RETURN_IF_ERROR(CheckMappings(all, target));
      result.tablespaces.push_back(m);
    }
  }
  for (const auto& m : result.tablespaces) {
    locations.push_back({"/pg_tblspc/" + m.oid, m.dir, {}, false});
  }

  // Nothing has been written so far. From here on the directories are changed.
  BW_RETURN_IF_ERROR(PlanLayout(repo, snap, options.workers, locations, result.kept));
  for (const auto& loc : locations) {
    if (!loc.everything && loc.paths.empty()) continue;  // nothing differs
    files::FilesRestoreOptions fo;
    fo.target = loc.dir;
    fo.paths.insert(loc.paths.begin(), loc.paths.end());
    if (loc.snap_root != "/") fo.subpath = loc.snap_root;
    fo.workers = options.workers;
    fo.rehash = options.rehash;
    fo.progress = options.progress;
    BW_ASSIGN_OR_RETURN(auto fr, files::RestoreSnapshot(repo, snap, fo));
    if (!fr.damaged.empty()) {
      return Error(ErrorCode::kIntegrity,
                   fmt::format("{} file{} of backup {} are damaged in the repository (first: {}); "
                               "the data directory in {} is incomplete",
                               fr.damaged.size(), fr.damaged.size() == 1 ? "" : "s",
                               snap.id.ShortHex(), fr.damaged.front(), target));
    }
    if (!fr.errors.empty()) {
      return Error(ErrorCode::kFailure,
                   fmt::format("{} file{} could not be restored (first: {})", fr.errors.size(),
                               fr.errors.size() == 1 ? "" : "s", fr.errors.front()));
    }
    result.files += fr.files;
    result.dirs += fr.dirs;
    result.bytes_written += fr.bytes_written;
  }

  // The restored files carry the original owner; the files written here and the directory
  // itself get the same one (as root), and the mode PostgreSQL insists on.
  struct stat ref;
  const bool have_ref = ::stat((target + "/PG_VERSION").c_str(), &ref) == 0;
  if (!have_ref) {
    return Error(ErrorCode::kIntegrity,
                 "backup " + snap.id.ShortHex() + " holds no PG_VERSION: not a data directory");
  }
  const bool root = ::geteuid() == 0;
  if (root && ::chown(target.c_str(), ref.st_uid, ref.st_gid) != 0) {
    return ErrnoError("chown " + target, errno);
  }
  if (::chmod(target.c_str(), 0700) != 0) return ErrnoError("chmod " + target, errno);
  for (const auto& m : result.tablespaces) {
    BW_RETURN_IF_ERROR(LinkTablespace(repo, snap, target, m, root));
  }

  const auto& src = snap.source;
  BW_RETURN_IF_ERROR(WriteFileDurably(target + "/backup_label",
                                      src.value("backup_label", std::string()), ref.st_uid,
                                      ref.st_gid, root));
  // Tablespaces were stored as directories inside pg_tblspc and are restored there or, when
  // relocated, linked from there already, so no tablespace_map is written (it would ask
  // PostgreSQL to replace pg_tblspc's entries with symlinks of its own).
  BW_RETURN_IF_ERROR(
      WriteFileDurably(target + "/recovery.signal", "", ref.st_uid, ref.st_gid, root));

  // Tablespaces restored as directories inside pg_tblspc are in-place tablespaces to
  // PostgreSQL 15, whose recovery refuses them (PANIC "unexpected directory entry") unless
  // this is on.
  const bool in_place = oids.size() > result.tablespaces.size();

  // postgresql.auto.conf: drop earlier recovery settings (two different recovery targets are
  // an error for PostgreSQL), then append ours.
  const std::string auto_conf = target + "/postgresql.auto.conf";
  std::string conf;
  {
    std::istringstream in(ReadSmallFile(auto_conf));
    std::string line;
    while (std::getline(in, line)) {
      std::string t = line.substr(line.find_first_not_of(" \t") == std::string::npos
                                      ? line.size()
                                      : line.find_first_not_of(" \t"));
      if (StartsWith(t, "restore_command") || StartsWith(t, "recovery_target")) continue;
      if (in_place && StartsWith(t, "allow_in_place_tablespaces")) continue;
      conf += line + "\n";
    }
  }
  const std::string restore_command =
      options.wal_get_prefix + " wal-get --component " + ShellQuote(snap.component) + " %f %p";
  result.settings.push_back("restore_command = " + ConfQuote(restore_command));
  if (options.target != RecoveryTarget::kLatest) {
    std::string value =
        options.target == RecoveryTarget::kImmediate ? "immediate" : options.target_value;
    result.settings.push_back(std::string(TargetSetting(options.target)) + " = " +
                              ConfQuote(value));
    result.settings.push_back("recovery_target_action = 'promote'");
  }
  std::string timeline = options.timeline;
  if (timeline.empty()) timeline = options.target == RecoveryTarget::kLatest ? "latest" : "current";
  result.settings.push_back("recovery_target_timeline = " + ConfQuote(timeline));
  if (in_place) result.settings.push_back("allow_in_place_tablespaces = on");
  conf += "# Recovery settings written by bulwark restore postgres (snapshot " +
          snap.id.ShortHex() + ")\n";
  for (const auto& s : result.settings) conf += s + "\n";
  BW_RETURN_IF_ERROR(WriteFileDurably(auto_conf, conf, ref.st_uid, ref.st_gid, root));

  // Durable: the files written here, and what the delta removed or corrected.
  for (const auto& loc : locations) {
    files::UniqueFd dfd(::open(loc.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.valid() || ::syncfs(dfd.get()) != 0 || ::fsync(dfd.get()) != 0) {
      return ErrnoError("syncing " + loc.dir, errno);
    }
  }
  return result;
}

}  // namespace bulwark::sources::postgres

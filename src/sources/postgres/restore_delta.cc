#include "sources/postgres/restore_delta.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <map>
#include <set>

#include "repo/parallel.h"
#include "repo/tree.h"
#include "sources/files/fs_util.h"
#include "sources/files/list.h"

namespace bulwark::sources::postgres {

namespace {

using repo::Node;
using repo::NodeType;

// Removes `path` and, for a directory, everything below it; symlinks are removed, never
// followed.
Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::Ok() : ErrnoError("removing " + path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return ErrnoError("removing " + path, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") {
        names.emplace_back(e->d_name);
      }
    }
    ::closedir(d);
    for (const auto& n : names) BW_RETURN_IF_ERROR(RemoveAll(files::JoinPath(path, n)));
    if (::rmdir(path.c_str()) != 0) return ErrnoError("removing " + path, errno);
  } else if (::unlink(path.c_str()) != 0) {
    return ErrnoError("removing " + path, errno);
  }
  return Status::Ok();
}

// Entries of `dir` by name with their lstat; none for a missing directory.
Status ListDisk(const std::string& dir, std::map<std::string, struct stat>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Status::Ok() : ErrnoError("listing " + dir, errno);
  Status status;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      status = ErrnoError("examining " + files::JoinPath(dir, name), errno);
      break;
    }
    out.emplace(std::move(name), st);
  }
  ::closedir(d);
  return status;
}

// Creates `path` and its missing parents.
Status MakeDirs(const std::string& path) {
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    std::string partial = path.substr(0, pos);
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError("creating " + partial, errno);
    }
    if (pos == std::string::npos) return Status::Ok();
  }
}

// Mode and, as root, owner of an existing file or directory, where they differ from `meta`.
Status FixOwnerMode(int fd, const std::string& path, const struct stat& st, const Node& meta) {
  if (::geteuid() == 0 && (st.st_uid != meta.uid || st.st_gid != meta.gid) &&
      ::fchown(fd, meta.uid, meta.gid) != 0) {
    return ErrnoError("chown " + path, errno);
  }
  if ((st.st_mode & 07777) != meta.mode && ::fchmod(fd, meta.mode) != 0) {
    return ErrnoError("chmod " + path, errno);
  }
  return Status::Ok();
}

Status FixDirMeta(const std::string& path, const struct stat& st, const Node& meta) {
  files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("opening " + path, errno);
  return FixOwnerMode(fd.get(), path, st, meta);
}

bool SameType(const Node& node, const struct stat& st, const std::string& path) {
  switch (node.type) {
    case NodeType::kDir:
      return S_ISDIR(st.st_mode);
    case NodeType::kFile:
      return S_ISREG(st.st_mode);
    case NodeType::kSymlink:
      return S_ISLNK(st.st_mode) && ReadSymlink(path) == node.link_target;
    default:
      return false;  // devices, fifos, sockets: recreated (a data directory holds none)
  }
}

// What a directory of the snapshot needs: the snapshot paths to write below it, and whether
// nothing below it is kept (then the directory as a whole can be written).
struct WalkResult {
  bool all = true;
  std::vector<std::string> paths;
};

class LayoutPlanner {
 public:
  LayoutPlanner(const repo::Repository& repo, int workers,
                std::map<std::string, std::string> relocated, LayoutCounts& counts)
      : repo_(repo),
        workers_(workers > 0 ? workers : 4),
        relocated_(std::move(relocated)),
        counts_(counts) {}

  // True if a relocated tablespace lies below snapshot path `sp`.
  bool LeadsToRelocated(const std::string& sp) const {
    for (const auto& [path, dir] : relocated_) {
      if (sp == "/" || path.rfind(sp + "/", 0) == 0) return true;
    }
    return false;
  }

  Result<WalkResult> Walk(const Id& tree_id, const std::string& snap_dir,
                          const std::string& disk_dir) {
    BW_ASSIGN_OR_RETURN(repo::Tree tree, files::LoadTree(repo_, tree_id));
    std::map<std::string, struct stat> disk;
    BW_RETURN_IF_ERROR(ListDisk(disk_dir, disk));
    std::set<std::string> names;
    for (const auto& n : tree.nodes) names.insert(n.name);
    for (const auto& [name, st] : disk) {
      if (names.count(name)) continue;
      BW_RETURN_IF_ERROR(RemoveAll(files::JoinPath(disk_dir, name)));
      ++counts_.removed;
    }

    WalkResult out;
    struct Compare {
      const Node* node;
      std::string snap_path;
      std::string path;
      uint64_t size = 0;
      bool same = false;
    };
    std::vector<Compare> compares;
    for (const Node& node : tree.nodes) {
      const std::string sp = files::JoinPath(snap_dir, node.name);
      const std::string dp = files::JoinPath(disk_dir, node.name);
      auto it = disk.find(node.name);
      bool exists = it != disk.end();
      if (auto reloc = relocated_.find(sp); reloc != relocated_.end()) {
        // Becomes a symlink to the relocated directory (made by the caller).
        out.all = false;
        if (exists && !(S_ISLNK(it->second.st_mode) && ReadSymlink(dp) == reloc->second)) {
          BW_RETURN_IF_ERROR(RemoveAll(dp));
          ++counts_.removed;
        }
        continue;
      }
      if (exists && !SameType(node, it->second, dp)) {
        BW_RETURN_IF_ERROR(RemoveAll(dp));
        ++counts_.removed;
        exists = false;
      }
      if (node.type == NodeType::kDir) {
        const bool leads = LeadsToRelocated(sp);
        if (!exists && !leads) {
          out.paths.push_back(sp);
          continue;
        }
        if (!exists) {
          if (::mkdir(dp.c_str(), 0700) != 0) return ErrnoError("creating " + dp, errno);
          struct stat st;
          if (::lstat(dp.c_str(), &st) != 0) return ErrnoError("creating " + dp, errno);
          BW_RETURN_IF_ERROR(FixDirMeta(dp, st, node));
        } else {
          BW_RETURN_IF_ERROR(FixDirMeta(dp, it->second, node));
        }
        BW_ASSIGN_OR_RETURN(WalkResult sub, Walk(node.subtree, sp, dp));
        if (sub.all && !leads) {
          out.paths.push_back(sp);
        } else {
          out.all = false;
          for (auto& s : sub.paths) out.paths.push_back(std::move(s));
        }
      } else if (!exists) {
        out.paths.push_back(sp);
      } else if (node.type == NodeType::kFile) {
        compares.push_back({&node, sp, dp});
      } else {
        out.all = false;  // the same symlink
      }
    }

    BW_RETURN_IF_ERROR(repo::ParallelFor(compares.size(), workers_, [&](size_t i) -> Status {
      Compare& c = compares[i];
      BW_ASSIGN_OR_RETURN(c.same, SameContents(*c.node, c.path, c.size));
      return Status::Ok();
    }));
    for (auto& c : compares) {
      if (c.same) {
        out.all = false;
        ++counts_.files_kept;
        counts_.bytes_kept += c.size;
      } else {
        out.paths.push_back(c.snap_path);
      }
    }
    return out;
  }

 private:
  // True if the file at `path` holds exactly the stored contents: the stored size, and each
  // piece (cut at the stored chunk lengths) has the stored keyed hash. Then its owner, mode and
  // times are set to the stored ones. Unreadable files are simply rewritten.
  Result<bool> SameContents(const Node& node, const std::string& path, uint64_t& size) const {
    files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return false;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    uint64_t expected = 0;
    std::vector<uint32_t> lengths;
    lengths.reserve(node.content.size());
    for (const Id& id : node.content) {
      auto loc = repo_.index().Find(repo::BlobType::kData, id);
      if (!loc) return false;  // the restore reports the missing data
      lengths.push_back(loc->raw_length);
      expected += loc->raw_length;
    }
    if (static_cast<uint64_t>(st.st_size) != expected) return false;
    static thread_local Bytes buf;
    for (size_t i = 0; i < lengths.size(); ++i) {
      buf.resize(lengths[i]);
      if (files::ReadFull(fd.get(), buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
        return false;
      }
      if (repo_.BlobId(ByteView(buf.data(), buf.size())) != node.content[i]) return false;
    }
    size = expected;
    BW_RETURN_IF_ERROR(FixOwnerMode(fd.get(), path, st, node));
    if (files::TimespecNs(st.st_mtim) != node.mtime_ns) {
      struct timespec times[2] = {files::NsTimespec(node.atime_ns),
                                  files::NsTimespec(node.mtime_ns)};
      if (::futimens(fd.get(), times) != 0) return ErrnoError("setting times of " + path, errno);
    }
    return true;
  }

  const repo::Repository& repo_;
  const int workers_;
  const std::map<std::string, std::string> relocated_;  // snapshot path -> directory
  LayoutCounts& counts_;
};

}  // namespace

Result<TablespaceMapping> ParseTablespaceMapping(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Error(ErrorCode::kUsage,
                 "--tablespace-map wants OID=DIR, got '" + std::string(text) + "'");
  }
  TablespaceMapping m;
  m.oid = std::string(text.substr(0, eq));
  std::string_view dir = text.substr(eq + 1);
  bool digits = !m.oid.empty() && m.oid.size() <= 10;
  for (char c : m.oid) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (!digits) {
    return Error(ErrorCode::kUsage, "--tablespace-map " + std::string(text) +
                                        ": the tablespace OID must be a number (see "
                                        "pg_tblspc in the backup, or pg_tablespace.oid)");
  }
  if (dir.empty() || dir[0] != '/') {
    return Error(ErrorCode::kUsage, "--tablespace-map " + std::string(text) +
                                        ": the directory must be an absolute path");
  }
  BW_ASSIGN_OR_RETURN(m.dir, files::AbsolutePath(dir));
  if (m.dir == "/") {
    return Error(ErrorCode::kUsage,
                 "--tablespace-map " + std::string(text) + ": '/' cannot hold a tablespace");
  }
  return m;
}

std::string ReadSymlink(const std::string& path) {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return {};
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Status CheckServerStopped(const std::string& data_dir) {
  const std::string pidfile = data_dir + "/postmaster.pid";
  files::UniqueFd fd(::open(pidfile.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return errno == ENOENT ? Status::Ok() : ErrnoError("reading " + pidfile, errno);
  }
  char buf[64] = {};
  ssize_t n = files::ReadFull(fd.get(), reinterpret_cast<uint8_t*>(buf), sizeof(buf) - 1);
  if (n <= 0) return Status::Ok();
  // The first line is the postmaster's PID (negative for a single-user backend).
  long pid = std::strtol(buf, nullptr, 10);
  if (pid < 0) pid = -pid;
  if (pid <= 0) return Status::Ok();
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) {
    return Error(ErrorCode::kUsage,
                 fmt::format("PostgreSQL is running on {} (postmaster.pid names live process "
                             "{}): stop the server before restore --delta (if that process is "
                             "not its postmaster, remove the stale postmaster.pid)",
                             data_dir, pid));
  }
  return Status::Ok();
}

Status PlanLayout(const repo::Repository& repo, const repo::Snapshot& snapshot, int workers,
                  std::vector<RestoreLocation>& locations, LayoutCounts& counts) {
  std::map<std::string, std::string> relocated;
  for (size_t i = 1; i < locations.size(); ++i) {
    relocated[locations[i].snap_root] = locations[i].dir;
  }
  LayoutPlanner planner(repo, workers, std::move(relocated), counts);
  for (auto& loc : locations) {
    BW_ASSIGN_OR_RETURN(Node root, files::FindNode(repo, snapshot, loc.snap_root));
    if (root.type != NodeType::kDir) {
      return Error(ErrorCode::kIntegrity,
                   loc.snap_root + " in backup " + snapshot.id.ShortHex() + " is not a directory");
    }
    const bool leads = planner.LeadsToRelocated(loc.snap_root);
    if (leads) BW_RETURN_IF_ERROR(MakeDirs(loc.dir));
    BW_ASSIGN_OR_RETURN(WalkResult w, planner.Walk(root.subtree, loc.snap_root, loc.dir));
    loc.everything = w.all && !leads;
    loc.paths = loc.everything ? std::vector<std::string>() : std::move(w.paths);
  }
  return Status::Ok();
}

}  // namespace bulwark::sources::postgres

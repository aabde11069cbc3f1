#include "sources/postgres/wal_push_async.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/cancel.h"
#include "crypto/hash.h"
#include "sources/postgres/wal_archive.h"

namespace bulwark::sources::postgres {

namespace {

using Clock = std::chrono::steady_clock;

// An answer nobody asked for within this long is stale (PostgreSQL renames .ready to .done
// right after archive_command returns, and asks within milliseconds of marking a file ready).
constexpr auto kStaleAnswer = std::chrono::seconds(120);
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string Sub(const std::string& spool, const char* dir, const std::string& name = "") {
  std::string d = files::JoinPath(spool, dir);
  return name.empty() ? d : files::JoinPath(d, name);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Small spool files: read whole, or nullopt when missing.
Result<std::optional<std::string>> ReadSmall(const std::string& path) {
  files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoError("opening " + path, errno);
  }
  std::string text(4096, '\0');
  ssize_t n = files::ReadFull(fd.get(), reinterpret_cast<uint8_t*>(text.data()), text.size());
  if (n < 0) return ErrnoError("reading " + path, errno);
  text.resize(static_cast<size_t>(n));
  return std::optional<std::string>(std::move(text));
}

// Written whole under a temporary name, then renamed: a reader never sees half of it.
Status WriteSmall(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    files::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError("creating " + tmp, errno);
    BW_RETURN_IF_ERROR(files::WriteAll(fd.get(), AsBytes(text), -1, tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError("renaming into " + path, err);
  }
  return Status::Ok();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(d);
  return out;
}

Result<std::string> FileFingerprint(const std::string& path) {
  files::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("opening " + path, errno);
  crypto::Sha256Stream sha;
  Bytes buf(1u << 20);
  uint64_t size = 0;
  while (true) {
    ssize_t n = files::ReadFull(fd.get(), buf.data(), buf.size());
    if (n < 0) return ErrnoError("reading " + path, errno);
    if (n == 0) break;
    sha.Update(ByteView(buf.data(), static_cast<size_t>(n)));
    size += static_cast<uint64_t>(n);
  }
  return fmt::format("{} {}", size, sha.Finish().Hex());
}

bool IsTempName(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
}

// Files PostgreSQL has marked ready, history files first (a new timeline's history must be
// archived before its segments), then in name order.
std::vector<std::string> ReadyNames(const std::string& wal_dir) {
  std::vector<std::string> names;
  constexpr std::string_view kReady = ".ready";
  for (std::string& f : ListDir(files::JoinPath(wal_dir, "archive_status"))) {
    if (f.size() > kReady.size() && f.ends_with(kReady)) {
      names.push_back(f.substr(0, f.size() - kReady.size()));
    }
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    bool ha = a.ends_with(".history"), hb = b.ends_with(".history");
    return ha != hb ? ha : a < b;
  });
  return names;
}

// Removes answers PostgreSQL no longer needs: no .ready file and older than kStaleAnswer.
void CollectStaleAnswers(const std::string& spool, const std::string& wal_dir) {
  const auto now = std::chrono::system_clock::now();
  for (const char* dir : {"ok", "error"}) {
    for (const std::string& name : ListDir(Sub(spool, dir))) {
      const std::string path = Sub(spool, dir, name);
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) continue;
      const auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtime));
      if (now - mtime < kStaleAnswer) continue;
      if (!IsTempName(name) &&
          Exists(files::JoinPath(wal_dir, "archive_status/" + name + ".ready"))) {
        continue;
      }
      ::unlink(path.c_str());
    }
  }
}

}  // namespace

std::string DefaultPushSpool(const std::string& wal_dir) {
  return files::JoinPath(wal_dir, ".bulwark-push");
}

Status PrepareSpool(const std::string& spool_dir) {
  for (const std::string& d :
       {spool_dir, Sub(spool_dir, "queue"), Sub(spool_dir, "ok"), Sub(spool_dir, "error")}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError("creating the WAL spool " + d, errno);
    }
  }
  return Status::Ok();
}

Result<SpoolAnswer> CheckSpool(const std::string& spool_dir, const std::string& path) {
  const std::string name = BaseName(path);
  SpoolAnswer answer;
  BW_ASSIGN_OR_RETURN(auto error, ReadSmall(Sub(spool_dir, "error", name)));
  if (error) {
    ::unlink(Sub(spool_dir, "error", name).c_str());
    answer.verdict = SpoolVerdict::kFailed;
    std::string text = *error;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    size_t space = text.find(' ');
    int code = -1;
    if (space != std::string::npos && space > 0 && space < 3) {
      code = std::atoi(text.substr(0, space).c_str());
      text = text.substr(space + 1);
    }
    if (code >= 0 && code <= static_cast<int>(ErrorCode::kIo)) {
      answer.code = static_cast<ErrorCode>(code);
    }
    answer.error = text;
    return answer;
  }
  BW_ASSIGN_OR_RETURN(auto ok, ReadSmall(Sub(spool_dir, "ok", name)));
  if (!ok) return answer;
  BW_ASSIGN_OR_RETURN(std::string mine, FileFingerprint(path));
  std::string theirs = *ok;
  while (!theirs.empty() && theirs.back() == '\n') theirs.pop_back();
  if (theirs == mine) {
    answer.verdict = SpoolVerdict::kArchived;
  } else {
    // About other contents under the same name: not an answer for this file.
    ::unlink(Sub(spool_dir, "ok", name).c_str());
  }
  return answer;
}

Status QueuePush(const std::string& spool_dir, const std::string& path) {
  return WriteSmall(Sub(spool_dir, "queue", BaseName(path)), path);
}

bool PusherRunning(const std::string& spool_dir) {
  files::UniqueFd fd(::open(Sub(spool_dir, "pusher.lock").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return false;  // nobody holds it
  return errno == EWOULDBLOCK;
}

Result<std::optional<PusherLock>> PusherLock::TryAcquire(const std::string& spool_dir) {
  const std::string path = Sub(spool_dir, "pusher.lock");
  files::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("opening " + path, errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::optional<PusherLock>();
    return ErrnoError("locking " + path, errno);
  }
  // The holder's pid, for operators (and tests) who want to stop it.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) (void)files::WriteAll(fd.get(), AsBytes(pid), 0, path);
  return std::optional<PusherLock>(PusherLock(std::move(fd)));
}

Status RunPusher(repo::Repository& repo, const std::string& component, const PusherLock& lock,
                 const AsyncPushOptions& options) {
  (void)lock;  // proof that this process is the spool's only pusher
  const std::string& spool = options.spool_dir;
  auto last_work = Clock::now();
  auto last_collect = Clock::time_point();
  while (!CancelRequested()) {
    if (Clock::now() - last_collect > std::chrono::seconds(10)) {
      CollectStaleAnswers(spool, options.wal_dir);
      last_collect = Clock::now();
    }
    // Queued files first (someone is waiting on each), then the read-ahead.
    std::vector<std::string> paths, queued;
    for (const std::string& name : ListDir(Sub(spool, "queue"))) {
      if (IsTempName(name)) continue;
      BW_ASSIGN_OR_RETURN(auto path, ReadSmall(Sub(spool, "queue", name)));
      if (!path) continue;
      queued.push_back(name);
      if (!Exists(Sub(spool, "error", name))) paths.push_back(*path);
    }
    for (const std::string& name : ReadyNames(options.wal_dir)) {
      if (paths.size() >= std::max<size_t>(1, options.batch)) break;
      if (Exists(Sub(spool, "ok", name)) || Exists(Sub(spool, "error", name))) continue;
      if (std::find(queued.begin(), queued.end(), name) != queued.end()) continue;
      paths.push_back(files::JoinPath(options.wal_dir, name));
    }
    if (paths.empty()) {
      if (std::chrono::duration<double>(Clock::now() - last_work).count() >=
          options.idle_exit_seconds) {
        return Status::Ok();
      }
      std::this_thread::sleep_for(kPollInterval);
      continue;
    }
    auto results = PushWalFiles(repo, component, paths, options.workers);
    for (size_t i = 0; i < paths.size(); ++i) {
      const std::string name = BaseName(paths[i]);
      if (!results.ok() || !(*results)[i].ok()) {
        const Error& e = results.ok() ? (*results)[i].error() : results.error();
        BW_RETURN_IF_ERROR(
            WriteSmall(Sub(spool, "error", name),
                       fmt::format("{} {}\n", static_cast<int>(e.code()), e.message())));
      } else {
        const WalPushResult& r = *(*results)[i];
        BW_RETURN_IF_ERROR(
            WriteSmall(Sub(spool, "ok", name), fmt::format("{} {}\n", r.size, r.sha256.Hex())));
      }
      ::unlink(Sub(spool, "queue", name).c_str());
    }
    if (!results.ok()) {
      std::fprintf(stderr, "bulwark: wal-push pusher: %s\n", results.error().message().c_str());
    }
    last_work = Clock::now();
  }
  return Status::Ok();  // stopped by a signal between batches: every answer given is true
}

}  // namespace bulwark::sources::postgres

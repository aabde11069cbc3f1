#include "repo/lock.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/host.h"
#include "crypto/keys.h"
#include "repo/parallel.h"
#include "repo/snapshot.h"

namespace bulwark::repo {

namespace {

// How long an exclusive locker that sees a newer exclusive lock waits for that one to back
// off before deciding (see Acquire).
constexpr std::chrono::milliseconds kSettle{1000};

std::optional<long> EnvSeconds(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n <= 0) return std::nullopt;
  return n;
}

Error Corrupt(const std::string& what) { return Error(ErrorCode::kIntegrity, "lock: " + what); }

bool IsStale(const LockInfo& l, int64_t now, const std::string& host) {
  const int64_t limit = std::chrono::nanoseconds(LockStaleAfter()).count();
  if (now - l.refreshed_unix_ns > limit) return true;
  // Same host: the process table is authoritative. EPERM means alive under another user.
  if (l.hostname == host && l.pid > 0 && kill(l.pid, 0) != 0 && errno == ESRCH) return true;
  return false;
}

// Holder order for exclusive races: older first, ties broken by token.
bool Before(const LockInfo& a, const LockInfo& b) {
  return a.created_unix_ns != b.created_unix_ns ? a.created_unix_ns < b.created_unix_ns
                                                : a.token < b.token;
}

Error LockedBy(const LockInfo& l) {
  return Error(ErrorCode::kLocked, "repository is locked by " + l.operation + " (pid " +
                                       std::to_string(l.pid) + " on host " + l.hostname +
                                       " since " + FormatTimeRfc3339(l.created_unix_ns) +
                                       "); run `bulwark unlock` if that process is gone");
}

}  // namespace

namespace {

struct Timing {
  std::atomic<int64_t> stale_s;
  std::atomic<int64_t> refresh_s;
  Timing() { Reset(); }
  void Reset() {
    auto stale = EnvSeconds("BULWARK_LOCK_STALE_SECONDS").value_or(kStaleAfter.count());
    auto refresh =
        EnvSeconds("BULWARK_LOCK_REFRESH_SECONDS")
            .value_or(std::min<long>(kLockRefreshInterval.count(), std::max<long>(1, stale / 3)));
    stale_s = stale;
    refresh_s = refresh;
  }
};

Timing& LockTiming() {
  static Timing timing;
  return timing;
}

}  // namespace

std::chrono::seconds LockStaleAfter() { return std::chrono::seconds(LockTiming().stale_s.load()); }

std::chrono::seconds LockRefreshInterval() {
  return std::chrono::seconds(LockTiming().refresh_s.load());
}

void SetLockTimingForTesting(std::chrono::seconds stale_after, std::chrono::seconds refresh) {
  if (stale_after.count() <= 0) {
    LockTiming().Reset();
    return;
  }
  LockTiming().stale_s = stale_after.count();
  LockTiming().refresh_s = refresh.count();
}

Bytes EncodeLock(const LockInfo& l) {
  nlohmann::json j = {{"version", 1},
                      {"kind", l.kind == LockKind::kExclusive ? "exclusive" : "shared"},
                      {"hostname", l.hostname},
                      {"pid", l.pid},
                      {"operation", l.operation},
                      {"created_unix_ns", l.created_unix_ns},
                      {"refreshed_unix_ns", l.refreshed_unix_ns},
                      {"token", l.token}};
  return ToBytes(j.dump());
}

Result<LockInfo> DecodeLock(ByteView plaintext) {
  auto j = nlohmann::json::parse(AsString(plaintext), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("not a JSON object");
  LockInfo l;
  try {
    if (j.at("version").get<int64_t>() != 1) return Corrupt("unsupported version");
    std::string kind = j.at("kind").get<std::string>();
    if (kind == "exclusive") {
      l.kind = LockKind::kExclusive;
    } else if (kind == "shared") {
      l.kind = LockKind::kShared;
    } else {
      return Corrupt("unknown kind '" + kind + "'");
    }
    l.hostname = j.at("hostname").get<std::string>();
    int64_t pid = j.at("pid").get<int64_t>();
    if (pid < 0 || pid > INT32_MAX) return Corrupt("bad pid");
    l.pid = static_cast<int>(pid);
    l.operation = j.at("operation").get<std::string>();
    l.created_unix_ns = j.at("created_unix_ns").get<int64_t>();
    l.refreshed_unix_ns = j.at("refreshed_unix_ns").get<int64_t>();
    l.token = j.at("token").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(e.what());
  }
  return l;
}

Result<std::vector<LockInfo>> ListLocks(const Repository& repo) {
  BW_ASSIGN_OR_RETURN(auto ids, repo.ListObjects(ObjectKind::kLock));
  std::vector<std::optional<LockInfo>> found(ids.size());
  const int64_t now = NowNs();
  const std::string host = HostName();
  BW_RETURN_IF_ERROR(ParallelFor(ids.size(), kIoThreads, [&](size_t i) -> Status {
    auto plain = repo.LoadObject(ObjectKind::kLock, ids[i]);
    if (!plain.ok() && plain.error().code() == ErrorCode::kNotFound) return Status::Ok();
    if (!plain.ok() && plain.error().code() != ErrorCode::kIntegrity) return plain.error();
    Result<LockInfo> info = plain.ok() ? DecodeLock(*plain) : Result<LockInfo>(plain.error());
    if (!info.ok()) {
      // Unreadable (damaged, or written with another key): nobody can honour it, so it counts
      // as stale and `unlock` clears it.
      LockInfo l;
      l.operation = "unreadable lock";
      l.hostname = "?";
      l.stale = true;
      info = l;
    }
    info->object = ids[i];
    if (!info->stale) info->stale = IsStale(*info, now, host);
    found[i] = std::move(*info);
    return Status::Ok();
  }));
  std::vector<LockInfo> out;
  for (auto& l : found)
    if (l) out.push_back(std::move(*l));
  return out;
}

Result<int> RemoveLocks(Repository& repo, bool all) {
  BW_ASSIGN_OR_RETURN(auto locks, ListLocks(repo));
  int removed = 0;
  for (const auto& l : locks) {
    if (!all && !l.stale) continue;
    BW_RETURN_IF_ERROR(repo.RemoveObject(ObjectKind::kLock, l.object));
    ++removed;
  }
  return removed;
}

struct RepoLock::Impl {
  Repository& repo;
  LockInfo info;  // info.object is the current lock object

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool released = false;
  std::thread refresher;
  std::atomic<int64_t> last_refresh_ns{0};
  std::atomic<bool> lost{false};

  Impl(Repository& r, LockInfo i) : repo(r), info(std::move(i)) {}

  void Start() {
    last_refresh_ns = info.refreshed_unix_ns;
    refresher = std::thread([this] { RefreshLoop(); });
  }

  void RefreshLoop() {
    std::unique_lock lock(mu);
    while (!stop) {
      cv.wait_for(lock, LockRefreshInterval(), [&] { return stop; });
      if (stop) break;
      Id old = info.object;
      LockInfo next = info;
      lock.unlock();
      // Someone removed our lock (e.g. `unlock --all`): others may act as if we were gone.
      if (auto st = repo.backend().Stat(ObjectKey(ObjectKind::kLock, old));
          !st.ok() && st.error().code() == ErrorCode::kNotFound)
        lost = true;
      next.refreshed_unix_ns = NowNs();
      auto id = repo.SaveObject(ObjectKind::kLock, EncodeLock(next));
      if (id.ok()) {
        // New object first, then remove the old: there is never a moment without a lock.
        (void)repo.RemoveObject(ObjectKind::kLock, old);
        last_refresh_ns = next.refreshed_unix_ns;
      }
      lock.lock();
      if (id.ok()) info.object = *id;
    }
  }

  Status Release() {
    {
      std::lock_guard lock(mu);
      if (released) return Status::Ok();
      released = true;
      stop = true;
    }
    cv.notify_all();
    if (refresher.joinable()) refresher.join();
    return repo.RemoveObject(ObjectKind::kLock, info.object);
  }
};

Result<std::unique_ptr<RepoLock>> RepoLock::Acquire(Repository& repo, LockKind kind,
                                                    const std::string& operation) {
  LockInfo me;
  me.kind = kind;
  me.hostname = HostName();
  me.pid = static_cast<int>(getpid());
  me.operation = operation;
  me.created_unix_ns = NowNs();
  me.refreshed_unix_ns = me.created_unix_ns;
  me.token = HexEncode(crypto::RandomBytes(16));
  BW_ASSIGN_OR_RETURN(me.object, repo.SaveObject(ObjectKind::kLock, EncodeLock(me)));
  auto impl = std::make_unique<Impl>(repo, me);

  if (kind == LockKind::kExclusive) {
    auto give_up = [&](Error e) -> Error {
      (void)repo.RemoveObject(ObjectKind::kLock, me.object);
      return e;
    };
    auto rivals = [&]() -> Result<std::vector<LockInfo>> {
      BW_ASSIGN_OR_RETURN(auto locks, ListLocks(repo));
      std::vector<LockInfo> out;
      for (auto& l : locks)
        if (l.kind == LockKind::kExclusive && !l.stale && l.token != me.token)
          out.push_back(std::move(l));
      return out;
    };
    auto first = rivals();
    if (!first.ok()) return give_up(first.error());
    // Our lock was written before this listing, so of two racing lockers at least one sees
    // the other. An older rival wins outright. A newer rival will see us and back off -- unless
    // it listed before our lock existed and went ahead, so wait briefly and look again: a
    // rival still there has to be assumed to hold the lock.
    for (const auto& r : *first)
      if (Before(r, me)) return give_up(LockedBy(r));
    if (!first->empty()) {
      std::this_thread::sleep_for(kSettle);
      auto second = rivals();
      if (!second.ok()) return give_up(second.error());
      for (const auto& r : *second)
        for (const auto& f : *first)
          if (r.token == f.token) return give_up(LockedBy(r));
      for (const auto& r : *second)
        if (Before(r, me)) return give_up(LockedBy(r));
    }
  }
  impl->Start();
  return std::unique_ptr<RepoLock>(new RepoLock(std::move(impl)));
}

RepoLock::RepoLock(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RepoLock::~RepoLock() { (void)Release(); }

Status RepoLock::Release() { return impl_->Release(); }

int64_t RepoLock::created_unix_ns() const { return impl_->info.created_unix_ns; }

bool RepoLock::StillValid() const {
  if (impl_->lost.load()) return false;
  auto stale = LockStaleAfter(), refresh = LockRefreshInterval();
  auto budget = refresh < stale ? stale - refresh : stale / 2;
  return NowNs() - impl_->last_refresh_ns.load() < std::chrono::nanoseconds(budget).count();
}

}  // namespace bulwark::repo

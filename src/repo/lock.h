// Repository locks. Writers (backup) take shared locks and never wait; prune and check take
// the exclusive lock, which only excludes other exclusive holders. A lock is a sealed object
// under locks/ naming host, pid, operation and time; a holder refreshes it (new object, then
// old one removed) on a background thread. A lock is stale when its refresh time is older
// than kStaleAfter, or its host is this host and its pid is gone.
// RepoLock objects are owned by one thread; the refresh thread is internal.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "repo/repository.h"

namespace bulwark::repo {

enum class LockKind { kShared, kExclusive };

struct LockInfo {
  Id object;
  LockKind kind = LockKind::kShared;
  std::string hostname;
  int pid = 0;
  std::string operation;
  int64_t created_unix_ns = 0;    // when the holder first took the lock
  int64_t refreshed_unix_ns = 0;  // when this object was written
  std::string token;              // random, the same in every object of one holder
  bool stale = false;             // computed by ListLocks, not stored
};

inline constexpr std::chrono::seconds kLockRefreshInterval{300};
inline constexpr std::chrono::seconds kStaleAfter{1800};
// The limits in force: kStaleAfter / kLockRefreshInterval unless the environment sets
// BULWARK_LOCK_STALE_SECONDS / BULWARK_LOCK_REFRESH_SECONDS (read once; for tests). Without an
// explicit refresh interval it is at most a third of the stale limit.
std::chrono::seconds LockStaleAfter();
std::chrono::seconds LockRefreshInterval();
// Overrides both for the rest of the process (tests only); stale_after = 0 restores defaults.
void SetLockTimingForTesting(std::chrono::seconds stale_after, std::chrono::seconds refresh);

// Lock object plaintext (JSON). Decode is strict and meant for untrusted input.
Bytes EncodeLock(const LockInfo& lock);
Result<LockInfo> DecodeLock(ByteView plaintext);

class RepoLock {
 public:
  // kLocked (naming the holder) when kind is exclusive and another live exclusive lock exists.
  static Result<std::unique_ptr<RepoLock>> Acquire(Repository& repo, LockKind kind,
                                                   const std::string& operation);
  ~RepoLock();  // releases
  Status Release();
  int64_t created_unix_ns() const;
  // False once the refresh has failed for longer than the stale limit (less one refresh
  // interval, so the holder stops before others may call it stale), or once someone removed
  // the lock (e.g. `bulwark unlock --all`). The holder must then not commit anything that
  // relies on the lock.
  bool StillValid() const;

 private:
  struct Impl;
  explicit RepoLock(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

Result<std::vector<LockInfo>> ListLocks(const Repository& repo);
// Removes stale locks (or all locks with `all`); returns how many were removed.
Result<int> RemoveLocks(Repository& repo, bool all);

}  // namespace bulwark::repo

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
  bool stale = false;
};

inline constexpr std::chrono::seconds kLockRefreshInterval{300};
inline constexpr std::chrono::seconds kStaleAfter{1800};

class RepoLock {
 public:
  // kLocked (naming the holder) when kind is exclusive and another live exclusive lock exists.
  static Result<std::unique_ptr<RepoLock>> Acquire(Repository& repo, LockKind kind,
                                                   const std::string& operation);
  ~RepoLock();  // releases
  Status Release();
  int64_t created_unix_ns() const;
  // False once the refresh has failed for longer than the stale limit (the holder must then
  // not commit anything that relies on the lock).
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

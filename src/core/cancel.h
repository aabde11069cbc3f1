// Process-wide cancellation: the CLI's SIGINT/SIGTERM handler calls RequestCancel(); long
// operations poll CancelRequested() between units of work and stop with kCancelled, leaving
// the repository consistent (nothing half-written becomes visible). Async-signal-safe.
#pragma once

#include <atomic>

namespace bulwark {

inline std::atomic<bool>& CancelFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}
inline void RequestCancel() { CancelFlag().store(true, std::memory_order_relaxed); }
inline bool CancelRequested() { return CancelFlag().load(std::memory_order_relaxed); }

}  // namespace bulwark

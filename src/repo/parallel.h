// ParallelFor: runs fn(i) for i in [0, n) on up to `threads` short-lived threads and returns
// the first error (by index) or ok. For fan-out of independent repository reads (index files,
// snapshots); callable from any thread. fn must be safe to run concurrently with itself.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "core/result.h"

namespace bulwark::repo {

inline Status ParallelFor(size_t n, int threads, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(n);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      results[i] = fn(i);
      if (!results[i].ok()) failed.store(true, std::memory_order_relaxed);
    }
  };
  size_t t = std::min<size_t>(n, static_cast<size_t>(std::max(threads, 1)));
  if (t <= 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    for (size_t k = 0; k < t; ++k) pool.emplace_back(work);
  }
  for (auto& r : results)
    if (!r.ok()) return r;
  return Status::Ok();
}

// Fan-out for backend reads: latency-bound, so more threads than cores pays off.
inline constexpr int kIoThreads = 8;

}  // namespace bulwark::repo

// Progress counters that long operations (backup, restore, check) update from any thread and
// that the CLI samples on its own thread to print progress lines. Lock-free atomics.
#pragma once

#include <atomic>
#include <cstdint>

namespace bulwark {

struct Progress {
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> files_total{0};  // filled in as a scan discovers inputs
  std::atomic<uint64_t> bytes_total{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> totals_final{false};  // the scan has finished: totals are exact
  // A separate, quicker estimate of the totals (e.g. a stat-only walk running next to a
  // backup), for an ETA before the exact totals are known.
  std::atomic<uint64_t> estimate_files{0};
  std::atomic<uint64_t> estimate_bytes{0};
  std::atomic<bool> estimate_done{false};
};

}  // namespace bulwark

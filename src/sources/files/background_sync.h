// Makes a restore's data durable while it is still being written: one thread that syncs the
// target's file system each time enough new data was written. Add() may be called from any
// thread; construction and destruction from the thread that owns the restore.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "sources/files/fs_util.h"

namespace bulwark::sources::files {

// A virtual disk's cache flush takes time in proportion to what was written since the last
// one; flushing every `every_bytes` overlaps that with decoding, and the restore's final
// sync is left with little to do. Best effort: failures are for the final sync to report.
class BackgroundSync {
 public:
  BackgroundSync(const std::string& dir, uint64_t every_bytes);
  ~BackgroundSync();  // waits for a sync in progress, starts none
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;

  // `bytes` more were written under the directory.
  void Add(uint64_t bytes);
  // Syncs done so far (for tests).
  uint64_t syncs() const;

 private:
  void Loop();

  UniqueFd fd_;
  const uint64_t every_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t pending_ = 0;
  uint64_t syncs_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace bulwark::sources::files

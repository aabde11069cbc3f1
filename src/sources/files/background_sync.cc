#include "sources/files/background_sync.h"

#include <fcntl.h>
#include <unistd.h>

namespace bulwark::sources::files {

BackgroundSync::BackgroundSync(const std::string& dir, uint64_t every_bytes)
    : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
      every_bytes_(every_bytes),
      thread_([this] { Loop(); }) {}

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void BackgroundSync::Add(uint64_t bytes) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    const uint64_t before = pending_;
    pending_ += bytes;
    wake = before < every_bytes_ && pending_ >= every_bytes_;
  }
  if (wake) cv_.notify_one();
}

uint64_t BackgroundSync::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

void BackgroundSync::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || pending_ >= every_bytes_; });
    if (stop_) return;
    pending_ = 0;
    lock.unlock();
    if (fd_.valid()) ::syncfs(fd_.get());
    lock.lock();
    ++syncs_;
  }
}

}  // namespace bulwark::sources::files

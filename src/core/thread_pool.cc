#include "core/thread_pool.h"

namespace bulwark {

ThreadPool::ThreadPool(int threads, size_t max_queued) : queue_(max_queued) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

ThreadPool::~ThreadPool() {
  Wait();
  queue_.Close();
  for (auto& t : threads_) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    ++pending_;
  }
  queue_.Push(std::move(task));
}

void ThreadPool::Wait() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return pending_ == 0; });
}

void ThreadPool::Run() {
  while (auto task = queue_.Pop()) {
    (*task)();
    std::lock_guard lock(mu_);
    if (--pending_ == 0) idle_.notify_all();
  }
}

int ThreadPool::DefaultThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace bulwark

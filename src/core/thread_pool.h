// ThreadPool: a fixed set of worker threads running submitted tasks from a bounded queue
// (Submit blocks when the queue is full). Wait() blocks until every submitted task has run.
// Submit/Wait are safe from any thread; tasks must not call Wait on their own pool.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"

namespace bulwark {

class ThreadPool {
 public:
  explicit ThreadPool(int threads, size_t max_queued = 256);
  ~ThreadPool();  // runs remaining tasks, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  void Wait();
  int size() const { return static_cast<int>(threads_.size()); }

  // Number of threads to use for CPU-bound work (hardware concurrency, at least 1).
  static int DefaultThreads();

 private:
  void Run();
  BoundedQueue<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable idle_;
  size_t pending_ = 0;
};

}  // namespace bulwark

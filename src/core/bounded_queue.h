// BoundedQueue<T>: a multi-producer multi-consumer FIFO with a capacity measured in caller
// units (items or bytes), so pipelines keep memory bounded. Push blocks while full; Pop
// blocks while empty; Close wakes everyone (Pop then drains, and returns nullopt when empty).
// All methods are safe from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace bulwark {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // `cost` counts against the capacity (1 for item queues, size for byte queues). An item
  // larger than the capacity is admitted alone, so nothing deadlocks. Returns false if closed.
  bool Push(T item, size_t cost = 1) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || used_ == 0 || used_ + cost <= capacity_; });
    if (closed_) return false;
    items_.emplace_back(std::move(item), cost);
    used_ += cost;
    not_empty_.notify_one();
    return true;
  }

  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    auto [item, cost] = std::move(items_.front());
    items_.pop_front();
    used_ -= cost;
    not_full_.notify_all();
    return std::move(item);
  }

  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::pair<T, size_t>> items_;
  size_t capacity_;
  size_t used_ = 0;
  bool closed_ = false;
};

}  // namespace bulwark

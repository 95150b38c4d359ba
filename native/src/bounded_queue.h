// Bounded hand-off between the poll thread and the JS thread. Full means drop and count:
// the poll thread must never wait for JS, or the kernel's ring buffer fills instead.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace tracefleet {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  void Push(T&& item) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (items_.size() >= capacity_) {
      drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    items_.push_back(std::move(item));
  }

  // Moves up to max items into out (cleared first); returns how many.
  size_t PopBatch(std::vector<T>& out, size_t max) {
    out.clear();
    std::lock_guard<std::mutex> lock(mutex_);
    while (!items_.empty() && out.size() < max) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return out.size();
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.clear();
  }

  uint64_t Drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::deque<T> items_;
  std::atomic<uint64_t> drops_{0};
};

}  // namespace tracefleet

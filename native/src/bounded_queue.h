// Bounded hand-off between the poll thread and the JS thread. Full means drop and count:
// the poll thread must never wait for JS, or the kernel's ring buffer fills instead.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tracefleet {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  void Push(T&& item) {
    std::lock_guard<std::mutex> lock(mutex_);
    Append(std::string(), std::move(item));
  }

  // Like Push, but an item whose key (not empty) equals that of one still waiting is offered to merge(waiting)
  // instead of taking a place; merge returns false when the waiting one cannot take it (the item then takes a
  // place of its own). The bound counts places, so merged items are never dropped.
  template <typename Merge>
  void PushFolding(std::string key, T&& item, Merge merge) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto hit = index_.find(key);
    if (hit != index_.end()) {
      if (merge(items_[hit->second - popped_])) return;
      index_.erase(hit);
    }
    Append(std::move(key), std::move(item));
  }

  // Moves up to max items into out (cleared first), oldest first; returns how many.
  size_t PopBatch(std::vector<T>& out, size_t max) {
    out.clear();
    std::lock_guard<std::mutex> lock(mutex_);
    while (!items_.empty() && out.size() < max) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
      if (!keys_.front().empty()) {
        auto hit = index_.find(keys_.front());
        if (hit != index_.end() && hit->second == popped_) index_.erase(hit);
      }
      keys_.pop_front();
      popped_++;
    }
    return out.size();
  }

  // Places taken (a merged item counts once).
  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    popped_ += items_.size();
    items_.clear();
    keys_.clear();
    index_.clear();
  }

  uint64_t Drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  // With mutex_ held.
  void Append(std::string key, T&& item) {
    if (items_.size() >= capacity_) {
      drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!key.empty()) index_.emplace(key, popped_ + items_.size());
    keys_.push_back(std::move(key));
    items_.push_back(std::move(item));
  }

  const size_t capacity_;
  std::mutex mutex_;
  std::deque<T> items_;
  std::deque<std::string> keys_;                     // items_[i]'s key; empty when pushed without one
  std::unordered_map<std::string, uint64_t> index_;  // key -> popped_ + position of the item holding it
  uint64_t popped_ = 0;                              // items taken out so far
  std::atomic<uint64_t> drops_{0};
};

}  // namespace tracefleet

// A CPU profile sample as the poll thread hands it to the JS thread, and the bounded hand-off between them.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tracefleet {

struct Sample {
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t cpu = 0;
  std::string comm;
  int32_t kernelStackError = 0;
  int32_t userStackError = 0;
  std::vector<uint64_t> kernelStack;
  std::vector<uint64_t> userStack;
  // Samples this one stands for: 1, or more when identical samples were folded (SampleQueue's fold).
  uint32_t count = 1;
};

// Bounded hand-off between the poll thread and the JS thread. Full means drop and count: the poll thread
// must never wait for JS, or the kernel's ring buffer fills instead.
//
// With fold, a sample identical to one still waiting (same pid, comm, stacks and stack errors; tid and cpu
// may differ, the first one's are kept) adds to that one's count instead of taking a place. A CPU-bound
// process sampled at 999 Hz repeats a handful of stacks, so JS builds a few objects per delivery instead of
// one per sample (per-sample JS objects were most of the agent's CPU at 999 Hz, BENCHMARKS.md). The bound
// is on distinct samples waiting; a sample that would need a new place past it is dropped and counted.
class SampleQueue {
 public:
  SampleQueue(size_t capacity, bool fold) : capacity_(capacity), fold_(fold) {}

  void Push(Sample&& sample) {
    std::string key = fold_ ? KeyOf(sample) : std::string();
    std::lock_guard<std::mutex> lock(mutex_);
    if (fold_) {
      auto hit = index_.find(key);
      if (hit != index_.end()) {
        Sample& waiting = items_[hit->second - popped_];
        if (waiting.count < UINT32_MAX) {
          waiting.count++;
          return;
        }
        index_.erase(hit);  // a full count starts a new entry (never reached at 1000 Hz between deliveries)
      }
    }
    if (items_.size() >= capacity_) {
      drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (fold_) {
      index_.emplace(key, popped_ + items_.size());
      keys_.push_back(std::move(key));
    }
    items_.push_back(std::move(sample));
  }

  // Moves up to max entries into out (cleared first), oldest first; returns the samples they stand for.
  size_t PopBatch(std::vector<Sample>& out, size_t max) {
    out.clear();
    size_t samples = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    while (!items_.empty() && out.size() < max) {
      samples += items_.front().count;
      out.push_back(std::move(items_.front()));
      items_.pop_front();
      if (fold_) {
        auto hit = index_.find(keys_.front());
        if (hit != index_.end() && hit->second == popped_) index_.erase(hit);
        keys_.pop_front();
      }
      popped_++;
    }
    return samples;
  }

  // Entries waiting (a folded entry counts once).
  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }

  uint64_t Drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  static std::string KeyOf(const Sample& s) {
    std::string key;
    key.reserve(20 + s.comm.size() + 8 * (s.kernelStack.size() + s.userStack.size()) + 8);
    auto put = [&key](const void* p, size_t n) { key.append(static_cast<const char*>(p), n); };
    // Both lengths in the head: what follows it splits one way only.
    const uint32_t head[5] = {s.pid, static_cast<uint32_t>(s.kernelStackError), static_cast<uint32_t>(s.userStackError),
                              static_cast<uint32_t>(s.kernelStack.size()), static_cast<uint32_t>(s.userStack.size())};
    put(head, sizeof(head));
    put(s.kernelStack.data(), s.kernelStack.size() * sizeof(uint64_t));
    put(s.userStack.data(), s.userStack.size() * sizeof(uint64_t));
    key.append(s.comm);
    return key;
  }

  const size_t capacity_;
  const bool fold_;
  std::mutex mutex_;
  std::deque<Sample> items_;
  std::deque<std::string> keys_;                   // fold: items_[i]'s key
  std::unordered_map<std::string, uint64_t> index_;  // fold: key -> popped_ + position of its entry
  uint64_t popped_ = 0;                            // entries popped so far
  std::atomic<uint64_t> drops_{0};
};

}  // namespace tracefleet

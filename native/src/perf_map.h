// /tmp/perf-<pid>.map as written by JITs (node --perf-basic-prof): "START SIZE name", hex. A process in
// a container writes it in its own /tmp, named by the pid it has in its own pid namespace: the map is
// then read through /proc/<pid>/root (resolved inside that root) under the name NSpid gives.
// The file is the traced process's word about its own code, in a world-writable directory: it is
// read only when it is a regular file owned by the process's uid or root and not world-writable,
// only up to maxBytes, in chunks, with lines of at most kMaxLineBytes (longer ones are skipped).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tracefleet {

struct PerfMapCounters {
  uint64_t refused = 0;        // refreshes that found the file and refused it (owner, mode, type)
  uint64_t linesTooLong = 0;   // lines skipped for exceeding kMaxLineBytes
  uint64_t bytesNotRead = 0;   // bytes beyond maxBytes, left unread
};

class PerfMap {
 public:
  static constexpr size_t kMaxLineBytes = 8192;
  // Bytes read by one Refresh at most: a huge map is taken over several flushes instead of
  // holding the agent's thread.
  static constexpr size_t kMaxBytesPerRefresh = 8 << 20;
  static constexpr uint64_t kDefaultMaxBytes = 64ULL << 20;

  // path defaults to the process's own perf map (/tmp/perf-<pid>.map, or in its mount namespace as
  // above); tests name another file.
  PerfMap(int pid, uint64_t maxBytes = kDefaultMaxBytes, std::string path = std::string());

  // Reads what was appended since the last call (from the start if the file was replaced or
  // shrank). Returns false when the file exists but was refused; refusal() says why.
  bool Refresh();
  // nullptr when no entry covers addr. A later entry wins over an earlier overlapping
  // one: JITs re-emit code at reused addresses.
  const std::string* Find(uint64_t addr) const;
  const std::string& refusal() const { return refusal_; }
  const PerfMapCounters& counters() const { return counters_; }
  size_t entries() const { return entries_.size(); }
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    uint64_t start;
    uint64_t size;
    uint64_t sequence;
    std::string name;
  };

  bool Read();
  // stat() of the map wherever it lives; false (errno set) when it is not there.
  bool StatMap(struct stat* st) const;
  void Locate();
  void Reset();
  bool Allowed(const struct stat& st);
  void ReadUids();
  void ParseLine(const std::string& line);

  int pid_;
  uint64_t maxBytes_;
  std::string path_;  // what the messages name
  // Set when the process has a mount namespace of its own: the map is rel_ inside root_ (/proc/<pid>/root).
  std::string root_;
  std::string rel_;
  std::vector<uid_t> uids_;  // the process's real, effective, saved and filesystem uids
  bool identified_ = false;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
  uint64_t offset_ = 0;  // bytes consumed so far
  std::string line_;     // the line being read (its newline not read yet)
  bool skipping_ = false;  // in a line longer than kMaxLineBytes: drop up to its newline
  uint64_t maxSize_ = 0;
  std::vector<Entry> entries_;  // sorted by start
  std::string refusal_;
  PerfMapCounters counters_;
  // What stat() saw at the last refresh, and its answer: a refresh that finds the file unchanged and
  // read to its end costs one stat, as before (the symbolizer refreshes once per stack with JIT frames).
  struct stat seen_ = {};
  bool seenValid_ = false;
  bool lastAnswer_ = true;
};

}  // namespace tracefleet

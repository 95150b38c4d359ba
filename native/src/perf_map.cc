#include "perf_map.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "safe_open.h"

namespace tracefleet {

PerfMap::PerfMap(int pid, uint64_t maxBytes, std::string path) : pid_(pid), maxBytes_(maxBytes), path_(std::move(path)) {
  ReadUids();
  if (path_.empty()) Locate();
}

namespace {

// The pid the process has in its innermost pid namespace (the last NSpid field), or `pid` itself.
int NamespacePid(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    long last = -1;
    long v = 0;
    while (fields >> v) last = v;
    return last > 0 && last <= INT32_MAX ? static_cast<int>(last) : pid;
  }
  return pid;
}

bool SameMountNamespace(int pid) {
  struct stat mine;
  struct stat theirs;
  if (stat("/proc/self/ns/mnt", &mine) != 0) return true;
  if (stat(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), &theirs) != 0) return true;  // gone: as the host sees it
  return mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

}  // namespace

// Where the process's JIT writes its map: its /tmp, named by its own pid. In the agent's mount namespace
// that is /tmp/perf-<nspid>.map (read as before, also after the process exited); in another one, the
// same name inside /proc/<pid>/root (the process's root, as it sees it; gone once it exits).
void PerfMap::Locate() {
  std::string name = "tmp/perf-" + std::to_string(NamespacePid(pid_)) + ".map";
  if (SameMountNamespace(pid_)) {
    path_ = "/" + name;
    return;
  }
  root_ = "/proc/" + std::to_string(pid_) + "/root";
  rel_ = name;
  path_ = root_ + "/" + name;
}

bool PerfMap::StatMap(struct stat* st) const {
  if (root_.empty()) return stat(path_.c_str(), st) == 0;
  std::string error;
  UniqueFd handle = OpenPathInRoot(root_, rel_, error);
  return handle.valid() && fstat(handle.get(), st) == 0;
}

// The uids the process creates files with (fsuid, normally the effective uid) and runs as. Kept
// from the last successful read: once the process exited its map is still read, by these.
void PerfMap::ReadUids() {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    std::vector<uid_t> uids;
    unsigned long uid = 0;
    while (fields >> uid) uids.push_back(static_cast<uid_t>(uid));
    if (!uids.empty()) uids_ = std::move(uids);
    return;
  }
}

void PerfMap::Reset() {
  entries_.clear();
  offset_ = 0;
  maxSize_ = 0;
  line_.clear();
  skipping_ = false;
}

// Owner: whoever owns the file decides what the profile says the process ran, so it must be the
// process itself (or root). World-writable: anyone could append names. Group-writable is accepted:
// a umask of 002 (user-private groups) makes every JIT map so, and that group is the owner's own.
bool PerfMap::Allowed(const struct stat& st) {
  ReadUids();
  bool owner = st.st_uid == 0 || std::find(uids_.begin(), uids_.end(), st.st_uid) != uids_.end();
  if (!owner) {
    std::string procUid = uids_.size() > 1 ? std::to_string(uids_[1]) : "unknown";
    refusal_ = path_ + ": owned by uid " + std::to_string(st.st_uid) + ", not by the process (uid " + procUid + ") or root";
    return false;
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    refusal_ = path_ + ": world-writable";
    return false;
  }
  return true;
}

void PerfMap::ParseLine(const std::string& line) {
  char* end = nullptr;
  uint64_t start = std::strtoull(line.c_str(), &end, 16);
  if (end == line.c_str() || *end != ' ') return;
  char* sizeEnd = nullptr;
  uint64_t length = std::strtoull(end + 1, &sizeEnd, 16);
  if (sizeEnd == end + 1 || *sizeEnd != ' ' || length == 0) return;
  entries_.push_back(Entry{start, length, entries_.size(), std::string(sizeEnd + 1)});
  maxSize_ = std::max(maxSize_, length);
}

bool PerfMap::Refresh() {
  struct stat now;
  if (!StatMap(&now)) {  // an O_PATH handle at most; no map (yet): nothing refused
    seenValid_ = false;
    return true;
  }
  bool unchanged = seenValid_ && now.st_dev == seen_.st_dev && now.st_ino == seen_.st_ino &&
                   now.st_size == seen_.st_size && now.st_mode == seen_.st_mode && now.st_uid == seen_.st_uid &&
                   now.st_mtim.tv_sec == seen_.st_mtim.tv_sec && now.st_mtim.tv_nsec == seen_.st_mtim.tv_nsec;
  if (unchanged && (!lastAnswer_ || offset_ >= std::min<uint64_t>(static_cast<uint64_t>(now.st_size), maxBytes_))) {
    return lastAnswer_;  // refused again (not counted again) or nothing new to read
  }
  seen_ = now;
  seenValid_ = true;
  lastAnswer_ = Read();
  return lastAnswer_;
}

bool PerfMap::Read() {
  SafeOpenResult file = root_.empty() ? SafeOpenRegular(path_) : SafeOpenRegularInRoot(root_, rel_);
  if (!file.ok()) {
    if (file.st.st_mode == 0) return true;  // gone since the stat: nothing refused
    refusal_ = path_ + ": " + file.error;
    counters_.refused++;
    return false;
  }
  const struct stat& st = file.st;
  if (!Allowed(st)) {
    counters_.refused++;
    Reset();  // what an earlier owner wrote is not kept either
    identified_ = false;
    return false;
  }
  refusal_.clear();
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!identified_ || st.st_dev != dev_ || st.st_ino != ino_ || size < offset_) {
    Reset();  // replaced, or rewritten by a new process with the same pid
    identified_ = true;
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  uint64_t until = std::min(size, maxBytes_);
  if (size > maxBytes_) counters_.bytesNotRead = std::max(counters_.bytesNotRead, size - maxBytes_);
  if (until <= offset_) return true;
  until = std::min<uint64_t>(until, offset_ + kMaxBytesPerRefresh);

  size_t before = entries_.size();
  char chunk[65536];
  while (offset_ < until) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(chunk), until - offset_));
    ssize_t got = pread(file.fd.get(), chunk, want, static_cast<off_t>(offset_));
    if (got <= 0) break;  // truncated under us: the next refresh starts over
    offset_ += static_cast<uint64_t>(got);
    const char* p = chunk;
    const char* stop = chunk + got;
    while (p < stop) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(stop - p)));
      const char* piece = nl != nullptr ? nl : stop;
      if (!skipping_) {
        if (line_.size() + static_cast<size_t>(piece - p) > kMaxLineBytes) {
          skipping_ = true;
          line_.clear();
          counters_.linesTooLong++;
        } else {
          line_.append(p, piece);
        }
      }
      if (nl == nullptr) break;  // the line goes on in the next chunk (or the writer is mid-line)
      if (!skipping_) ParseLine(line_);
      line_.clear();
      skipping_ = false;
      p = nl + 1;
    }
  }
  if (entries_.size() > before) {
    // Only the new entries are sorted, then merged: a refresh costs O(entries), not a full sort.
    auto byStart = [](const Entry& a, const Entry& b) { return a.start < b.start; };
    auto mid = entries_.begin() + static_cast<std::ptrdiff_t>(before);
    std::stable_sort(mid, entries_.end(), byStart);
    std::inplace_merge(entries_.begin(), mid, entries_.end(), byStart);
  }
  return true;
}

const std::string* PerfMap::Find(uint64_t addr) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.start; });
  const Entry* best = nullptr;
  // Walk back over every entry that starts close enough to still cover addr.
  while (it != entries_.begin()) {
    --it;
    if (addr - it->start >= maxSize_) break;
    if (addr - it->start < it->size && (best == nullptr || it->sequence > best->sequence)) best = &*it;
  }
  return best ? &best->name : nullptr;
}

}  // namespace tracefleet

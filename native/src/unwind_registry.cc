#include "unwind_registry.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <malloc.h>
#include <gelf.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <stdexcept>

#include "debuginfo_fetch.h"
#include "proc_maps.h"
#include "safe_open.h"
#include "unwind_table.h"

namespace tracefleet {
namespace {

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// The agent's own vDSO: every process on this kernel maps the same image.
Elf* OpenVdso() {
  auto base = reinterpret_cast<const char*>(getauxval(AT_SYSINFO_EHDR));
  if (base == nullptr) return nullptr;
  const auto* ehdr = reinterpret_cast<const Elf64_Ehdr*>(base);
  size_t size = ehdr->e_shoff + static_cast<size_t>(ehdr->e_shnum) * ehdr->e_shentsize;
  if (size == 0 || size > (1u << 20)) return nullptr;
  return elf_memory(const_cast<char*>(base), size);
}

struct ElfHandle {
  int fd = -1;
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf != nullptr) elf_end(elf);
    if (fd >= 0) close(fd);
  }
};

}  // namespace

UnwindRegistry::UnwindRegistry(uint64_t maxTableBytes) : maxBytes_(maxTableBytes) { elf_version(EV_CURRENT); }

// maps_ goes with the registry, so its entries are not deleted one by one: each delete from the
// hash-of-maps waits for an RCU grace period in the kernel (~12 ms here), which held the agent's event loop
// for 1.1 s when a whole-host run with 90 tables ended. Closing the outer map releases the inner ones
// (bpftool: none of the 48 maps of a 45-table Unwinder is left 1.5 s after close()).
UnwindRegistry::~UnwindRegistry() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, table] : tables_) {
    if (table->fd >= 0) close(table->fd);
  }
}

std::shared_ptr<UnwindRegistry::Table> UnwindRegistry::Build(Elf* elf, const std::string& key, uint32_t& built,
                                                             uint64_t& buildNs) {
  auto table = std::make_shared<Table>();
  table->key = key;
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) == 0) {
    for (size_t i = 0; i < count; i++) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr && phdr.p_type == PT_LOAD) {
        table->segments.push_back(Segment{phdr.p_offset, phdr.p_vaddr, phdr.p_filesz});
      }
    }
  }
  uint64_t t0 = NowNs();
  UnwindTableStats tableStats;
  std::vector<unwind_row> rows;
  bool unreadable = false;
  try {
    rows = BuildUnwindTable(elf, tableStats);
  } catch (const std::exception&) {
    unreadable = true;
    std::lock_guard<std::mutex> lock(statsMu_);
    stats_.unreadable++;
  }
  if (unreadable) {
    table->kind = UNWIND_KIND_NONE;  // a frame-pointer walk through a file we cannot read would be a guess
  } else if (rows.empty()) {
    table->kind = UNWIND_KIND_FP;  // no CFI: code built with frame pointers, or hand-written
  } else {
    uint64_t bytes = rows.size() * sizeof(unwind_row);
    if (!MakeRoom(bytes)) {
      table->kind = UNWIND_KIND_NONE;
      std::lock_guard<std::mutex> lock(statsMu_);
      stats_.tablesRefused++;
    } else {
      table->id = nextId_++;
      table->fd = maps_.LoadTable(table->id, rows);
      table->rows = static_cast<uint32_t>(rows.size());
      table->bytes = bytes;
      table->kind = UNWIND_KIND_TABLE;
      built++;
    }
  }
  uint64_t ns = NowNs() - t0;
  buildNs += ns;
  {
    std::lock_guard<std::mutex> lock(statsMu_);
    stats_.buildNs += ns;
    if (table->kind == UNWIND_KIND_TABLE) stats_.tablesBuilt++;
  }
  tables_[key] = table;
  NoteBytes();
  return table;
}

// Frees unused tables first (they have no references), then the least recently used ones.
bool UnwindRegistry::MakeRoom(uint64_t bytes) {
  if (bytes > maxBytes_) return false;
  while (LoadedBytes() + bytes > maxBytes_) {
    std::string victim;
    uint64_t oldest = UINT64_MAX;
    for (const auto& [key, t] : tables_) {
      // Tables this call already wrote into the process's entry stay (tick_ marks them).
      if (t->bytes > 0 && t->lastUsed < tick_ && t->lastUsed < oldest) {
        oldest = t->lastUsed;
        victim = key;
      }
    }
    if (victim.empty()) return false;
    Table& t = *tables_[victim];
    DropTable(t);
    std::lock_guard<std::mutex> lock(statsMu_);
    stats_.tablesEvicted++;
  }
  return true;
}

// Processes still pointing at an evicted table find no map under its id: BPF counts it pending
// until their next refresh, which marks the module NONE (the table is not rebuilt while over).
void UnwindRegistry::DropTable(Table& table) {
  if (table.fd >= 0) maps_.DropTable(table.id, table.fd);
  table.fd = -1;
  table.bytes = 0;
  table.rows = 0;
  table.kind = UNWIND_KIND_NONE;
}

std::shared_ptr<UnwindRegistry::Table> UnwindRegistry::TableFor(int pid, const std::string& path, uint64_t start,
                                                                uint64_t end, uint32_t& built, uint64_t& buildNs) {
  ElfHandle h;
  std::string fileKey;
  if (path == "[vdso]") {
    fileKey = "vdso";
  } else {
    char mapFile[96];
    std::snprintf(mapFile, sizeof(mapFile), "/proc/%d/map_files/%llx-%llx", pid, static_cast<unsigned long long>(start),
                  static_cast<unsigned long long>(end));
    // Regular files only (safe_open.h): a device mapped executable, or a FIFO put where the
    // mapped file was, is never opened; the mapping goes without a table (counted unreadable).
    SafeOpenResult file = SafeOpenRegular(mapFile);
    if (!file.ok() && file.st.st_mode == 0) file = SafeOpenRegular("/proc/" + std::to_string(pid) + "/root" + path);
    if (!file.ok()) return nullptr;
    struct stat st = file.st;
    h.fd = file.fd.Release();
    fileKey = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
              std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  }
  auto known = fileKeys_.find(fileKey);
  if (known != fileKeys_.end()) {
    auto t = tables_.find(known->second);
    if (t != tables_.end()) return t->second;
  }
  h.elf = path == "[vdso]" ? OpenVdso() : elf_begin(h.fd, ELF_C_READ_MMAP, nullptr);
  if (h.elf == nullptr || elf_kind(h.elf) != ELF_K_ELF) return nullptr;
  const void* id = nullptr;
  ssize_t idSize = dwelf_elf_gnu_build_id(h.elf, &id);
  std::string key = idSize > 0 ? "b:" + Hex(id, static_cast<size_t>(idSize)) : "f:" + fileKey;
  fileKeys_[fileKey] = key;
  auto t = tables_.find(key);
  if (t != tables_.end()) return t->second;
  // A file first seen: its names may have to come from a debuginfod server. Here, off the JS thread.
  DebuginfoFetch fetched = FetchDebuginfo(h.elf, id, idSize > 0 ? static_cast<size_t>(idSize) : 0);
  if (fetched != DebuginfoFetch::kNotNeeded) {
    std::lock_guard<std::mutex> lock(statsMu_);
    (fetched == DebuginfoFetch::kFetched ? stats_.debuginfoFetched : stats_.debuginfoMissing)++;
  }
  return Build(h.elf, key, built, buildNs);
}

AddProcessResult UnwindRegistry::AddProcess(int pid) {
  std::lock_guard<std::mutex> lock(mu_);
  AddProcessResult result;
  std::vector<Mapping> maps;
  if (!ReadMaps(pid, maps)) {
    result.gone = true;
    Forget(pid);
    return result;
  }
  tick_++;
  auto proc = std::make_unique<unwind_proc>();
  std::memset(proc.get(), 0, sizeof(*proc));
  std::vector<std::string> keys;
  uint64_t fp = 0, dropped = 0;
  for (const Mapping& m : maps) {
    if (!m.executable || m.path == "[vsyscall]") continue;
    if (proc->count >= UNWIND_MAX_MAPPINGS) {
      dropped++;
      continue;
    }
    unwind_mapping& out = proc->mappings[proc->count];
    out.start = m.start;
    out.end = m.end;
    out.kind = UNWIND_KIND_FP;  // anonymous executable memory: JIT code
    if (m.FileBacked()) {
      std::shared_ptr<Table> table = TableFor(pid, m.path, m.start, m.end, result.tablesBuilt, result.buildNs);
      out.kind = UNWIND_KIND_NONE;
      if (table) {
        table->lastUsed = tick_;
        out.kind = table->kind;
        if (table->kind == UNWIND_KIND_TABLE) {
          out.table_id = table->id;
          out.rows = table->rows;
          // The segment holding this mapping's file offset gives file vaddr = offset + (p_vaddr − p_offset).
          uint64_t delta = 0;
          for (const Segment& s : table->segments) {
            if (m.offset >= s.offset && m.offset < s.offset + std::max<uint64_t>(s.fileSize, 1)) {
              delta = s.vaddr - s.offset;
              break;
            }
          }
          out.bias = m.start - m.offset - delta;
        }
        keys.push_back(table->key);
      } else {
        std::lock_guard<std::mutex> statsLock(statsMu_);
        stats_.unreadable++;
      }
    }
    if (out.kind == UNWIND_KIND_FP) fp++;
    proc->count++;
  }
  if (proc->count == 0) {
    // Kernel threads (and zombies) map nothing: an entry would only take one of the map's slots.
    Forget(pid);
    return result;
  }
  for (const std::string& key : keys) tables_[key]->refs++;
  maps_.SetProc(static_cast<uint32_t>(pid), *proc);
  auto it = procs_.find(pid);
  if (it != procs_.end()) Release(it->second);
  procs_[pid] = std::move(keys);
  result.mappings = proc->count;
  {
    std::lock_guard<std::mutex> statsLock(statsMu_);
    stats_.modulesFp = fp;
    stats_.mappingsDropped += dropped;
  }
  NoteBytes();
  // A build's scratch (libdw's CFI cache, the row vectors: tens of MiB for a large file) was freed into
  // this pool thread's malloc arena; give it back to the kernel instead of keeping the agent's RSS there.
  if (result.tablesBuilt > 0) malloc_trim(0);
  return result;
}

void UnwindRegistry::RemoveProcess(int pid) {
  std::lock_guard<std::mutex> lock(mu_);
  Forget(pid);
}

// The process's entry goes from the kernel, and its share of its tables with it. Caller holds mu_.
void UnwindRegistry::Forget(int pid) {
  auto it = procs_.find(pid);
  if (it != procs_.end()) {
    maps_.DeleteProc(static_cast<uint32_t>(pid));
    Release(it->second);
    procs_.erase(it);
  }
  NoteBytes();
}

// A table no process uses is dropped at once: its memory goes back to the kernel.
void UnwindRegistry::Release(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    auto t = tables_.find(key);
    if (t == tables_.end()) continue;
    if (t->second->refs > 0) t->second->refs--;
    if (t->second->refs == 0) {
      DropTable(*t->second);
      tables_.erase(t);
      for (auto f = fileKeys_.begin(); f != fileKeys_.end();) {
        f = f->second == key ? fileKeys_.erase(f) : std::next(f);
      }
    }
  }
}

uint64_t UnwindRegistry::LoadedBytes() const {
  uint64_t total = 0;
  for (const auto& [key, t] : tables_) total += t->bytes;
  return total;
}

// Publishes what Stats() and Processes() report (they never wait for mu_). Caller holds mu_.
void UnwindRegistry::NoteBytes() {
  uint64_t rows = 0, count = 0;
  for (const auto& [key, t] : tables_) {
    rows += t->rows;
    if (t->fd >= 0) count++;
  }
  const uint64_t bytes = LoadedBytes();
  std::lock_guard<std::mutex> lock(statsMu_);
  stats_.tableBytes = bytes;
  stats_.tableRows = rows;
  stats_.tables = count;
  stats_.tableBytesPeak = std::max(stats_.tableBytesPeak, bytes);
  stats_.processes = procs_.size();
  pids_.clear();
  for (const auto& [pid, keys] : procs_) pids_.push_back(pid);
}

UnwindRegistryStats UnwindRegistry::Stats() const {
  std::lock_guard<std::mutex> lock(statsMu_);
  return stats_;
}

std::vector<int> UnwindRegistry::Processes() const {
  std::lock_guard<std::mutex> lock(statsMu_);
  return pids_;
}

}  // namespace tracefleet

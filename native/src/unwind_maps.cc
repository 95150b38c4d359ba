#include "unwind_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "rodata.h"
#include "ring_buffer_object.h"

namespace tracefleet {
namespace {

constexpr uint32_t kTableFlags = BPF_F_INNER_MAP | BPF_F_MMAPABLE;

std::runtime_error Failure(const std::string& step, int err) {
  return std::runtime_error(step + ": " + std::strerror(err < 0 ? -err : err));
}

int CreateTableMap(uint32_t rows) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = kTableFlags);
  return bpf_map_create(BPF_MAP_TYPE_ARRAY, "tf_unwind_tbl", sizeof(uint32_t), sizeof(unwind_row), rows, &opts);
}

}  // namespace

UnwindMaps::UnwindMaps() {
  int inner = CreateTableMap(1);
  if (inner < 0) throw Failure("create unwind table template map (array, BPF_F_INNER_MAP|BPF_F_MMAPABLE)", errno);
  LIBBPF_OPTS(bpf_map_create_opts, outerOpts, .inner_map_fd = static_cast<__u32>(inner));
  fds_.tables = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, "unwind_tables", sizeof(uint32_t), sizeof(uint32_t),
                               UNWIND_MAX_TABLES, &outerOpts);
  int err = errno;
  close(inner);
  if (fds_.tables < 0) throw Failure("create map unwind_tables (hash of maps)", err);

  LIBBPF_OPTS(bpf_map_create_opts, procOpts, .map_flags = BPF_F_NO_PREALLOC);
  fds_.procs = bpf_map_create(BPF_MAP_TYPE_HASH, "unwind_procs", sizeof(uint32_t), sizeof(unwind_proc),
                              UNWIND_MAX_PROCS, &procOpts);
  if (fds_.procs < 0) {
    err = errno;
    close(fds_.tables);
    throw Failure("create map unwind_procs", err);
  }
  fds_.misses = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "unwind_misses", sizeof(uint32_t), sizeof(uint64_t),
                               UNWIND_MAX_MISSES, nullptr);
  if (fds_.misses < 0) {
    err = errno;
    close(fds_.tables);
    close(fds_.procs);
    throw Failure("create map unwind_misses", err);
  }
}

UnwindMaps::~UnwindMaps() {
  close(fds_.tables);
  close(fds_.procs);
  close(fds_.misses);
}

int UnwindMaps::LoadTable(uint32_t id, const std::vector<unwind_row>& rows) {
  if (rows.empty()) throw std::runtime_error("load unwind table: no rows");
  int fd = CreateTableMap(static_cast<uint32_t>(rows.size()));
  if (fd < 0) throw Failure("create unwind table map of " + std::to_string(rows.size()) + " rows", errno);
  size_t bytes = rows.size() * sizeof(unwind_row);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t length = (bytes + page - 1) / page * page;
  void* mem = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    int err = errno;
    close(fd);
    throw Failure("mmap unwind table map", err);
  }
  std::memcpy(mem, rows.data(), bytes);
  munmap(mem, length);
  // The map is complete before any program can find it.
  uint32_t value = static_cast<uint32_t>(fd);
  if (bpf_map_update_elem(fds_.tables, &id, &value, BPF_ANY) != 0) {
    int err = errno;
    close(fd);
    throw Failure("insert unwind table " + std::to_string(id) + " into unwind_tables", err);
  }
  return fd;
}

void UnwindMaps::DropTable(uint32_t id, int fd) {
  bpf_map_delete_elem(fds_.tables, &id);
  close(fd);
}

void UnwindMaps::SetProc(uint32_t pid, const unwind_proc& proc) {
  if (bpf_map_update_elem(fds_.procs, &pid, &proc, BPF_ANY) != 0) {
    throw Failure("write unwind_procs entry of pid " + std::to_string(pid), errno);
  }
}

void UnwindMaps::DeleteProc(uint32_t pid) { bpf_map_delete_elem(fds_.procs, &pid); }

std::vector<uint32_t> UnwindMaps::TakeMisses() {
  std::vector<uint32_t> pids;
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  while (pids.size() < UNWIND_MAX_MISSES && bpf_map_get_next_key(fds_.misses, prev, &next) == 0) {
    pids.push_back(next);
    key = next;
    prev = &key;
  }
  for (uint32_t pid : pids) bpf_map_delete_elem(fds_.misses, &pid);
  return pids;
}

void UseUnwindMaps(bpf_object* obj, const char* objectName, const UnwindFds& fds) {
  if (!fds.Valid()) return;
  struct {
    const char* name;
    int fd;
  } shared[] = {{"unwind_tables", fds.tables}, {"unwind_procs", fds.procs}, {"unwind_misses", fds.misses}};
  for (const auto& s : shared) {
    bpf_map* map = bpf_object__find_map_by_name(obj, s.name);
    if (map == nullptr) throw std::runtime_error(std::string(objectName) + ": no map " + s.name + " (built without unwind.bpf.h?)");
    int err = bpf_map__reuse_fd(map, s.fd);
    if (err) throw Failure(std::string(objectName) + ": share map " + s.name, err);
  }
  const bool enabled = true;
  SetRodata(obj, objectName, {{"unwind_enabled", &enabled, sizeof(enabled)}});
}

std::vector<uint64_t> ReadUnwindCounters(bpf_object* obj) {
  std::vector<uint64_t> out(UNWIND_COUNTER_MAX, 0);
  bpf_map* map = bpf_object__find_map_by_name(obj, "unwind_counters");
  if (map == nullptr || bpf_map__fd(map) < 0) return out;
  for (uint32_t i = 0; i < UNWIND_COUNTER_MAX; i++) out[i] = SumPerCpu(map, i, "unwind_counters");
  return out;
}

}  // namespace tracefleet

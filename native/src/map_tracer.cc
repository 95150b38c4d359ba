#include "map_tracer.h"

#include <bpf/libbpf.h>

#include <cerrno>

#include "libbpf_log.h"
#include "ring_buffer_object.h"
#include "symbol_names.h"

namespace tracefleet {

MapSession::MapSession(const std::string& path, std::vector<std::string> programs)
    : name_(Basename(path)), programs_(std::move(programs)) {
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(path.c_str(), nullptr);
  if (object_ == nullptr) throw std::runtime_error(LibbpfError("open " + path, errno, log));
  try {
    counters_ = FindMap("counters");
  } catch (...) {
    bpf_object__close(object_);
    throw;
  }
}

MapSession::~MapSession() {
  Detach();
  bpf_object__close(object_);
}

bpf_map* MapSession::FindMap(const char* name) const {
  bpf_map* map = bpf_object__find_map_by_name(object_, name);
  if (map == nullptr) throw std::runtime_error(name_ + ": no map " + name + " (rebuild it)");
  return map;
}

void MapSession::SetMaxEntries(bpf_map* map, uint32_t entries) {
  LibbpfLogCapture log;
  int err = bpf_map__set_max_entries(map, entries);
  if (err) throw std::runtime_error(LibbpfError(std::string("size the ") + bpf_map__name(map) + " map of " + name_, err, log));
}

void MapSession::Load(std::vector<RodataValue> values, const TargetConfig& target) {
  LibbpfLogCapture log;
  AddTargetRodata(target, true, values);
  SetRodata(object_, name_, values);
  targets_.Prepare(object_, name_, target.pidSet);
  int err = bpf_object__load(object_);
  if (err) throw std::runtime_error(LibbpfError("load " + name_, err, log));
}

void MapSession::Attach() {
  if (!links_.empty()) return;
  LibbpfLogCapture log;
  for (const std::string& name : programs_) {
    bpf_program* program = bpf_object__find_program_by_name(object_, name.c_str());
    if (program == nullptr) {
      Detach();
      throw std::runtime_error(name_ + ": no program " + name + " (rebuild it)");
    }
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      const int err = errno;
      Detach();
      throw std::runtime_error(LibbpfError(std::string("attach ") + bpf_program__section_name(program), err, log));
    }
    links_.push_back(link);
  }
}

void MapSession::Detach() {
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
  links_.clear();
}

uint64_t MapSession::Counter(uint32_t index) const { return SumPerCpu(counters_, index, name_ + " counters"); }

}  // namespace tracefleet

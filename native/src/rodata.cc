#include "rodata.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <stdexcept>

namespace tracefleet {

void SetRodata(bpf_object* object, const std::string& objectName, const std::vector<RodataValue>& values) {
  bpf_map* rodata = bpf_object__find_map_by_name(object, ".rodata");
  size_t size = 0;
  const void* initial = rodata ? bpf_map__initial_value(rodata, &size) : nullptr;
  const btf* types = bpf_object__btf(object);
  int datasec = types ? btf__find_by_name_kind(types, ".rodata", BTF_KIND_DATASEC) : -1;
  if (initial == nullptr || datasec < 0) throw std::runtime_error(objectName + ": no .rodata section with BTF; was it built with -g?");
  std::vector<char> data(static_cast<const char*>(initial), static_cast<const char*>(initial) + size);
  std::vector<bool> seen(values.size(), false);

  const btf_type* section = btf__type_by_id(types, datasec);
  const btf_var_secinfo* vars = btf_var_secinfos(section);
  for (int i = 0; i < btf_vlen(section); i++) {
    const btf_type* var = btf__type_by_id(types, vars[i].type);
    const char* name = btf__name_by_offset(types, var->name_off);
    for (size_t j = 0; j < values.size(); j++) {
      const RodataValue& value = values[j];
      if (name == nullptr || std::strcmp(name, value.name) != 0) continue;
      if (vars[i].size != value.size || vars[i].offset + vars[i].size > size) {
        throw std::runtime_error(objectName + ": global " + value.name + " has size " + std::to_string(vars[i].size) +
                                 ", the addon expects " + std::to_string(value.size) + " (rebuild both)");
      }
      std::memcpy(data.data() + vars[i].offset, value.value, value.size);
      seen[j] = true;
    }
  }
  for (size_t j = 0; j < values.size(); j++) {
    if (!seen[j]) throw std::runtime_error(objectName + ": const volatile global " + values[j].name + " not found in .rodata");
  }
  int err = bpf_map__set_initial_value(rodata, data.data(), data.size());
  if (err) throw std::runtime_error(objectName + ": set .rodata globals: " + std::strerror(-err));
}

}  // namespace tracefleet

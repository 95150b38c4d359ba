#include "dwarf_struct_offsets.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "args.h"
#include "elf_file.h"
#include "safe_open.h"

namespace tracefleet {
namespace {

constexpr int kMaxTypeChain = 32;         // typedef/const/volatile links followed from one type
constexpr int kMaxAnonymousDepth = 8;     // anonymous structs within anonymous structs
constexpr size_t kMaxPathParts = 16;      // components of one member path
constexpr uint32_t kMaxChildren = 1 << 20;  // DIEs looked at among one parent's children
constexpr uint32_t kMaxQueries = 1024;

using Clock = std::chrono::steady_clock;

// Children of a DIE in order. A sibling that does not lie after the current DIE (a hostile DW_AT_sibling
// pointing back) ends the walk, so no chain of siblings can loop.
class Children {
 public:
  explicit Children(Dwarf_Die* parent) { valid_ = dwarf_child(parent, &die_) == 0; }
  bool valid() const { return valid_ && seen_ < kMaxChildren; }
  Dwarf_Die* get() { return &die_; }
  void Next() {
    Dwarf_Off before = dwarf_dieoffset(&die_);
    seen_++;
    valid_ = dwarf_siblingof(&die_, &die_) == 0 && dwarf_dieoffset(&die_) > before;
  }

 private:
  Dwarf_Die die_{};
  bool valid_ = false;
  uint32_t seen_ = 0;
};

bool IsAggregate(int tag) { return tag == DW_TAG_structure_type || tag == DW_TAG_union_type || tag == DW_TAG_class_type; }

bool IsDeclaration(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  bool flag = false;
  return dwarf_attr(die, DW_AT_declaration, &attr) != nullptr && dwarf_formflag(&attr, &flag) == 0 && flag;
}

// The DIE's DW_AT_type.
bool TypeOf(Dwarf_Die* die, Dwarf_Die* type) {
  Dwarf_Attribute attr;
  return dwarf_attr_integrate(die, DW_AT_type, &attr) != nullptr && dwarf_formref_die(&attr, type) != nullptr;
}

// The type beneath typedefs and qualifiers.
bool Strip(Dwarf_Die* die, Dwarf_Die* out) {
  *out = *die;
  for (int i = 0; i < kMaxTypeChain; i++) {
    int tag = dwarf_tag(out);
    if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type &&
        tag != DW_TAG_atomic_type) {
      return true;
    }
    Dwarf_Die next;
    if (!TypeOf(out, &next)) return false;
    *out = next;
  }
  return false;
}

bool Unsigned(Dwarf_Die* die, unsigned int name, Dwarf_Word* value) {
  Dwarf_Attribute attr;
  return dwarf_attr(die, name, &attr) != nullptr && dwarf_formudata(&attr, value) == 0;
}

// Where a member starts: DW_AT_data_member_location as a constant or (DWARF 2) DW_OP_plus_uconst; none
// (a union's member) is 0. Bitfields also get their first bit, from DW_AT_data_bit_offset or (DWARF 2-3,
// little-endian) DW_AT_bit_offset counted from the storage unit's high end.
bool MemberLocation(Dwarf_Die* member, MemberAnswer& out) {
  Dwarf_Attribute attr;
  Dwarf_Word bytes = 0;
  if (dwarf_attr(member, DW_AT_data_member_location, &attr) != nullptr && dwarf_formudata(&attr, &bytes) != 0) {
    Dwarf_Op* ops = nullptr;
    size_t count = 0;
    if (dwarf_getlocation(&attr, &ops, &count) != 0 || count != 1 || ops[0].atom != DW_OP_plus_uconst) return false;
    bytes = ops[0].number;
  }
  Dwarf_Word bitSize = 0, bits = 0;
  if (!Unsigned(member, DW_AT_bit_size, &bitSize)) {
    out.offset = bytes;
    return true;
  }
  if (Unsigned(member, DW_AT_data_bit_offset, &bits)) {
    bits += bytes * 8;
  } else {
    Dwarf_Word fromHigh = 0, unit = 0;
    if (!Unsigned(member, DW_AT_bit_offset, &fromHigh)) return false;
    if (!Unsigned(member, DW_AT_byte_size, &unit)) {
      Dwarf_Die type;
      if (!TypeOf(member, &type) || dwarf_aggregate_size(&type, &unit) != 0) return false;
    }
    if (fromHigh + bitSize > unit * 8) return false;
    bits = bytes * 8 + unit * 8 - fromHigh - bitSize;
  }
  out.offset = bits / 8;
  out.bitOffset = static_cast<int64_t>(bits);
  out.bitSize = bitSize;
  return true;
}

// The member `name` of the struct or union `type`, looking into anonymous members; *offset is where it
// starts from the start of `type`.
bool FindMember(Dwarf_Die* type, const std::string& name, int depth, Dwarf_Die* found, MemberAnswer& at) {
  for (Children c(type); c.valid(); c.Next()) {
    Dwarf_Die* m = c.get();
    if (dwarf_tag(m) != DW_TAG_member) continue;
    const char* n = dwarf_diename(m);
    if (n != nullptr && name == n) {
      *found = *m;
      return MemberLocation(m, at);
    }
    Dwarf_Die t, inner;
    if (n != nullptr || depth >= kMaxAnonymousDepth || !TypeOf(m, &t) || !Strip(&t, &inner) || !IsAggregate(dwarf_tag(&inner))) continue;
    MemberAnswer outer, rest;
    if (!MemberLocation(m, outer) || !FindMember(&inner, name, depth + 1, found, rest)) continue;
    at = rest;
    at.offset += outer.offset;
    if (at.bitOffset >= 0) at.bitOffset += static_cast<int64_t>(outer.offset * 8);
    return true;
  }
  return false;
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

MemberAnswer Answer(Dwarf_Die* structDie, const MemberQuery& q) {
  MemberAnswer a;
  Dwarf_Word size = 0;
  if (q.member.empty()) {
    a.ok = true;
    a.hasSize = dwarf_aggregate_size(structDie, &size) == 0;
    a.size = size;
    return a;
  }
  std::vector<std::string> parts = Split(q.member);
  if (parts.size() > kMaxPathParts) {
    a.error = "member path " + q.member + " has more than " + std::to_string(kMaxPathParts) + " parts";
    return a;
  }
  Dwarf_Die current = *structDie, member;
  std::string walked = q.structName;
  uint64_t offset = 0;
  for (size_t i = 0; i < parts.size(); i++) {
    MemberAnswer at;
    if (parts[i].empty() || !FindMember(&current, parts[i], 0, &member, at)) {
      a.error = walked + " has no member " + (parts[i].empty() ? "''" : parts[i]);
      return a;
    }
    offset += at.offset;
    walked += "." + parts[i];
    Dwarf_Die type;
    bool typed = TypeOf(&member, &type);
    if (i + 1 == parts.size()) {
      a = at;
      a.ok = true;
      a.offset = offset;
      if (a.bitOffset >= 0) a.bitOffset += static_cast<int64_t>((offset - at.offset) * 8);
      a.hasSize = typed && dwarf_aggregate_size(&type, &size) == 0;
      a.size = size;
      return a;
    }
    if (at.bitOffset >= 0 || !typed || !Strip(&type, &current) || !IsAggregate(dwarf_tag(&current))) {
      a.error = walked + " is not a struct or union";
      return a;
    }
  }
  return a;
}

// The complete struct or union a top-level DIE names: a definition, or a typedef of one.
bool Definition(Dwarf_Die* die, Dwarf_Die* out) {
  int tag = dwarf_tag(die);
  if (tag == DW_TAG_typedef) {
    Dwarf_Die t;
    if (!TypeOf(die, &t) || !Strip(&t, out)) return false;
  } else if (IsAggregate(tag)) {
    *out = *die;
  } else {
    return false;
  }
  return IsAggregate(dwarf_tag(out)) && !IsDeclaration(out);
}

struct DwflDeleter {
  void operator()(Dwfl* d) const { dwfl_end(d); }
};

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

StructOffsets FindStructOffsets(const StructOffsetsFile& where, const std::vector<MemberQuery>& queries, const StructOffsetsLimits& limits) {
  StructOffsets out;
  const std::string& path = where.path;
  const std::string& seenAs = where.seenAs.empty() ? path : where.seenAs;
  SafeOpenResult file = SafeOpenRegular(path, limits.maxBytes);
  if (!file.ok()) {
    out.error = "open " + path + ": " + file.error;
    return out;
  }
  // Called on Node's JS thread (the agent's detect): local debug files only, never a debuginfod download.
  LocalDebuginfoOnly localOnly;
  std::unique_ptr<Dwfl, DwflDeleter> dwfl(BeginSafeDwfl());
  if (!dwfl) {
    out.error = std::string("libdwfl: ") + dwfl_errmsg(-1);
    return out;
  }
  int fd = file.fd.Release();
  dwfl_report_begin(dwfl.get());
  // The file name is what SafeFindDebuginfo looks for a .gnu_debuglink file beside.
  Dwfl_Module* mod = dwfl_report_elf(dwfl.get(), BaseName(seenAs).c_str(), seenAs.c_str(), fd, 0, true);
  dwfl_report_end(dwfl.get(), nullptr, nullptr);
  if (mod == nullptr) {  // libdwfl did not take the descriptor
    close(fd);
    out.error = "read " + path + ": " + dwfl_errmsg(-1);
    return out;
  }
  Dwarf_Addr bias = 0;
  Dwarf* dw = dwfl_module_getdwarf(mod, &bias);
  if (dw == nullptr) {
    out.noDebugInfo = true;
    out.error = "no debug info in " + path + " (" + dwfl_errmsg(-1) + "; no separate debug file by build-id or .gnu_debuglink)";
    return out;
  }
  const char* mainFile = nullptr;
  const char* debugFile = nullptr;
  dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mainFile, &debugFile);
  out.debugFile = debugFile != nullptr ? debugFile : path;

  std::set<std::string> wanted;
  for (const MemberQuery& q : queries) wanted.insert(q.structName);
  std::map<std::string, Dwarf_Die> found;
  const auto deadline = Clock::now() + std::chrono::milliseconds(limits.timeoutMs);
  std::string gaveUp;
  Dwarf_CU* cu = nullptr;
  Dwarf_Die cuDie;
  while (found.size() < wanted.size() && dwarf_get_units(dw, cu, &cu, nullptr, nullptr, &cuDie, nullptr) == 0) {
    if (out.units >= limits.maxUnits) {
      gaveUp = "gave up after " + std::to_string(out.units) + " compile units";
      break;
    }
    if (Clock::now() > deadline) {
      gaveUp = "gave up after " + std::to_string(limits.timeoutMs) + " ms (" + std::to_string(out.units) + " compile units)";
      break;
    }
    out.units++;
    for (Children c(&cuDie); c.valid(); c.Next()) {
      const char* name = dwarf_diename(c.get());
      Dwarf_Die def;
      if (name == nullptr || !wanted.count(name) || found.count(name) || !Definition(c.get(), &def)) continue;
      found.emplace(name, def);
    }
  }
  for (const MemberQuery& q : queries) {
    auto it = found.find(q.structName);
    if (it != found.end()) {
      out.members.push_back(Answer(&it->second, q));
      continue;
    }
    MemberAnswer a;
    a.error = "no struct " + q.structName + " in the debug info of " + out.debugFile + (gaveUp.empty() ? "" : " (" + gaveUp + ")");
    out.members.push_back(a);
  }
  return out;
}

namespace {

constexpr const char* kUsage =
    "dwarfStructOffsets(path: string, queries: {struct: string, member?: string}[], "
    "options?: {seenAs?: string, maxBytes?: integer, maxCompileUnits?: integer, timeoutMs?: integer})";

}  // namespace

Napi::Value DwarfStructOffsetsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Args args(env, kUsage);
  std::string path = args.StringArg(info[0], "path");
  if (!info[1].IsArray()) args.Fail("queries must be an array");
  Napi::Array list = info[1].As<Napi::Array>();
  if (list.Length() > kMaxQueries) args.Fail("queries has more than " + std::to_string(kMaxQueries) + " elements");
  std::vector<MemberQuery> queries;
  for (uint32_t i = 0; i < list.Length(); i++) {
    std::string prefix = "queries[" + std::to_string(i) + "].";
    Napi::Object q = args.Object(list.Get(i), ("queries[" + std::to_string(i) + "]").c_str());
    args.RejectUnknownKeys(q, {"struct", "member"}, prefix);
    MemberQuery query{args.String(q, "struct", true), args.String(q, "member", false)};
    if (query.structName.empty()) args.Fail(prefix + "struct must not be empty");
    queries.push_back(std::move(query));
  }
  StructOffsetsLimits limits;
  StructOffsetsFile file{path, ""};
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    Napi::Object o = args.Object(info[2], "options");
    args.RejectUnknownKeys(o, {"seenAs", "maxBytes", "maxCompileUnits", "timeoutMs"});
    file.seenAs = args.String(o, "seenAs", false);
    limits.maxBytes = args.Integer(o, "maxBytes", 1, 1ULL << 40, false, limits.maxBytes);
    limits.maxUnits = static_cast<uint32_t>(args.Integer(o, "maxCompileUnits", 1, 1U << 24, false, limits.maxUnits));
    limits.timeoutMs = static_cast<uint32_t>(args.Integer(o, "timeoutMs", 1, 600000, false, limits.timeoutMs));
  }
  StructOffsets r = FindStructOffsets(file, queries, limits);
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", r.error.empty());
  out.Set("compileUnits", r.units);
  if (!r.error.empty()) {
    out.Set("error", r.error);
    out.Set("noDebugInfo", r.noDebugInfo);
    return out;
  }
  out.Set("debugFile", r.debugFile);
  Napi::Array members = Napi::Array::New(env, r.members.size());
  for (size_t i = 0; i < r.members.size(); i++) {
    const MemberAnswer& a = r.members[i];
    Napi::Object m = Napi::Object::New(env);
    m.Set("struct", queries[i].structName);
    m.Set("member", queries[i].member);
    m.Set("ok", a.ok);
    if (a.ok) {
      m.Set("offset", static_cast<double>(a.offset));
      if (a.hasSize) m.Set("size", static_cast<double>(a.size));
      if (a.bitOffset >= 0) {
        m.Set("bitOffset", static_cast<double>(a.bitOffset));
        m.Set("bitSize", static_cast<double>(a.bitSize));
      }
    } else {
      m.Set("error", a.error);
    }
    members.Set(static_cast<uint32_t>(i), m);
  }
  out.Set("members", members);
  return out;
}

}  // namespace tracefleet

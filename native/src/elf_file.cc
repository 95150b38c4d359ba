#include "elf_file.h"

#include <elfutils/debuginfod.h>
#include <elfutils/libdwfl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "debuginfo_fetch.h"
#include "file_pages.h"
#include "safe_open.h"
#include "symbol_names.h"

namespace tracefleet {
namespace {

char* debuginfoPath = nullptr;

// Set on a thread that must not wait for the network (LocalDebuginfoOnly): debuginfod is not asked there.
thread_local bool tLocalDebuginfoOnly = false;

int Accept(SafeOpenResult file, const std::string& path, char** debuginfoFileName) {
  if (!file.ok()) return -1;
  *debuginfoFileName = strdup(path.c_str());
  return file.fd.Release();
}

// Separate debuginfo, found where dwfl_standard_find_debuginfo looks (build-id under
// /usr/lib/debug, the .gnu_debuglink name beside the file, in its .debug/ and under
// /usr/lib/debug, then debuginfod's cache), but every file opened through SafeOpenRegular: the
// debuglink name comes from the traced file itself, and libdwfl would open whatever it names
// ("../../dev/watchdog", a FIFO in /tmp) with a plain open(). A debuglink with a '/' is refused.
int SafeFindDebuginfo(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, const char* fileName,
                      const char* debuglink, GElf_Word, char** debuginfoFileName) {
  const unsigned char* bits = nullptr;
  GElf_Addr idAddr = 0;
  int idLen = dwfl_module_build_id(mod, &bits, &idAddr);
  if (idLen > 1) {
    std::string hex = Hex(bits, static_cast<size_t>(idLen));
    std::string path = "/usr/lib/debug/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug";
    int fd = Accept(SafeOpenRegular(path), path, debuginfoFileName);
    if (fd >= 0) return fd;
  }
  std::string link = debuglink != nullptr ? debuglink : "";
  std::string file = fileName != nullptr ? fileName : "";
  size_t slash = file.rfind('/');
  if (!link.empty() && link.find('/') == std::string::npos && link != "." && link != ".." && slash != std::string::npos &&
      file[0] == '/') {
    std::string dir = file.substr(0, slash);
    for (const std::string& path : {dir + "/" + link, dir + "/.debug/" + link, "/usr/lib/debug" + dir + "/" + link}) {
      if (path == file) continue;  // a debuglink naming the file itself
      int fd = Accept(SafeOpenRegular(path), path, debuginfoFileName);
      if (fd >= 0) return fd;
    }
  }
  const char* urls = std::getenv("DEBUGINFOD_URLS");
  if (idLen > 0 && urls != nullptr && urls[0] != '\0' && !tLocalDebuginfoOnly) {
    // FetchDebuginfo (on the pool, at table build) filled debuginfod's cache: this finds it there.
    debuginfod_client* client = debuginfod_begin();
    if (client == nullptr) return -1;
    char* path = nullptr;
    int fd = debuginfod_find_debuginfo(client, bits, idLen, &path);
    debuginfod_end(client);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
      close(fd);
      fd = -1;
    }
    if (fd >= 0) {
      *debuginfoFileName = path;
      return fd;
    }
    std::free(path);
  }
  return -1;
}

// The module is reported from an open descriptor, so find_elf is never asked.
const Dwfl_Callbacks kCallbacks = {
    dwfl_build_id_find_elf,
    SafeFindDebuginfo,
    dwfl_offline_section_address,
    &debuginfoPath,
};

constexpr uint64_t kPageSize = 4096;

int BindingRank(const GElf_Sym& sym) {
  switch (GELF_ST_BIND(sym.st_info)) {
    case STB_GLOBAL:
      return 3;
    case STB_WEAK:
      return 2;
    case STB_LOCAL:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

Dwfl* BeginSafeDwfl() { return dwfl_begin(&kCallbacks); }

LocalDebuginfoOnly::LocalDebuginfoOnly() : previous_(tLocalDebuginfoOnly) { tLocalDebuginfoOnly = true; }
LocalDebuginfoOnly::~LocalDebuginfoOnly() { tLocalDebuginfoOnly = previous_; }

ElfFile::ElfFile(int fd, const std::string& path, std::string name) : name_(std::move(name)) {
  dwfl_ = BeginSafeDwfl();
  if (dwfl_ == nullptr) {
    close(fd);
    return;
  }
  // Placed at 0 (ET_DYN: bias 0), module addresses are the file's own vaddrs, the same for
  // every process that maps it.
  dwfl_report_begin(dwfl_);
  module_ = dwfl_report_elf(dwfl_, name_.c_str(), path.c_str(), fd, 0, true);
  dwfl_report_end(dwfl_, nullptr, nullptr);
  if (module_ == nullptr) {  // not ELF, or unreadable: libdwfl did not take the descriptor
    close(fd);
    dwfl_end(dwfl_);
    dwfl_ = nullptr;
    return;
  }
  Dwarf_Addr low = 0;
  dwfl_module_info(module_, nullptr, &low, nullptr, nullptr, nullptr, nullptr, nullptr);
  low_ = low;
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module_, &bias);
  size_t count = 0;
  if (elf == nullptr || elf_getphdrnum(elf, &count) != 0) return;
  for (size_t i = 0; i < count; i++) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr && phdr.p_type == PT_LOAD) {
      segments_.push_back(Segment{phdr.p_offset, phdr.p_filesz, phdr.p_vaddr + bias});
    }
  }
}

ElfFile::~ElfFile() {
  if (dwfl_ != nullptr) dwfl_end(dwfl_);
}

bool ElfFile::ToVaddr(uint64_t fileOffset, uint64_t& vaddr) const {
  for (const Segment& s : segments_) {
    if (fileOffset >= s.offset && fileOffset - s.offset < s.fileSize) {
      vaddr = s.vaddr + (fileOffset - s.offset);
      return true;
    }
  }
  // The pages a segment is mapped with reach a little before and after it.
  for (const Segment& s : segments_) {
    uint64_t first = s.offset & ~(kPageSize - 1);
    uint64_t last = (s.offset + s.fileSize + kPageSize - 1) & ~(kPageSize - 1);
    if (fileOffset < first || fileOffset >= last) continue;
    if (fileOffset < s.offset && s.vaddr < s.offset - fileOffset) continue;
    vaddr = s.vaddr + fileOffset - s.offset;  // below s.vaddr when fileOffset < s.offset: wraps back
    return true;
  }
  return false;
}

void ElfFile::BuildIndex() {
  indexed_ = true;
  int count = dwfl_module_getsymtab(module_);  // finds separate debuginfo on the way
  if (count <= 0) return;
  firstGlobal_ = dwfl_module_getsymtab_first_global(module_);
  symbols_.reserve(static_cast<size_t>(count));
  // Exactly the symbols dwfl_module_addrinfo considers.
  for (int i = 1; i < count && i < (1 << 30); i++) {
    GElf_Sym sym;
    GElf_Addr value = 0;
    GElf_Word shndx = 0;
    const char* name = dwfl_module_getsym_info(module_, i, &sym, &value, &shndx, nullptr, nullptr);
    if (name == nullptr || name[0] == '\0' || sym.st_shndx == SHN_UNDEF) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS) continue;
    Symbol symbol{value, sym.st_size, name, static_cast<uint32_t>(i), static_cast<uint32_t>(BindingRank(sym)), shndx};
    symbols_.push_back(symbol);
  }
  symbols_.shrink_to_fit();
  std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    return a.start != b.start ? a.start < b.start : a.order < b.order;
  });
  maxSizedEnd_.resize(symbols_.size());
  uint64_t maxEnd = 0;
  for (size_t i = 0; i < symbols_.size(); i++) {
    if (symbols_[i].size != 0) maxEnd = std::max(maxEnd, symbols_[i].start + symbols_[i].size);
    maxSizedEnd_[i] = maxEnd;
  }

  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module_, &bias);
  Elf_Scn* scn = nullptr;
  while (elf != nullptr && (scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && (shdr.sh_flags & SHF_ALLOC) != 0) {
      sections_.push_back(Section{shdr.sh_addr + bias, shdr.sh_addr + bias + shdr.sh_size, elf_ndxscn(scn)});
    }
  }
  std::sort(sections_.begin(), sections_.end(), [](const Section& a, const Section& b) { return a.start < b.start; });

  // Building the index read every symbol and its name: whole symbol and string tables (node's are ~15 MiB) of
  // the file libdwfl maps, resident in the agent from then on, while lookups touch a few names. Those pages leave
  // the agent's RSS now; a name read later faults its page in again.
  size_t imageSize = 0;
  char* image = elf != nullptr ? elf_rawfile(elf, &imageSize) : nullptr;
  ReleaseFilePages(image, imageSize);
}

// The section libdwfl's same_section test sees: a binary search over the allocated sections in
// which a section's end address still counts as inside it, unless the next one starts there.
// SHN_UNDEF (0) outside every section, which then matches any other address outside.
size_t ElfFile::SectionOf(uint64_t vaddr) const {
  size_t l = 0, u = sections_.size();
  while (l < u) {
    size_t idx = (l + u) / 2;
    if (vaddr < sections_[idx].start) {
      u = idx;
    } else if (vaddr > sections_[idx].end) {
      l = idx + 1;
    } else {
      if (vaddr == sections_[idx].end && idx + 1 < sections_.size() && vaddr == sections_[idx + 1].start) ++idx;
      return sections_[idx].index;
    }
  }
  return SHN_UNDEF;
}

// The choice dwfl_module_addrinfo makes by scanning every symbol, made from the sorted index:
// global symbols first, locals only when no global matched; among the sized symbols that
// contain the address the one starting closest, then the stronger binding, then the smaller
// size, then the first in the table; else a sizeless label (hand-written assembly) at the
// highest start below the address, in its section, that no sized symbol reaches past.
const ElfFile::Symbol* ElfFile::Find(uint64_t vaddr) const {
  size_t end = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                                [](uint64_t v, const Symbol& s) { return v < s.start; }) -
               symbols_.begin();
  if (end == 0) return nullptr;

  std::vector<const Symbol*> containing;
  for (size_t i = end; i-- > 0 && maxSizedEnd_[i] > vaddr;) {
    const Symbol& s = symbols_[i];
    if (s.size != 0 && vaddr - s.start < s.size) containing.push_back(&s);
  }
  std::sort(containing.begin(), containing.end(), [](const Symbol* a, const Symbol* b) { return a->order < b->order; });
  for (bool globals : {true, false}) {
    if (!globals) {
      if (firstGlobal_ <= 1) break;
      // libdwfl skips the locals when a global label sits exactly at the address.
      if (const Symbol* exact = FindSizeless(vaddr, end, true)) return exact;
    }
    const Symbol* best = nullptr;
    for (const Symbol* s : containing) {
      if (IsGlobal(*s) != globals) continue;
      if (best == nullptr || best->start < s->start || best->binding < s->binding ||
          (best->start == s->start && ((best->size > s->size && best->binding <= s->binding) ||
                                       (best->size >= s->size && best->binding < s->binding)))) {
        best = s;
      }
    }
    if (best != nullptr) return best;
  }
  return FindSizeless(vaddr, end, false);
}

const ElfFile::Symbol* ElfFile::FindSizeless(uint64_t vaddr, size_t end, bool exactGlobalOnly) const {
  uint64_t top = symbols_[end - 1].start;
  if (exactGlobalOnly ? top != vaddr : maxSizedEnd_[end - 1] > top) return nullptr;
  size_t addrSection = SHN_UNDEF;
  bool addrSectionKnown = false;
  const Symbol* global = nullptr;
  const Symbol* local = nullptr;
  for (size_t i = end; i-- > 0 && symbols_[i].start == top;) {
    const Symbol& s = symbols_[i];
    if (s.size != 0 || (exactGlobalOnly && !IsGlobal(s))) continue;
    if (s.shndx >= SHN_LORESERVE) {
      if (s.start != vaddr) continue;
    } else {
      if (!addrSectionKnown) {
        addrSection = SectionOf(vaddr);
        addrSectionKnown = true;
      }
      if (SectionOf(s.start) != addrSection) continue;
    }
    // Walking back in table order: the first seen is the last libdwfl would have taken.
    const Symbol*& slot = IsGlobal(s) ? global : local;
    if (slot == nullptr) slot = &s;
  }
  return local != nullptr ? local : global;
}

std::string ElfFile::DisplayName(const Symbol& symbol) {
  if (symbol.name[0] != '_' || symbol.name[1] != 'Z') return symbol.name;
  const uint32_t order = symbol.order;
  auto it = demangled_.find(order);
  if (it == demangled_.end()) it = demangled_.emplace(order, Demangle(symbol.name)).first;
  return it->second;
}

std::string ElfFile::Symbolize(uint64_t fileOffset) {
  uint64_t vaddr = 0;
  if (module_ == nullptr || !ToVaddr(fileOffset, vaddr)) return name_ + "+" + Hex(fileOffset);
  if (!indexed_) BuildIndex();
  if (const Symbol* symbol = Find(vaddr)) return DisplayName(*symbol);
  return name_ + "+" + Hex(vaddr - low_);
}

}  // namespace tracefleet

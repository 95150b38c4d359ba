// One mapped ELF image (an executable, a shared library, the vDSO), opened once and shared by
// every process that maps it. Addresses are looked up by file offset, so the same table serves
// every process whatever address it loaded the file at.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct Dwfl;
struct Dwfl_Module;

namespace tracefleet {

// A libdwfl session whose separate debuginfo is found only through SafeOpenRegular (build-id under
// /usr/lib/debug, a .gnu_debuglink without '/', debuginfod's cache): what every Dwfl of the addon uses.
// nullptr when libdwfl cannot start one.
Dwfl* BeginSafeDwfl();

// While one lives, Dwfls of this thread look for separate debuginfo on local disk only: no debuginfod
// query, which may wait for the network (callers on Node's JS thread).
class LocalDebuginfoOnly {
 public:
  LocalDebuginfoOnly();
  ~LocalDebuginfoOnly();
  LocalDebuginfoOnly(const LocalDebuginfoOnly&) = delete;
  LocalDebuginfoOnly& operator=(const LocalDebuginfoOnly&) = delete;

 private:
  bool previous_;
};

class ElfFile {
 public:
  // Takes fd (an open descriptor of the file, or of a memfd holding an in-memory image) in
  // every case. path is where the process sees the file: libdwfl looks for separate debuginfo
  // next to it. name is what `name+0x<offset>` fallbacks show.
  ElfFile(int fd, const std::string& path, std::string name);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  // A function name, or `name+0x<offset>`: relative to the module's first segment when the
  // offset lies in a loaded segment (libdwfl's module-relative form), else the file offset.
  std::string Symbolize(uint64_t fileOffset);
  // Symbols indexed so far (0 until the first lookup that needed them).
  size_t IndexedSymbols() const { return symbols_.size(); }

 private:
  struct Segment {
    uint64_t offset;
    uint64_t fileSize;
    uint64_t vaddr;
  };
  struct Symbol {
    uint64_t start;  // module address (the file's vaddr: the module is placed with bias 0)
    uint64_t size;
    const char* name;  // libdwfl's string table: lives as long as dwfl_
    // 32 bytes with the binding in order's top bits (40 apart): a whole-host profile indexes ~400,000 symbols.
    uint32_t order : 30;  // index in libdwfl's symbol table (BuildIndex stops below 2^30)
    uint32_t binding : 2;  // ranked like libdwfl: global 3, weak 2, local 1, other 0
    uint32_t shndx;
  };
  static_assert(sizeof(Symbol) == 32, "Symbol is packed into 32 bytes");
  struct Section {
    uint64_t start;
    uint64_t end;
    size_t index;
  };

  bool ToVaddr(uint64_t fileOffset, uint64_t& vaddr) const;
  void BuildIndex();
  const Symbol* Find(uint64_t vaddr) const;
  const Symbol* FindSizeless(uint64_t vaddr, size_t end, bool exactGlobalOnly) const;
  bool IsGlobal(const Symbol& symbol) const { return firstGlobal_ <= 1 || symbol.order >= static_cast<uint32_t>(firstGlobal_); }
  size_t SectionOf(uint64_t vaddr) const;
  std::string DisplayName(const Symbol& symbol);

  std::string name_;
  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* module_ = nullptr;
  uint64_t low_ = 0;  // module start: first PT_LOAD's vaddr rounded down to its alignment
  std::vector<Segment> segments_;
  bool indexed_ = false;
  int firstGlobal_ = 0;
  std::vector<Symbol> symbols_;  // sorted by start, then order
  std::vector<uint64_t> maxSizedEnd_;  // max start + size over the sized symbols in symbols_[0..i]
  std::vector<Section> sections_;  // allocated sections of the main file, sorted by start
  std::unordered_map<uint32_t, std::string> demangled_;  // by order, filled on first use
};

}  // namespace tracefleet

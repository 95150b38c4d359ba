#include "elf_function_offsets.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "safe_open.h"

namespace tracefleet {
namespace {

constexpr uint16_t kHiddenVersion = 0x8000;  // VERSYM_HIDDEN: not the default version

struct Candidate {
  uint64_t vaddr = 0;
  int rank = -1;  // higher wins: default version, then global over weak
  bool ifunc = false;
};

class ElfHandle {
 public:
  explicit ElfHandle(const std::string& path) : path_(path) {
    SafeOpenResult file = SafeOpenRegular(path);
    if (!file.ok()) throw std::runtime_error("open " + path + ": " + file.error);
    fd_ = file.fd.Release();
    elf_version(EV_CURRENT);
    elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
    if (elf_ == nullptr || elf_kind(elf_) != ELF_K_ELF) {
      std::string why = elf_ == nullptr ? elf_errmsg(-1) : "not an ELF file";
      Close();
      throw std::runtime_error("read " + path + ": " + why);
    }
  }
  ~ElfHandle() { Close(); }
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
  Elf* get() const { return elf_; }

 private:
  void Close() {
    if (elf_ != nullptr) elf_end(elf_);
    elf_ = nullptr;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

Elf_Scn* FindSection(Elf* elf, uint32_t type) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == type) return scn;
  }
  return nullptr;
}

// Scans one symbol table; versions (from .gnu.version) apply to .dynsym only.
void Scan(Elf* elf, Elf_Scn* symtab, Elf_Data* versions, std::map<std::string, Candidate>& best) {
  GElf_Shdr shdr;
  Elf_Data* data = elf_getdata(symtab, nullptr);
  if (data == nullptr || gelf_getshdr(symtab, &shdr) == nullptr || shdr.sh_entsize == 0) return;
  size_t count = shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 0; i < count; i++) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
    if (name == nullptr) continue;
    auto it = best.find(name);
    if (it == best.end()) continue;
    GElf_Versym version = 0;
    if (versions != nullptr) gelf_getversym(versions, static_cast<int>(i), &version);
    int bind = GELF_ST_BIND(sym.st_info);
    int rank = ((version & kHiddenVersion) ? 0 : 4) + (bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0);
    if (rank > it->second.rank) it->second = Candidate{sym.st_value, rank, type == STT_GNU_IFUNC};
  }
}

// The file offset of a virtual address, through the PT_LOAD segment holding it.
bool ToFileOffset(Elf* elf, uint64_t vaddr, uint64_t& offset) {
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) return false;
  for (size_t i = 0; i < count; i++) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_LOAD) continue;
    if (vaddr >= phdr.p_vaddr && vaddr - phdr.p_vaddr < phdr.p_filesz) {
      offset = vaddr - phdr.p_vaddr + phdr.p_offset;
      return true;
    }
  }
  return false;
}

}  // namespace

FunctionOffsets FindFunctionOffsets(const std::string& path, const std::vector<std::string>& names) {
  ElfHandle elf(path);
  std::map<std::string, Candidate> best;
  for (const std::string& name : names) best[name] = Candidate{};

  Elf_Scn* dynsym = FindSection(elf.get(), SHT_DYNSYM);
  Elf_Scn* versym = FindSection(elf.get(), SHT_GNU_versym);
  if (dynsym != nullptr) Scan(elf.get(), dynsym, versym ? elf_getdata(versym, nullptr) : nullptr, best);
  Elf_Scn* symtab = FindSection(elf.get(), SHT_SYMTAB);
  if (symtab != nullptr) {
    // Only for names .dynsym lacks (an executable's own functions).
    std::map<std::string, Candidate> rest;
    for (const auto& [name, candidate] : best) {
      if (candidate.rank < 0) rest[name] = Candidate{};
    }
    Scan(elf.get(), symtab, nullptr, rest);
    for (const auto& [name, candidate] : rest) best[name] = candidate;
  }

  FunctionOffsets result;
  for (const auto& [name, candidate] : best) {
    uint64_t offset = 0;
    if (candidate.rank < 0) {
      result.why[name] = "no function " + name + " in " + path;
    } else if (candidate.ifunc) {
      result.why[name] = name + " in " + path + " is an IFUNC (its symbol is the resolver, not the function)";
    } else if (!ToFileOffset(elf.get(), candidate.vaddr, offset)) {
      result.why[name] = name + " in " + path + " lies in no loaded segment";
    } else {
      result.found[name] = offset;
    }
  }
  return result;
}

}  // namespace tracefleet

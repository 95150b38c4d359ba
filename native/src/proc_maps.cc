#include "proc_maps.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tracefleet {

bool ReadMaps(int pid, std::vector<Mapping>& out) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/maps");
  if (!file) return false;
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(file, line)) {
    unsigned long long start, end, offset, inode;
    char perms[8];
    char dev[16];
    int pathAt = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &offset, dev, &inode, &pathAt) < 6) {
      continue;
    }
    std::string path = pathAt > 0 && static_cast<size_t>(pathAt) <= line.size() ? line.substr(pathAt) : std::string();
    maps.push_back(Mapping{start, end, offset, inode, dev, std::move(path), perms[2] == 'x', nullptr});
  }
  out = std::move(maps);
  return true;
}

std::string ProcessIdentity(int pid) {
  std::string dir = "/proc/" + std::to_string(pid);
  struct stat dirStat;
  if (stat(dir.c_str(), &dirStat) != 0) return std::string();
  std::ifstream file(dir + "/stat");
  std::string line;
  if (!std::getline(file, line)) return std::string();
  size_t paren = line.rfind(')');  // comm may hold spaces and parentheses
  if (paren == std::string::npos) return std::string();
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; i++) {
    if (i == 22) return field + ' ' + std::to_string(dirStat.st_ino);
  }
  return std::string();
}

}  // namespace tracefleet

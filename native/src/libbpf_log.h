// libbpf reports its details (verifier log included) through a print callback, not
// through return values. This captures them per thread so an error can carry them.
#pragma once

#include <string>

namespace tracefleet {

void InstallLibbpfPrint();

// While alive, libbpf warnings printed on this thread are collected instead of going to stderr.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

  std::string Text() const;
};

// "<step>: <strerror(err)>" followed by whatever libbpf printed meanwhile. err is an errno
// value, positive or negative.
std::string LibbpfError(const std::string& step, int err, const LibbpfLogCapture& log);

}  // namespace tracefleet

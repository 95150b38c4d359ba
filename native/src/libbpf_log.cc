#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tracefleet {
namespace {

// Verifier logs can run to megabytes; the end says why the load failed.
constexpr size_t kMaxCaptured = 256 * 1024;

thread_local std::string* tCapture = nullptr;

int Print(enum libbpf_print_level level, const char* format, va_list args) {
  static const bool debug = std::getenv("TRACEFLEET_LIBBPF_DEBUG") != nullptr;
  if (level == LIBBPF_DEBUG && !debug) return 0;
  if (tCapture == nullptr) return std::vfprintf(stderr, format, args);

  char buffer[1024];
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(buffer, sizeof(buffer), format, copy);
  va_end(copy);
  if (n < 0) return n;
  if (static_cast<size_t>(n) < sizeof(buffer)) {
    tCapture->append(buffer, n);
  } else {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), format, args);
    big.resize(n);
    tCapture->append(big);
  }
  if (tCapture->size() > kMaxCaptured) {
    tCapture->erase(0, tCapture->size() - kMaxCaptured);
    tCapture->insert(0, "[... earlier libbpf output cut ...]\n");
  }
  return n;
}

}  // namespace

void InstallLibbpfPrint() { libbpf_set_print(Print); }

LibbpfLogCapture::LibbpfLogCapture() {
  delete tCapture;
  tCapture = new std::string();
}

LibbpfLogCapture::~LibbpfLogCapture() {
  delete tCapture;
  tCapture = nullptr;
}

std::string LibbpfLogCapture::Text() const { return tCapture ? *tCapture : std::string(); }

std::string LibbpfError(const std::string& step, int err, const LibbpfLogCapture& log) {
  std::string message = step + ": " + std::strerror(err < 0 ? -err : err);
  std::string details = log.Text();
  while (!details.empty() && details.back() == '\n') details.pop_back();
  if (!details.empty()) message += "\n" + details;
  return message;
}

}  // namespace tracefleet

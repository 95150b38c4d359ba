// Argument checks at the JS boundary: every failure is a TypeError naming the option
// and carrying the usage string of the call.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace tracefleet {

// A JS value as an error message shows it: 12, "text", a bigint, an object, ...
std::string Describe(const Napi::Value& value);

class Args {
 public:
  Args(Napi::Env env, const char* usage) : env_(env), usage_(usage) {}

  [[noreturn]] void Fail(const std::string& what) const;

  Napi::Object Object(const Napi::Value& value, const char* name) const;
  // prefix names a nested object in the message ("probes[2]." gives "unknown option probes[2].x").
  void RejectUnknownKeys(const Napi::Object& object, std::initializer_list<const char*> known,
                         const std::string& prefix = std::string()) const;
  // An array of minLength..maxLength elements.
  Napi::Array Array(const Napi::Object& object, const char* name, uint32_t minLength, uint32_t maxLength) const;

  std::string String(const Napi::Object& object, const char* name, bool required) const;
  // A comm to match in the kernel: missing → ""; else 1..15 bytes without NUL (TRACEFLEET_COMM_LEN less its NUL).
  std::string Comm(const Napi::Object& object, const char* name) const;
  // Integer in [min, max]; missing → fallback (when not required).
  uint64_t Integer(const Napi::Object& object, const char* name, uint64_t min, uint64_t max, bool required,
                   uint64_t fallback) const;
  bool Boolean(const Napi::Object& object, const char* name, bool fallback) const;
  // A BPF ring buffer size: a power of two in [min, 1 GiB]; missing → fallback.
  uint32_t RingBufferBytes(const Napi::Object& object, const char* name, uint32_t min, uint32_t fallback) const;
  Napi::Function Function(const Napi::Object& object, const char* name) const;

  uint64_t IntegerArg(const Napi::Value& value, const char* name, uint64_t min, uint64_t max) const;
  std::string StringArg(const Napi::Value& value, const std::string& name) const;
  Napi::BigUint64Array AddressesArg(const Napi::Value& value, const char* name) const;
  // A bigint in 0..2^64-1 (file offsets, addresses).
  uint64_t BigIntArg(const Napi::Value& value, const std::string& name) const;

 private:
  Napi::Env env_;
  std::string usage_;
};

}  // namespace tracefleet

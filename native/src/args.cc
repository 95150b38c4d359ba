#include "args.h"

#include <cmath>

#include "limits.h"

namespace tracefleet {

std::string Describe(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
    return std::to_string(d);
  }
  if (value.IsString()) return "\"" + value.As<Napi::String>().Utf8Value() + "\"";
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value() ? "true" : "false";
  if (value.IsBigInt()) return "a bigint";
  if (value.IsFunction()) return "a function";
  if (value.IsArray()) return "an array";
  if (value.IsTypedArray()) return "a typed array";
  return "an object";
}

void Args::Fail(const std::string& what) const {
  throw Napi::TypeError::New(env_, what + ". Usage: " + usage_);
}

Napi::Object Args::Object(const Napi::Value& value, const char* name) const {
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) Fail(std::string(name) + " must be an object, got " + Describe(value));
  return value.As<Napi::Object>();
}

void Args::RejectUnknownKeys(const Napi::Object& object, std::initializer_list<const char*> known,
                             const std::string& prefix) const {
  Napi::Array keys = object.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string key = keys.Get(i).ToString().Utf8Value();
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) Fail("unknown option " + prefix + key);
  }
}

Napi::Array Args::Array(const Napi::Object& object, const char* name, uint32_t minLength, uint32_t maxLength) const {
  Napi::Value value = object.Get(name);
  if (!value.IsArray()) Fail(std::string("option ") + name + " must be an array, got " + Describe(value));
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() < minLength || array.Length() > maxLength) {
    Fail(std::string("option ") + name + " must have " + std::to_string(minLength) + ".." + std::to_string(maxLength) +
         " elements, got " + std::to_string(array.Length()));
  }
  return array;
}

std::string Args::String(const Napi::Object& object, const char* name, bool required) const {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() && !required) return std::string();
  return StringArg(value, std::string("option ") + name);
}

std::string Args::Comm(const Napi::Object& object, const char* name) const {
  if (object.Get(name).IsUndefined()) return std::string();
  std::string comm = String(object, name, true);
  if (comm.empty() || comm.size() > TRACEFLEET_COMM_LEN - 1 || comm.find('\0') != std::string::npos) {
    Fail(std::string("option ") + name + " must be 1.." + std::to_string(TRACEFLEET_COMM_LEN - 1) +
         " bytes without NUL (the kernel's comm), got \"" + comm + "\"");
  }
  return comm;
}

std::string Args::StringArg(const Napi::Value& value, const std::string& name) const {
  if (!value.IsString()) Fail(name + " must be a string, got " + Describe(value));
  return value.As<Napi::String>().Utf8Value();
}

uint64_t Args::Integer(const Napi::Object& object, const char* name, uint64_t min, uint64_t max, bool required,
                       uint64_t fallback) const {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() && !required) return fallback;
  return IntegerArg(value, (std::string("option ") + name).c_str(), min, max);
}

uint64_t Args::IntegerArg(const Napi::Value& value, const char* name, uint64_t min, uint64_t max) const {
  double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    Fail(std::string(name) + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max) + ", got " +
         Describe(value));
  }
  return static_cast<uint64_t>(d);
}

bool Args::Boolean(const Napi::Object& object, const char* name, bool fallback) const {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined()) return fallback;
  if (!value.IsBoolean()) Fail(std::string("option ") + name + " must be a boolean, got " + Describe(value));
  return value.As<Napi::Boolean>().Value();
}

uint32_t Args::RingBufferBytes(const Napi::Object& object, const char* name, uint32_t min, uint32_t fallback) const {
  uint64_t bytes = Integer(object, name, min, 1u << 30, false, fallback);
  if ((bytes & (bytes - 1)) != 0) {
    Fail(std::string("option ") + name + " must be a power of two >= " + std::to_string(min) + ", got " + std::to_string(bytes));
  }
  return static_cast<uint32_t>(bytes);
}

Napi::Function Args::Function(const Napi::Object& object, const char* name) const {
  Napi::Value value = object.Get(name);
  if (!value.IsFunction()) Fail(std::string("option ") + name + " must be a function, got " + Describe(value));
  return value.As<Napi::Function>();
}

Napi::BigUint64Array Args::AddressesArg(const Napi::Value& value, const char* name) const {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    Fail(std::string(name) + " must be a BigUint64Array, got " + Describe(value));
  }
  return value.As<Napi::BigUint64Array>();
}

uint64_t Args::BigIntArg(const Napi::Value& value, const std::string& name) const {
  if (!value.IsBigInt()) Fail(name + " must be a bigint, got " + Describe(value));
  bool lossless = false;
  uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) Fail(name + " must be a bigint in 0..2^64-1");
  return v;
}

}  // namespace tracefleet

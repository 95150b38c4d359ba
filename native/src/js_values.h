// Small conversions to JS values shared by the stream classes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "ring_buffer_object.h"

namespace tracefleet {

inline Napi::BigUint64Array Addresses(Napi::Env env, const std::vector<uint64_t>& frames) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, frames.size() * sizeof(uint64_t));
  if (!frames.empty()) std::memcpy(buffer.Data(), frames.data(), frames.size() * sizeof(uint64_t));
  return Napi::BigUint64Array::New(env, frames.size(), buffer, 0);
}

inline Napi::BigInt64Array SignedValues(Napi::Env env, const int64_t* values, size_t count) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, count * sizeof(int64_t));
  if (count > 0) std::memcpy(buffer.Data(), values, count * sizeof(int64_t));
  return Napi::BigInt64Array::New(env, count, buffer, 0);
}

// A ring buffer's fill as tracers' stats() give it: { sizeBytes, availBytes, peakBytes } (numbers: sizes < 2^32).
inline Napi::Object RingFillToJs(Napi::Env env, const RingFill& fill) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(fill.sizeBytes)));
  o.Set("availBytes", Napi::Number::New(env, static_cast<double>(fill.availBytes)));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(fill.peakBytes)));
  return o;
}

}  // namespace tracefleet

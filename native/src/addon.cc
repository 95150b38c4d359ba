// Module entry: the Profiler, Symbolizer, UsdtTracer, MemleakTracer, SyscountTracer, RunqlatTracer, BiolatencyTracer,
// TcpTracer, OffCpuTracer, OomkillTracer, ExecOpenTracer and SslTracer classes; layouts(), which lets the tests compare
// the record layouts and constants this addon was compiled with against the headers; functionOffsets(), where a
// function's uprobe goes in an ELF file; releaseMemory(), which
// hands the free pages of malloc's arenas back to the kernel; fixMallocThresholds(), which keeps them from piling up; and dwarfStructOffsets(), struct member offsets from an
// ELF file's DWARF.
#include <malloc.h>
#include <napi.h>

#include <cstddef>

#include "biolatency_tracer.h"
#include "dwarf_struct_offsets.h"
#include "file_checks_js.h"
#include "libbpf_log.h"
#include "memleak_tracer.h"
#include "profile_event.h"
#include "profiler.h"
#include "ssl_tracer.h"
#include "symbolizer.h"
#include "runqlat_tracer.h"
#include "tcp_tracer.h"
#include "oomkill_tracer.h"
#include "execopen_tracer.h"
#include "offcpu_tracer.h"
#include "syscount_tracer.h"
#include "unwinder.h"
#include "usdt_tracer.h"

namespace tracefleet {
namespace {

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(profile_event, field)))
  OFFSET(pid);
  OFFSET(tid);
  OFFSET(cpu);
  OFFSET(kernel_stack_bytes);
  OFFSET(user_stack_bytes);
  OFFSET(comm);
  OFFSET(py_frames_count);
  OFFSET(py_truncated);
  OFFSET(kernel_stack);
  OFFSET(user_stack);
  OFFSET(py_frames);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(profile_event)));
  layout.Set("offsets", offsets);
  layout.Set("PROFILE_COUNTER_SAMPLES", PROFILE_COUNTER_SAMPLES);
  layout.Set("PROFILE_COUNTER_DROPS", PROFILE_COUNTER_DROPS);
  layout.Set("PROFILE_COUNTER_MAX", PROFILE_COUNTER_MAX);
  return layout;
}

// struct py_proc, the layout of one Python process's interpreter that the agent writes (python.h).
Napi::Value PythonLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets.Set(#field, static_cast<uint32_t>(offsetof(py_proc, field)))
  OFFSET(interp_head);
  OFFSET(interp_threads);
  OFFSET(tstate_next);
  OFFSET(tstate_thread_id);
  OFFSET(tstate_frame);
  OFFSET(cframe_frame);
  OFFSET(frame_code);
  OFFSET(frame_previous);
  OFFSET(frame_flag);
  OFFSET(model);
  OFFSET(pad);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<uint32_t>(sizeof(py_proc)));
  layout.Set("offsets", offsets);
  layout.Set("TRACEFLEET_MAX_PY_FRAMES", TRACEFLEET_MAX_PY_FRAMES);
  layout.Set("PY_COUNTER_MAX", PY_COUNTER_MAX);
  return layout;
}

// Every record layout and constant this addon was compiled with, by probe, and the limits all share
// (packages/bpf/src/limits.h): what native/lib/layout.spec.ts compares with the headers.
Napi::Value Layouts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("TRACEFLEET_COMM_LEN", TRACEFLEET_COMM_LEN);
  limits.Set("TRACEFLEET_MAX_STACK_DEPTH", TRACEFLEET_MAX_STACK_DEPTH);
  limits.Set("TRACEFLEET_MAX_TARGET_PIDS", TRACEFLEET_MAX_TARGET_PIDS);
  Napi::Object all = Napi::Object::New(env);
  all.Set("limits", limits);
  all.Set("profile", Layout(info));
  all.Set("python", PythonLayout(info));
  all.Set("usdt", UsdtLayout(info));
  all.Set("memleak", MemleakLayout(info));
  all.Set("ssl", SslLayout(info));
  all.Set("syscount", SyscountLayout(info));
  all.Set("runqlat", RunqlatLayout(info));
  all.Set("biolatency", BiolatencyLayout(info));
  all.Set("tcp", TcpLayout(info));
  all.Set("oomkill", OomkillLayout(info));
  all.Set("execopen", ExecOpenLayout(info));
  all.Set("offcpu", OffCpuLayout(info));
  return all;
}

// glibc returns free heap memory to the kernel only from the top of an arena and only beyond a threshold that
// grows with the largest block freed (up to 64 MiB), so what a run's symbolizer, tables and batches freed can stay
// in RSS long after the run; malloc_trim(0) releases every free page of every arena. True when it released some.
Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0); }

// That growth is glibc's dynamic mmap threshold: a freed mmapped block raises it to the block's size (up to 32 MiB),
// and the trim threshold to twice that. After the first large temporary (an unwind table's rows, libbpf's copy of
// the kernel's BTF at load) every later one of that size comes from an arena, and its pages stay resident after
// free, during runs as well as after them. Fixing both thresholds (which turns the growth off) keeps blocks of
// 256 KiB and more in mappings of their own, unmapped by free, and trims an arena's top beyond 1 MiB. For a
// long-lived process whose big allocations are rare and short-lived (the agent); true when glibc took both.
Napi::Value FixMallocThresholds(const Napi::CallbackInfo& info) {
  bool mmapSet = mallopt(M_MMAP_THRESHOLD, 256 << 10) == 1;
  bool trimSet = mallopt(M_TRIM_THRESHOLD, 1 << 20) == 1;
  return Napi::Boolean::New(info.Env(), mmapSet && trimSet);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  exports.Set("Profiler", Profiler::Define(env));
  exports.Set("Symbolizer", Symbolizer::Define(env));
  exports.Set("UsdtTracer", UsdtTracer::Define(env));
  exports.Set("MemleakTracer", MemleakTracer::Define(env));
  exports.Set("SyscountTracer", SyscountTracer::Define(env));
  exports.Set("RunqlatTracer", RunqlatTracer::Define(env));
  exports.Set("BiolatencyTracer", BiolatencyTracer::Define(env));
  exports.Set("TcpTracer", TcpTracer::Define(env));
  exports.Set("OomkillTracer", OomkillTracer::Define(env));
  exports.Set("ExecOpenTracer", ExecOpenTracer::Define(env));
  exports.Set("OffCpuTracer", OffCpuTracer::Define(env));
  exports.Set("SslTracer", SslTracer::Define(env));
  exports.Set("layouts", Napi::Function::New(env, Layouts, "layouts"));
  exports.Set("functionOffsets", Napi::Function::New(env, FunctionOffsetsJs, "functionOffsets"));
  exports.Set("Unwinder", Unwinder::Define(env));
  exports.Set("dwarfStructOffsets", Napi::Function::New(env, DwarfStructOffsetsJs, "dwarfStructOffsets"));
  exports.Set("unwindTable", Napi::Function::New(env, UnwindTableJs, "unwindTable"));
  exports.Set("releaseMemory", Napi::Function::New(env, ReleaseMemory, "releaseMemory"));
  exports.Set("fixMallocThresholds", Napi::Function::New(env, FixMallocThresholds, "fixMallocThresholds"));
  exports.Set("safeOpenCheck", Napi::Function::New(env, SafeOpenCheckJs, "safeOpenCheck"));
  exports.Set("PerfMapReader", PerfMapReader::Define(env));
  return exports;
}

}  // namespace
}  // namespace tracefleet

static Napi::Object InitTracefleet(Napi::Env env, Napi::Object exports) { return tracefleet::Init(env, exports); }

NODE_API_MODULE(tracefleet_native, InitTracefleet)

/* Shared by profile.bpf.c and the native addon (native/src/profile_event.h).
 * Fixed-width fields only; native/lib/layout.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_PROFILE_H
#define TRACEFLEET_PROFILE_H

#include "limits.h"
#include "python/python.h"

/* Indices into the per-CPU "counters" array map. */
#define PROFILE_COUNTER_SAMPLES 0 /* passed the filter */
#define PROFILE_COUNTER_DROPS 1   /* ring buffer reserve failed */
#define PROFILE_COUNTER_MAX 2

struct profile_event {
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 cpu;
	/* bytes written by bpf_get_stack (multiple of 8), or a negative errno */
	__s32 kernel_stack_bytes;
	__s32 user_stack_bytes;
	char comm[TRACEFLEET_COMM_LEN];
	/* Python frames (python.h): their number, 0 for a process that is not a known Python
	 * process, or a PY_ERR_*; py_truncated: the chain went on past the last slot. */
	__s16 py_frames_count;
	__u16 py_truncated;
	__u64 kernel_stack[TRACEFLEET_MAX_STACK_DEPTH]; /* leaf first */
	__u64 user_stack[TRACEFLEET_MAX_STACK_DEPTH];   /* leaf first */
	__u64 py_frames[TRACEFLEET_MAX_PY_FRAMES];      /* innermost first: code object | PY_FRAME_ENTRY */
};

#endif /* TRACEFLEET_PROFILE_H */

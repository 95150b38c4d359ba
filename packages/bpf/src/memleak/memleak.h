/* Shared by memleak.bpf.c and the native addon (native/src/memleak_layout.h).
 * Fixed-width fields only; native/lib/memleak.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_MEMLEAK_H
#define TRACEFLEET_MEMLEAK_H

#include "limits.h"
#include "python/python.h"

#define MEMLEAK_DEFAULT_MAX_ALLOCS 1000000  /* live allocations; user space resizes before load */
#define MEMLEAK_STACK_MAP_ENTRIES 16384     /* distinct stacks kept for the whole run */
/* Stacks whose bucket in "stack_traces" holds another stack (its buckets are a hash of the frames:
 * at thousands of stacks two often share one) go to "stack_overflow", keyed by a 31-bit hash of the
 * frames from this id up, so ids of both maps fit stack_id and never overlap. */
#define MEMLEAK_OVERFLOW_ID_BASE 16777216 /* 1 << 24 */
#define MEMLEAK_OVERFLOW_ENTRIES 16384
/* Distinct Python stacks kept (user mode with python_enabled), by a 31-bit hash of their frame words. The map
 * allocates entries as stacks come (struct memleak_py_stack: 1,032 bytes each), so it costs what it holds. */
#define MEMLEAK_PY_STACK_ENTRIES 4096

/* Indices into the per-CPU "counters" array map. */
#define MEMLEAK_COUNTER_ALLOCS_SEEN 0    /* allocation calls of the target, not counting those made inside another (kernel mode: every one) */
#define MEMLEAK_COUNTER_ALLOCS_TRACED 1  /* of those, the ones the sampler picked */
#define MEMLEAK_COUNTER_FREES 2          /* free/munmap/kfree/... of a non-NULL address */
#define MEMLEAK_COUNTER_FREES_MATCHED 3  /* of those, the ones that removed a live allocation */
#define MEMLEAK_COUNTER_UNTRACKED 4      /* picked allocations a full map refused */
#define MEMLEAK_COUNTER_STACK_ERRORS 5   /* no stack kept: both stack maps full, or the walk failed */
#define MEMLEAK_COUNTER_BYTES_SEEN 6     /* bytes requested by allocations seen; the byte sampler's clock */
#define MEMLEAK_COUNTER_PY_STACK_ERRORS 7 /* Python frames read but not kept: py_stacks full */
#define MEMLEAK_COUNTER_MAX 8

/* Value of the "allocs" hash map, keyed by the address (__u64; a pfn for kernel pages). */
struct memleak_alloc {
	__u64 size;
	__u64 ts_ns;    /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	__s32 stack_id; /* key in "stack_traces", or (>= MEMLEAK_OVERFLOW_ID_BASE) in "stack_overflow", or a negative errno */
	__u32 py_stack_id; /* key in "py_stacks"; 0: no Python frames (not a Python thread, or not kept) */
};

/* Value of the "py_stacks" hash map: the Python frames of allocations made under them (python.h). */
struct memleak_py_stack {
	__s16 count;     /* frames (> 0), or a PY_ERR_* */
	__u16 truncated; /* the chain went on past the last slot */
	__u32 pad;
	__u64 frames[TRACEFLEET_MAX_PY_FRAMES]; /* innermost first: code object | PY_FRAME_ENTRY; zeros past count */
};

#endif /* TRACEFLEET_MEMLEAK_H */

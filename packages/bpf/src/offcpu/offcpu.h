/* Shared by offcpu.bpf.c and the native addon (native/src/offcpu_tracer.cc).
 * Fixed-width fields only; native/lib/offcpu.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_OFFCPU_H
#define TRACEFLEET_OFFCPU_H

#include "limits.h"

#define OFFCPU_DEFAULT_MAX_TASKS 10240  /* threads blocked at once (the start map) */
#define OFFCPU_DEFAULT_MAX_STACKS 16384 /* distinct (process, stacks) keys, user stacks, kernel stacks */
#define OFFCPU_DEFAULT_MIN_BLOCK_NS 1000 /* libbpf-tools offcputime's default: 1 us */

/* Indices into the per-CPU "counters" array map. */
#define OFFCPU_COUNTER_BLOCKS 0        /* blocks at least min_block_ns long, added to counts */
#define OFFCPU_COUNTER_SHORT 1         /* blocks shorter than min_block_ns: not counted */
#define OFFCPU_COUNTER_NO_START 2      /* switch-outs the full start map refused (max_tasks): not measured */
#define OFFCPU_COUNTER_NO_COUNT 3      /* blocks whose key found the counts map full: lost */
#define OFFCPU_COUNTER_NO_USER_STACK 4 /* switch-outs whose user stack found user_stacks full: kept without it */
#define OFFCPU_COUNTER_MAX 5

/* What a block is counted under: the thread's process, name and both stacks. */
struct offcpu_key {
	__u64 user_stack_id;    /* key into user_stacks (a hash of the frames, never 0); 0: none */
	__s32 user_stack_error; /* negative errno of the walk; 0 otherwise */
	__s32 kernel_stack_id;  /* id in kernel_stacks, or a negative errno (-EEXIST: bucket taken) */
	__u32 tgid;
	__u32 tid;    /* with on_cpu_sample_ns (the wall-clock view, per thread); 0 otherwise */
	char comm[TRACEFLEET_COMM_LEN];
	__u32 on_cpu; /* 1: on-CPU samples of the wall-clock view (on_cpu_sample_ns each); 0: blocked time */
	__u32 pad;
};

struct offcpu_value {
	__u64 total_ns; /* summed blocked time (on_cpu: samples × on_cpu_sample_ns) */
	__u64 blocks;   /* blocks summed (on_cpu: samples) */
};

/* A thread switched out while blocked: when, and what its block will be counted under. */
struct offcpu_start {
	__u64 ts_ns;
	struct offcpu_key key;
};

#endif /* TRACEFLEET_OFFCPU_H */

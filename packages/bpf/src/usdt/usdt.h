/* Shared by usdt.bpf.c and the native addon (native/src/usdt_event.h).
 * Fixed-width fields only; native/lib/layout.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_USDT_H
#define TRACEFLEET_USDT_H

#include "limits.h"
#include "python/python.h"

#define USDT_MAX_PROBES 64      /* probe indices (attach cookies) are 0..63 */
#define USDT_MAX_ARGS 12        /* libbpf's USDT_MAX_ARG_CNT */
#define USDT_STR_LEN 64         /* at most 63 bytes of string plus a NUL */
#define USDT_NO_ARG 0xff        /* str_arg: no string; str_len_arg: NUL-terminated */

/* Indices into the per-CPU "counters" array map (hits have their own map). */
#define USDT_COUNTER_OVER_BUDGET 0 /* hit after max_events events were taken */
#define USDT_COUNTER_DROPS 1       /* ring buffer reserve failed */
#define USDT_COUNTER_MAX 2

struct usdt_event {
	__u64 ts_ns; /* bpf_ktime_get_ns */
	__u32 probe; /* the attach cookie: the probe index user space chose */
	__u32 pid;   /* tgid */
	__u32 tid;
	__s32 argc;  /* bpf_usdt_arg_cnt, or a negative errno */
	__s64 args[USDT_MAX_ARGS]; /* the first min(argc, USDT_MAX_ARGS) are set, the rest 0 */
	/* bytes copied into str without the NUL, or a negative errno; 0 when the probe has no string */
	__s32 str_len;
	/* bytes written by bpf_get_stack (multiple of 8), a negative errno, or 0 without capture_stacks */
	__s32 user_stack_bytes;
	char str[USDT_STR_LEN]; /* NUL-terminated */
	__u64 user_stack[TRACEFLEET_MAX_STACK_DEPTH]; /* leaf first */
	/* With capture_stacks: Python frames (python.h), as in profile_event. */
	__s16 py_frames_count;
	__u16 py_truncated;
	__u32 pad;
	__u64 py_frames[TRACEFLEET_MAX_PY_FRAMES];
};

#endif /* TRACEFLEET_USDT_H */

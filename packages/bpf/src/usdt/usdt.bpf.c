// SPDX-License-Identifier: GPL-2.0
/* USDT tracer: one program attached to many probes; the attach cookie is the probe index
 * user space chose, so one object serves every probe of a job. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>
#include "usdt/usdt.h"
#include "common.bpf.h"
#include "target.bpf.h"
#include "ringbuf_wakeup.bpf.h"
#include "unwind/unwind.bpf.h"
#include "python/python.bpf.h"

_Static_assert((USDT_MAX_PROBES & (USDT_MAX_PROBES - 1)) == 0, "USDT_MAX_PROBES must be a power of two");
_Static_assert((USDT_STR_LEN & (USDT_STR_LEN - 1)) == 0, "USDT_STR_LEN must be a power of two");

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. target_tgid 0 = any process. Attached with pid -1, a USDT
 * probe fires in every process that maps the binary; user space attaches with the pid when
 * it has one, and this check keeps the counters to that process whatever the attachment. */
const volatile __u32 target_tgid = 0;
const volatile __u64 max_events = 0;
const volatile bool capture_stacks = false;
/* Per probe index: the argument holding a user pointer to a string (USDT_NO_ARG: none),
 * and the argument holding its length (USDT_NO_ARG: NUL-terminated). */
const volatile __u8 str_arg[USDT_MAX_PROBES] = {};
const volatile __u8 str_len_arg[USDT_MAX_PROBES] = {};

/* Events taken from the budget so far, across CPUs. */
__u64 events_taken = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, USDT_MAX_PROBES);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, USDT_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void read_string(struct pt_regs *ctx, struct usdt_event *event, __u32 probe)
{
	/* The caller checked the range, but clang may index with a copy the verifier never saw checked. */
	__u32 slot = probe & (USDT_MAX_PROBES - 1);
	__u8 ptr_arg = str_arg[slot], len_arg = str_len_arg[slot];
	long ptr = 0, len = 0;
	int err;

	event->str[0] = '\0';
	event->str_len = 0;
	if (ptr_arg == USDT_NO_ARG)
		return;
	err = bpf_usdt_arg(ctx, ptr_arg, &ptr);
	if (err) {
		event->str_len = err;
		return;
	}
	if (len_arg == USDT_NO_ARG) {
		err = bpf_probe_read_user_str(event->str, USDT_STR_LEN, (const void *)ptr);
		/* counts the NUL it copied */
		event->str_len = err > 0 ? err - 1 : err;
		return;
	}
	err = bpf_usdt_arg(ctx, len_arg, &len);
	if (err) {
		event->str_len = err;
		return;
	}
	if (len < 0)
		len = 0;
	if (len > USDT_STR_LEN - 1)
		len = USDT_STR_LEN - 1;
	len &= USDT_STR_LEN - 1; /* the verifier wants a visible bound */
	err = bpf_probe_read_user(event->str, len, (const void *)ptr);
	if (err) {
		event->str[0] = '\0';
		event->str_len = err;
		return;
	}
	event->str[len] = '\0';
	event->str_len = len;
}

SEC("usdt")
int usdt_hit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 probe = bpf_usdt_cookie(ctx);
	struct usdt_event *event;
	int argc;

	if (target_tgid && tgid != target_tgid)
		return 0;
	if (!target_admits(tgid))
		return 0;
	if (probe >= USDT_MAX_PROBES)
		return 0; /* user space never sets such a cookie */
	count(&hits, probe);

	if (__sync_fetch_and_add(&events_taken, 1) >= max_events) {
		count(&counters, USDT_COUNTER_OVER_BUDGET);
		return 0;
	}
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(&counters, USDT_COUNTER_DROPS);
		return 0;
	}
	event->ts_ns = bpf_ktime_get_ns();
	event->probe = probe;
	event->pid = tgid;
	event->tid = (__u32)id;
	argc = bpf_usdt_arg_cnt(ctx);
	event->argc = argc;
#pragma unroll
	for (int i = 0; i < USDT_MAX_ARGS; i++) {
		long value = 0;

		if (i < argc && bpf_usdt_arg(ctx, i, &value))
			value = 0;
		event->args[i] = value;
	}
	read_string(ctx, event, probe);
	event->py_truncated = 0;
	event->pad = 0;
	if (capture_stacks) {
		event->user_stack_bytes = unwind_user_stack(ctx, event->user_stack);
		event->py_frames_count = python_frames(tgid, (__u32)id, event->py_frames, &event->py_truncated);
	} else {
		event->user_stack_bytes = 0;
		event->py_frames_count = 0;
	}
	bpf_ringbuf_submit(event, ringbuf_wakeup_flags(&events));
	return 0;
}

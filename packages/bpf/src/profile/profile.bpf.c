// SPDX-License-Identifier: GPL-2.0
/* CPU profile: a perf_event program on the software CPU clock of every CPU
 * records the interrupted task with its kernel and user stacks. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "profile/profile.h"
#include "common.bpf.h"
#include "target.bpf.h"
#include "ringbuf_wakeup.bpf.h"
#include "unwind/unwind.bpf.h"
#include "python/python.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load; 0 / false means "no filter". */
const volatile __u32 target_tgid = 0;
const volatile bool filter_comm = false;
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};
const volatile bool include_idle = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("perf_event")
int profile(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;
	char comm[TRACEFLEET_COMM_LEN];
	struct profile_event *event;

	if (tid == 0 && !include_idle)
		return 0;
	if (target_tgid && tgid != target_tgid)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (filter_comm && !comm_equal(comm, target_comm))
		return 0;
	if (!target_admits(tgid))
		return 0;

	count(&counters, PROFILE_COUNTER_SAMPLES);
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(&counters, PROFILE_COUNTER_DROPS);
		return 0;
	}
	event->pid = tgid;
	event->tid = tid;
	event->cpu = bpf_get_smp_processor_id();
	__builtin_memcpy(event->comm, comm, sizeof(comm));
	event->py_truncated = 0;
	/* Interrupted in user mode (CS's privilege level 3): there is no kernel stack to walk, and
	 * bpf_get_stack would return 0 bytes after setting up a callchain entry for nothing. A
	 * whole-word load: the verifier refuses a narrower read of the context's registers. */
	if ((*(volatile __u64 *)&ctx->regs.cs & 3) == 3)
		event->kernel_stack_bytes = 0;
	else
		event->kernel_stack_bytes =
			bpf_get_stack(ctx, event->kernel_stack, sizeof(event->kernel_stack), 0);
	event->user_stack_bytes = unwind_user_stack(ctx, event->user_stack);
	event->py_frames_count = python_frames(tgid, tid, event->py_frames, &event->py_truncated);
	/* No wakeup per sample: at 999 Hz that was an irq_work in the sampled thread each time. */
	bpf_ringbuf_submit(event, ringbuf_wakeup_flags(&events));
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/* OOM kills (libbpf-tools oomkill, which needs a kprobe on oom_kill_process: none on this kernel) from the
 * oom:mark_victim tracepoint. The kernel marks the victim inside out_of_memory(), in the context of the task
 * whose allocation (or memory-cgroup charge) found no memory: current is the trigger. The tracepoint's record
 * carries the victim's pid, comm, uid, oom_score_adj and mm figures (KiB); each kill goes on the ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "ringbuf_wakeup.bpf.h"
#include "oomkill/oomkill.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. target_tgid 0: any victim; target_comm "": any. Both name the victim. */
const volatile __u32 target_tgid = 0;
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};
const volatile __u64 max_events = 0;

__u64 events_taken = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OOMKILL_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tracepoint/oom/mark_victim")
int on_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	char victim_comm[TRACEFLEET_COMM_LEN] = {};
	__u32 victim = ctx->pid;
	__u64 id = bpf_get_current_pid_tgid();
	struct oomkill_event *e;

	/* __data_loc: the low 16 bits are the string's offset in the record. */
	bpf_probe_read_kernel_str(victim_comm, sizeof(victim_comm), (void *)ctx + (ctx->__data_loc_comm & 0xffff));
	if (target_tgid && victim != target_tgid)
		return 0;
	if (target_comm[0] && !comm_equal(victim_comm, target_comm))
		return 0;
	/* The pid set (cgroup v1 targets) names the victim; a cgroup v2 target is checked on the trigger, which a
	 * memory-cgroup OOM finds in the same cgroup. */
	if (!target_admits(victim))
		return 0;
	count(&counters, OOMKILL_COUNTER_KILLS);
	if (__sync_fetch_and_add(&events_taken, 1) >= max_events) {
		count(&counters, OOMKILL_COUNTER_OVER_BUDGET);
		return 0;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(&counters, OOMKILL_COUNTER_DROPS);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->total_vm_kb = ctx->total_vm;
	e->anon_rss_kb = ctx->anon_rss;
	e->file_rss_kb = ctx->file_rss;
	e->shmem_rss_kb = ctx->shmem_rss;
	e->pgtables_kb = ctx->pgtables;
	e->victim_pid = victim;
	e->trigger_pid = id >> 32;
	e->trigger_tid = (__u32)id;
	e->uid = ctx->uid;
	e->oom_score_adj = ctx->oom_score_adj;
	e->pad = 0;
	e->pad2 = 0;
	__builtin_memcpy(e->victim_comm, victim_comm, sizeof(e->victim_comm));
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	bpf_ringbuf_submit(e, ringbuf_wakeup_flags(&events));
	return 0;
}

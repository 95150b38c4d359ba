// SPDX-License-Identifier: GPL-2.0
/* Scheduler run-queue latency (bcc/libbpf-tools runqlat): a thread's wakeup (sched_wakeup,
 * sched_wakeup_new) or preemption (sched_switch with prev still runnable) notes the time per thread; the
 * sched_switch that puts it on a CPU adds the wait to a log2 histogram of microseconds, one for the
 * whole target or one per cgroup. Nothing streams: user space reads the histograms. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "runqlat/runqlat.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0

/* Set by user space before load: one process (tgid), one histogram per cgroup. */
const volatile __u32 target_tgid = 0;
const volatile bool per_cgroup = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RUNQLAT_DEFAULT_MAX_TASKS);
	__type(key, __u32); /* tid */
	__type(value, __u64); /* ns, when it became runnable */
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RUNQLAT_MAX_HISTS);
	__type(key, struct runqlat_key);
	__type(value, struct runqlat_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RUNQLAT_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The wakee is not the current task, so target.bpf.h's current-task cgroup test does not apply: the
 * task's own default-hierarchy cgroup is read instead (cgroup->ancestors[] since Linux 6.0). */
static __always_inline struct cgroup *task_cgroup(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp);
}

static __always_inline bool task_admitted(struct task_struct *task, __u32 tgid)
{
	if (target_tgid && tgid != target_tgid)
		return false;
	if (filter_target_pids && !bpf_map_lookup_elem(&target_pids, &tgid))
		return false;
	if (target_cgroup_id) {
		struct cgroup *cgrp = task_cgroup(task);
		struct cgroup *anc;
		int level = BPF_CORE_READ(cgrp, level);

		if (level < (int)target_cgroup_level)
			return false;
		anc = BPF_CORE_READ(cgrp, ancestors[target_cgroup_level & 0xff]);
		if (BPF_CORE_READ(anc, kn, id) != target_cgroup_id)
			return false;
	}
	return true;
}

static __always_inline void enqueue(struct task_struct *task)
{
	__u32 tid = task->pid;
	__u64 ts;

	if (!tid)
		return;
	if (!task_admitted(task, task->tgid))
		return;
	ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &tid, &ts, BPF_ANY))
		count(&counters, RUNQLAT_COUNTER_NO_START);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct runqlat_key key = {};
	struct runqlat_hist *hist;
	__u64 *tsp, delta_us, slot;
	__u32 tid = next->pid;
	__s64 delta;

	/* Preempted while runnable: it waits on the run queue again from now. (__state: Linux 5.14+.) */
	if (prev->__state == TASK_RUNNING)
		enqueue(prev);
	tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return 0;
	delta = bpf_ktime_get_ns() - *tsp;
	bpf_map_delete_elem(&start, &tid);
	if (delta < 0)
		return 0;
	if (per_cgroup)
		key.cgroup_id = BPF_CORE_READ(task_cgroup(next), kn, id);
	hist = bpf_map_lookup_elem(&hists, &key);
	if (!hist) {
		static const struct runqlat_hist zero;

		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		hist = bpf_map_lookup_elem(&hists, &key);
		if (!hist) {
			count(&counters, RUNQLAT_COUNTER_NO_HIST);
			return 0;
		}
	}
	delta_us = (__u64)delta / 1000;
	slot = log2_u64(delta_us);
	if (slot >= RUNQLAT_SLOTS)
		slot = RUNQLAT_SLOTS - 1;
	__sync_fetch_and_add(&hist->slots[slot], 1);
	__sync_fetch_and_add(&hist->total_ns, (__u64)delta);
	count(&counters, RUNQLAT_COUNTER_LATENCIES);
	return 0;
}

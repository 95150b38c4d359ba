// SPDX-License-Identifier: GPL-2.0
/* Off-CPU time by stack (bcc/libbpf-tools offcputime): a thread that sched_switch puts off the CPU
 * while blocked (not preempted: its state is not TASK_RUNNING) has its user and kernel stacks taken
 * there, where it is still the current task; the sched_switch that puts it back on a CPU adds the time
 * in between (blocked, then waiting to run) to the counts of its (process, comm, stacks) key, if at
 * least min_block_ns. Nothing streams: user space reads counts and the two stack maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "unwind/unwind.bpf.h"
#include "offcpu/offcpu.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0
#define TASK_DEAD 0x80
#define PF_KTHREAD 0x00200000
#define OFFCPU_KERNEL_SKIP 2

/* Set by user space before load; 0 / false means "no filter". */
const volatile __u32 target_tgid = 0;
const volatile bool filter_comm = false;
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};
const volatile __u64 min_block_ns = OFFCPU_DEFAULT_MIN_BLOCK_NS;
const volatile bool take_kernel_stacks = true;
/* The wall-clock view: a perf_event program samples the target's threads on the CPU and counts each sample as
 * this many ns of on-CPU time, under the same keys with on_cpu set; keys then carry the tid. 0: off. */
const volatile __u64 on_cpu_sample_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OFFCPU_DEFAULT_MAX_TASKS); /* resized by user space before load */
	__type(key, __u32); /* tid */
	__type(value, struct offcpu_start);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OFFCPU_DEFAULT_MAX_STACKS);
	__type(key, struct offcpu_key);
	__type(value, struct offcpu_value);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Written once per distinct stack: no room kept for stacks never seen. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, OFFCPU_DEFAULT_MAX_STACKS);
	__type(key, __u64);
	__uint(value_size, TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64));
} user_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, OFFCPU_DEFAULT_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64));
} kernel_stacks SEC(".maps");

struct offcpu_scratch {
	__u64 frames[TRACEFLEET_MAX_STACK_DEPTH];
	struct offcpu_start start;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct offcpu_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OFFCPU_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The walked frames (n bytes, zeros after) under a 64-bit FNV-1a hash of them, never 0. */
static __always_inline __u64 store_user_stack(__u64 *frames, long n)
{
	__u64 hash = 0xcbf29ce484222325ULL;

	for (int i = 0; i < TRACEFLEET_MAX_STACK_DEPTH; i++) {
		if (i * sizeof(__u64) >= n)
			break;
		hash = (hash ^ frames[i]) * 0x100000001b3ULL;
	}
	hash |= 1;
	if (!bpf_map_lookup_elem(&user_stacks, &hash) && bpf_map_update_elem(&user_stacks, &hash, frames, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&user_stacks, &hash)) {
		count(&counters, OFFCPU_COUNTER_NO_USER_STACK);
		return 0;
	}
	return hash;
}

/* The current task's key in this CPU's scratch (stacks taken), or NULL when a filter refuses it. The target's
 * filters come before the walk: the walk is what costs. kernel_skip: frames of the tracing itself to leave out;
 * in_user: interrupted in user mode (no kernel stack to take). */
static __always_inline struct offcpu_scratch *take_key(void *ctx, __u32 tid, __u32 tgid, bool kthread, __u32 kernel_skip, bool in_user)
{
	__u32 zero = 0;
	struct offcpu_scratch *s;
	struct offcpu_key *key;
	long n;

	if (target_tgid && tgid != target_tgid)
		return NULL;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return NULL;
	key = &s->start.key;
	bpf_get_current_comm(key->comm, sizeof(key->comm));
	if (filter_comm && !comm_equal(key->comm, target_comm))
		return NULL;
	if (!target_admits(tgid))
		return NULL;
	key->tgid = tgid;
	key->tid = on_cpu_sample_ns ? tid : 0;
	key->on_cpu = 0;
	key->pad = 0;
	key->user_stack_id = 0;
	key->user_stack_error = 0;
	if (!kthread) {
		n = unwind_user_stack(ctx, s->frames);
		if (n < 0)
			key->user_stack_error = n;
		else if (n > 0)
			key->user_stack_id = store_user_stack(s->frames, n);
	}
	if (!take_kernel_stacks || in_user)
		key->kernel_stack_id = -2; /* ENOENT: not taken */
	else
		key->kernel_stack_id = bpf_get_stackid(ctx, &kernel_stacks, kernel_skip & BPF_F_SKIP_FIELD_MASK);
	return s;
}

/* Adds ns (one block, or one on-CPU sample) to key's counts. */
static __always_inline void add(struct offcpu_key *key, __u64 ns)
{
	struct offcpu_value *v, init;

	v = bpf_map_lookup_elem(&counts, key);
	if (!v) {
		init.total_ns = ns;
		init.blocks = 1;
		if (!bpf_map_update_elem(&counts, key, &init, BPF_NOEXIST))
			goto counted;
		v = bpf_map_lookup_elem(&counts, key);
		if (!v) {
			count(&counters, OFFCPU_COUNTER_NO_COUNT);
			return;
		}
	}
	__sync_fetch_and_add(&v->total_ns, ns);
	__sync_fetch_and_add(&v->blocks, 1);
counted:
	count(&counters, OFFCPU_COUNTER_BLOCKS);
}

/* prev goes off the CPU blocked: note when, and take its stacks now, while it is the current task. */
static __always_inline void switch_out(void *ctx, struct task_struct *prev)
{
	__u32 tid = prev->pid;
	unsigned int state = prev->__state; /* __state: Linux 5.14+ */
	struct offcpu_scratch *s;

	if (!tid || state == TASK_RUNNING || (state & TASK_DEAD))
		return;
	/* The walk starts in this program: its frame and bpf_trace_run4's are left out, so __schedule is the leaf. */
	s = take_key(ctx, tid, prev->tgid, prev->flags & PF_KTHREAD, OFFCPU_KERNEL_SKIP, false);
	if (!s)
		return;
	s->start.ts_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &tid, &s->start, BPF_ANY))
		count(&counters, OFFCPU_COUNTER_NO_START);
}

/* next comes back on a CPU: its block, if it had one noted, counts now. */
static __always_inline void switch_in(struct task_struct *next)
{
	__u32 tid = next->pid;
	struct offcpu_start *st = bpf_map_lookup_elem(&start, &tid);
	__s64 delta;

	if (!st)
		return;
	delta = bpf_ktime_get_ns() - st->ts_ns;
	if (delta < 0 || (__u64)delta < min_block_ns)
		count(&counters, OFFCPU_COUNTER_SHORT);
	else
		add(&st->key, (__u64)delta);
	bpf_map_delete_elem(&start, &tid);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	switch_out(ctx, prev);
	switch_in(next);
	return 0;
}

/* The wall-clock view's on-CPU half: the software CPU clock of every CPU samples the running target thread. */
SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct offcpu_scratch *s;
	bool in_user;

	if ((__u32)id == 0 || !on_cpu_sample_ns)
		return 0;
	task = bpf_get_current_task_btf();
	/* A whole-word load: the verifier refuses a narrower read of the context's registers. */
	in_user = (*(volatile __u64 *)&ctx->regs.cs & 3) == 3;
	s = take_key(ctx, (__u32)id, id >> 32, task->flags & PF_KTHREAD, 0, in_user);
	if (!s)
		return 0;
	s->start.key.on_cpu = 1;
	add(&s->start.key, on_cpu_sample_ns);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/* Syscall counts per process: one tracepoint, raw_syscalls:sys_enter, adds one to the
 * (process, syscall) pair in a hash map that user space reads and sums. Nothing streams. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "syscount/syscount.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load: one process, or every process with this comm, or (neither) all. */
const volatile __u32 target_tgid = 0;
const volatile bool filter_comm = false;
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSCOUNT_DEFAULT_MAX_KEYS);
	__type(key, struct syscount_key);
	__type(value, struct syscount_value);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCOUNT_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct syscount_key key = { .tgid = id >> 32 };
	struct syscount_value fresh = { .count = 1 };
	struct syscount_value *value;
	long nr = ctx->id;

	if (nr < 0) /* not a syscall: a ptrace'd task's cancelled call */
		return 0;
	if (target_tgid && key.tgid != target_tgid)
		return 0;
	bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	if (filter_comm && !comm_equal(fresh.comm, target_comm))
		return 0;
	if (!target_admits(key.tgid))
		return 0;
	key.nr = nr;
	count(&counters, SYSCOUNT_COUNTER_CALLS);
	value = bpf_map_lookup_elem(&counts, &key);
	if (value) {
		__sync_fetch_and_add(&value->count, 1);
		return 0;
	}
	/* Two CPUs may insert the same new pair at once: the loser's NOEXIST insert fails with
	 * EEXIST and it adds its one to the winner's entry, so no call is lost. */
	if (bpf_map_update_elem(&counts, &key, &fresh, BPF_NOEXIST) == 0)
		return 0;
	value = bpf_map_lookup_elem(&counts, &key);
	if (value)
		__sync_fetch_and_add(&value->count, 1);
	else
		count(&counters, SYSCOUNT_COUNTER_UNCOUNTED);
	return 0;
}

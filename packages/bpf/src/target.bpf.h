/* A job's target, checked in the kernel: a cgroup v2 subtree, and a set of processes the agent keeps
 * (where there is no cgroup v2 to go by: docker on cgroup v1, where the agent rescans /proc). Include
 * after vmlinux.h and bpf_helpers.h, and call target_admits() where the program applies its own pid and
 * comm filters: a task must pass those and every target filter set here. Both are off by default.
 *
 * A program that offers only the cgroup filter (ssl keeps its own pid map, memleak's user mode follows
 * one process) defines TRACEFLEET_TARGET_CGROUP_ONLY before including this, and then has no
 * target_pids map to create. */
#ifndef TRACEFLEET_TARGET_BPF_H
#define TRACEFLEET_TARGET_BPF_H

#include "limits.h"

/* The cgroup's id (its directory's inode number on a cgroup2 mount) and its depth below the root
 * cgroup (the root is 0). target_cgroup_id 0: no cgroup filter. */
const volatile __u64 target_cgroup_id = 0;
const volatile __u32 target_cgroup_level = 0;

#ifndef TRACEFLEET_TARGET_CGROUP_ONLY
/* Set: only processes whose tgid is in target_pids pass. */
const volatile bool filter_target_pids = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Filled as the agent finds processes; user space also shrinks it to one entry when unused, so
	 * an unfiltered run does not pay for the bucket array. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TRACEFLEET_MAX_TARGET_PIDS);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} target_pids SEC(".maps");
#endif

/* The current task's ancestor at the target's depth is the target itself for a task in it or in any
 * cgroup below it (a container's own sub-cgroups), and 0 for a task less deep: one helper call,
 * whatever the depth. The helper looks at the cgroup v2 hierarchy, which exists even when nothing
 * mounts it (every task then sits in its root). */
static __always_inline bool target_cgroup_admits(void)
{
	if (!target_cgroup_id)
		return true;
	return bpf_get_current_ancestor_cgroup_id(target_cgroup_level) == target_cgroup_id;
}

/* Whether the current task (of process tgid) is part of the job's target. */
static __always_inline bool target_admits(__u32 tgid)
{
#ifndef TRACEFLEET_TARGET_CGROUP_ONLY
	if (filter_target_pids && !bpf_map_lookup_elem(&target_pids, &tgid))
		return false;
#endif
	return target_cgroup_admits();
}

#endif /* TRACEFLEET_TARGET_BPF_H */

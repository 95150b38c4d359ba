/* Small helpers shared by the BPF programs. */
#ifndef TRACEFLEET_COMMON_BPF_H
#define TRACEFLEET_COMMON_BPF_H

#include "limits.h"

/* Adds one to this CPU's slot `index` of a per-CPU array of __u64 counters. */
static __always_inline void count(void *counters, __u32 index)
{
	__u64 *value = bpf_map_lookup_elem(counters, &index);

	if (value)
		*value += 1;
}

/* Exact comm match: equal up to and including the first NUL (a 15-character name has none). */
static __always_inline bool comm_equal(const char *comm, const volatile char *target)
{
#pragma unroll
	for (int i = 0; i < TRACEFLEET_COMM_LEN; i++) {
		if (comm[i] != target[i])
			return false;
		if (comm[i] == '\0')
			return true;
	}
	return true;
}

#endif /* TRACEFLEET_COMMON_BPF_H */

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

/* floor(log2(v)), 0 for 0 and 1: the slot of a log2 histogram (runqlat, biolatency, tcp). BPF has no
 * count-leading-zeros instruction, so five compare-and-shift steps (as libbpf-tools' bits.bpf.h). */
static __always_inline __u64 log2_u64(__u64 v)
{
	__u64 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffff) << 4; v >>= shift; r |= shift;
	shift = (v > 0xff) << 3; v >>= shift; r |= shift;
	shift = (v > 0xf) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

#endif /* TRACEFLEET_COMMON_BPF_H */

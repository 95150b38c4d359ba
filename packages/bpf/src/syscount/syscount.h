/* Shared by syscount.bpf.c and the native addon (native/src/syscount_tracer.cc).
 * Fixed-width fields only; native/lib/syscount.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_SYSCOUNT_H
#define TRACEFLEET_SYSCOUNT_H

#include "limits.h"

#define SYSCOUNT_DEFAULT_MAX_KEYS 16384 /* (process, syscall) pairs; user space resizes before load */

/* Indices into the per-CPU "counters" array map. */
#define SYSCOUNT_COUNTER_CALLS 0     /* syscalls of the target counted */
#define SYSCOUNT_COUNTER_UNCOUNTED 1 /* syscalls of the target whose (process, syscall) pair a full map refused */
#define SYSCOUNT_COUNTER_MAX 2

/* Key of the "counts" hash map. */
struct syscount_key {
	__u32 tgid;
	__u32 nr; /* the syscall number (x86-64 table) */
};

/* Value of the "counts" hash map. */
struct syscount_value {
	__u64 count;
	char comm[TRACEFLEET_COMM_LEN]; /* the process's comm when the pair was first seen */
};

#endif /* TRACEFLEET_SYSCOUNT_H */

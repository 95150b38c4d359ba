/* Shared by runqlat.bpf.c and the native addon (native/src/runqlat_tracer.cc).
 * Fixed-width fields only; native/lib/runqlat.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_RUNQLAT_H
#define TRACEFLEET_RUNQLAT_H

#define RUNQLAT_SLOTS 27               /* log2 microsecond slots, as bcc's runqlat (26) plus one for >= 2^26 us */
#define RUNQLAT_DEFAULT_MAX_TASKS 10240 /* threads waiting on a run queue at once; user space resizes before load */
#define RUNQLAT_MAX_HISTS 1024          /* histograms: one per cgroup with perCgroup, else one */

/* Indices into the per-CPU "counters" array map. */
#define RUNQLAT_COUNTER_LATENCIES 0 /* run-queue waits measured and put in a histogram */
#define RUNQLAT_COUNTER_NO_START 1  /* enqueues of the target the full "start" map refused: their wait is not measured */
#define RUNQLAT_COUNTER_NO_HIST 2   /* waits measured whose cgroup found the "hists" map full */
#define RUNQLAT_COUNTER_MAX 3

/* Key of the "hists" hash map: the cgroup v2 id of the task that waited (perCgroup), else 0. */
struct runqlat_key {
	__u64 cgroup_id;
};

/* Value of the "hists" hash map: slot i counts waits of [2^i, 2^(i+1)) us (slot 0 also < 1 us). */
struct runqlat_hist {
	__u64 slots[RUNQLAT_SLOTS];
	__u64 total_ns; /* the waits' sum */
};

#endif /* TRACEFLEET_RUNQLAT_H */

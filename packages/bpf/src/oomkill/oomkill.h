/* Shared by oomkill.bpf.c and the native addon (native/src/oomkill_session.cc).
 * Fixed-width fields only; native/lib/oomkill.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_OOMKILL_H
#define TRACEFLEET_OOMKILL_H

#include "limits.h"

/* Indices into the per-CPU "counters" array map. */
#define OOMKILL_COUNTER_KILLS 0       /* victims marked that passed the filters */
#define OOMKILL_COUNTER_OVER_BUDGET 1 /* kills past max_events: counted, not streamed */
#define OOMKILL_COUNTER_DROPS 2       /* ring buffer reserve failed */
#define OOMKILL_COUNTER_MAX 3

/* One OOM kill (oom:mark_victim). Memory figures are the tracepoint's, in KiB. */
struct oomkill_event {
	__u64 ts_ns;          /* bpf_ktime_get_ns */
	__u64 total_vm_kb;    /* the victim's mm: total_vm */
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u64 pgtables_kb;
	__u32 victim_pid;     /* the task the kernel chose (its thread id; the thread group leader in practice) */
	__u32 trigger_pid;    /* tgid of the task running when the victim was marked: the one whose allocation hit the OOM */
	__u32 trigger_tid;
	__u32 uid;            /* the victim's uid */
	__s16 oom_score_adj;  /* the victim's */
	__u16 pad;
	__u32 pad2;
	char victim_comm[TRACEFLEET_COMM_LEN];
	char trigger_comm[TRACEFLEET_COMM_LEN];
};

#endif /* TRACEFLEET_OOMKILL_H */

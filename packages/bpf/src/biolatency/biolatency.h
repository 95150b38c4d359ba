/* Shared by biolatency.bpf.c and the native addon (native/src/biolatency_tracer.cc).
 * Fixed-width fields only; native/lib/biolatency.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_BIOLATENCY_H
#define TRACEFLEET_BIOLATENCY_H

#include "limits.h"

#define BIOLAT_LAT_SLOTS 27                /* log2 microsecond slots (bcc's biolatency), the last also >= 2^26 us */
#define BIOLAT_SIZE_SLOTS 24               /* log2 KiB slots (bcc's bitesize), the last also >= 2^23 KiB */
#define BIOLAT_DEFAULT_MAX_REQUESTS 10240  /* requests in flight at once; user space resizes before load */
#define BIOLAT_DEFAULT_MAX_HISTS 4096      /* perProcess: (disk, process) histograms; user space resizes before load */
#define BIOLAT_DEFAULT_MAX_DISKS 128       /* per disk: histograms of the per-CPU "disk_hists" map (one per CPU each) */

/* Indices into the per-CPU "counters" array map. */
#define BIOLAT_COUNTER_IOS 0        /* requests measured and put in a histogram */
#define BIOLAT_COUNTER_START_FULL 1 /* inserts/issues the full "start" map refused: not measured */
#define BIOLAT_COUNTER_NO_START 2   /* completions without a start (issued before attach, or refused) */
#define BIOLAT_COUNTER_NO_HIST 3    /* requests measured whose key found the "hists" map full */
#define BIOLAT_COUNTER_MAX 4

/* Value of the "start" hash map (key: the struct request pointer). */
struct biolat_start {
	__u64 ts;    /* ns, at insert (queued) or issue */
	__u64 bytes; /* the request's length at issue (rq->__data_len) */
	__u32 tgid;  /* the task current at insert/issue (perProcess), else 0 */
	char comm[TRACEFLEET_COMM_LEN];
	__u32 pad;
};

/* Key of the "hists" hash map: the disk (the whole disk's dev_t, MKDEV of the kernel: major << 20 | minor) and,
 * perProcess, the process current when the request was inserted/issued (a kworker when it issued it). */
struct biolat_key {
	__u32 dev;
	__u32 tgid;
	char comm[TRACEFLEET_COMM_LEN];
};

/* Value of the "hists" hash map (perProcess) and, one per CPU, of the "disk_hists" per-CPU hash map (per disk). lat: slot i counts [2^i, 2^(i+1)) us (slot 0 also < 1 us); size: slot i counts
 * [2^i, 2^(i+1)) KiB (slot 0 also < 1 KiB). */
struct biolat_hist {
	__u64 lat[BIOLAT_LAT_SLOTS];
	__u64 size[BIOLAT_SIZE_SLOTS];
	__u64 total_ns;
	__u64 total_bytes;
};

#endif /* TRACEFLEET_BIOLATENCY_H */

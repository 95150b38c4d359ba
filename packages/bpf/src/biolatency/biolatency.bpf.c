// SPDX-License-Identifier: GPL-2.0
/* Block I/O latency and size (bcc/libbpf-tools biolatency and bitesize in one): block_rq_issue (or, queued,
 * block_rq_insert first) notes the time, the request's length and the current process per request; block_rq_complete
 * adds the latency (log2 us) and the size (log2 KiB) to the histograms of the request's disk and, perProcess, of that
 * process. Nothing streams: user space reads the histograms. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "biolatency/biolatency.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile __u32 target_tgid = 0;   /* one process (at insert/issue) */
const volatile __u32 target_dev = 0;    /* one disk (kernel dev_t), 0: every disk */
const volatile bool per_process = false;
const volatile bool queued = false;     /* from block_rq_insert (queue + device time), else from issue */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BIOLAT_DEFAULT_MAX_REQUESTS);
	__type(key, __u64); /* struct request * */
	__type(value, struct biolat_start);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BIOLAT_DEFAULT_MAX_HISTS);
	__type(key, struct biolat_key);
	__type(value, struct biolat_hist);
} hists SEC(".maps");

/* Per disk (not perProcess): one histogram per CPU, so a completion adds without atomic instructions; user space
 * sums the CPUs. perProcess keeps far more keys: one shared histogram each, added to atomically. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, BIOLAT_DEFAULT_MAX_DISKS);
	__type(key, struct biolat_key);
	__type(value, struct biolat_hist);
} disk_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BIOLAT_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The request's whole disk as a kernel dev_t (libbpf-tools' biolatency -D does the same). tp_btf arguments are
 * BTF-typed kernel pointers: plain loads (CO-RE relocated, fault-checked by the kernel) instead of a
 * bpf_probe_read_kernel call per field, which is most of what a request costs here. */
static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk = rq->q->disk;

	if (!disk)
		return 0;
	return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

static __always_inline void rq_start(struct request *rq, bool issue)
{
	__u64 key = (__u64)rq;
	struct biolat_start *seen, s = {};
	__u32 tgid = 0;

	if (issue && queued) {
		/* Inserted while traced: the start is there already, only the length is taken now. */
		seen = bpf_map_lookup_elem(&start, &key);
		if (seen) {
			seen->bytes = rq->__data_len;
			return;
		}
	}
	if (target_dev && rq_dev(rq) != target_dev)
		return;
	if (target_tgid || filter_target_pids || per_process)
		tgid = bpf_get_current_pid_tgid() >> 32;
	if (target_tgid && tgid != target_tgid)
		return;
	if (!target_admits(tgid))
		return;
	s.ts = bpf_ktime_get_ns();
	s.bytes = rq->__data_len;
	if (per_process) {
		s.tgid = tgid;
		bpf_get_current_comm(s.comm, sizeof(s.comm));
	}
	if (bpf_map_update_elem(&start, &key, &s, BPF_ANY))
		count(&counters, BIOLAT_COUNTER_START_FULL);
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(on_insert, struct request *rq)
{
	if (queued)
		rq_start(rq, false);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_issue, struct request *rq)
{
	rq_start(rq, true);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 rqkey = (__u64)rq;
	struct biolat_start *s;
	struct biolat_key key = {};
	struct biolat_hist *hist;
	__u64 lat, size;
	__s64 delta;
	void *map;

	s = bpf_map_lookup_elem(&start, &rqkey);
	if (!s) {
		count(&counters, BIOLAT_COUNTER_NO_START);
		return 0;
	}
	delta = bpf_ktime_get_ns() - s->ts;
	key.dev = rq_dev(rq);
	if (per_process) {
		key.tgid = s->tgid;
		__builtin_memcpy(key.comm, s->comm, sizeof(key.comm));
	}
	map = per_process ? (void *)&hists : (void *)&disk_hists;
	hist = bpf_map_lookup_elem(map, &key);
	if (!hist) {
		static const struct biolat_hist zero;

		bpf_map_update_elem(map, &key, &zero, BPF_NOEXIST);
		hist = bpf_map_lookup_elem(map, &key);
		if (!hist) {
			count(&counters, BIOLAT_COUNTER_NO_HIST);
			bpf_map_delete_elem(&start, &rqkey);
			return 0;
		}
	}
	if (delta < 0)
		delta = 0;
	lat = log2_u64((__u64)delta / 1000);
	if (lat >= BIOLAT_LAT_SLOTS)
		lat = BIOLAT_LAT_SLOTS - 1;
	size = log2_u64(s->bytes / 1024);
	if (size >= BIOLAT_SIZE_SLOTS)
		size = BIOLAT_SIZE_SLOTS - 1;
	if (per_process) {
		__sync_fetch_and_add(&hist->lat[lat], 1);
		__sync_fetch_and_add(&hist->size[size], 1);
		__sync_fetch_and_add(&hist->total_ns, (__u64)delta);
		__sync_fetch_and_add(&hist->total_bytes, s->bytes);
	} else {
		/* This CPU's own copy: no other writer (a tp_btf program does not nest on its CPU). */
		hist->lat[lat] += 1;
		hist->size[size] += 1;
		hist->total_ns += (__u64)delta;
		hist->total_bytes += s->bytes;
	}
	bpf_map_delete_elem(&start, &rqkey);
	count(&counters, BIOLAT_COUNTER_IOS);
	return 0;
}

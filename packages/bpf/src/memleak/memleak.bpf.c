// SPDX-License-Identifier: GPL-2.0
/* Outstanding allocations with their stacks. User mode: uprobes on one process's libc allocator
 * (entry probes note the size, return probes record the address). Kernel mode: the kmem and
 * percpu tracepoints. Either way a free removes the address from the live map, so what stays
 * there, grouped by stack, is what was allocated and not yet freed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "memleak/memleak.h"
#include "memleak/core_fixes.bpf.h"
/* The job's cgroup only: user mode follows one process, kernel mode takes no pid set. */
#define TRACEFLEET_TARGET_CGROUP_ONLY
#include "target.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile __u32 target_tgid = 0;  /* user mode: the process (its uprobes are attached for it too) */
const volatile bool kernel_mode = false;
const volatile __u64 sample_every = 1; /* pick every Nth allocation seen on a CPU; 1 = all */
const volatile __u64 sample_bytes = 0; /* pick the allocation that makes a CPU's byte count cross a multiple of this; 0 = off */
const volatile __u64 page_size = 4096;
const volatile __u64 possible_cpus = 1;
const volatile __u32 stack_bytes = TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64); /* the stack maps' value size */

/* Which allocation call a thread is in. Its return probe takes only its own note, and a call of
 * another allocation function made inside it (glibc's malloc mmapping a big block, realloc(NULL, n)
 * calling malloc) is left to the outer call, which records the address the caller gets with the
 * caller's stack: the inner call's stack would start in libc, whose frames frame pointers cannot walk. */
enum alloc_fn {
	FN_MALLOC = 1,
	FN_CALLOC,
	FN_REALLOC,
	FN_REALLOCARRAY,
	FN_POSIX_MEMALIGN,
	FN_ALIGNED_ALLOC,
	FN_MEMALIGN,
	FN_VALLOC,
	FN_PVALLOC,
	FN_MMAP,
};

struct pending_alloc {
	__u64 size;
	__u64 memptr; /* posix_memalign's void **memptr */
	__u32 fn;
	__u32 picked; /* the sampler chose this call */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMLEAK_DEFAULT_MAX_ALLOCS); /* resized by user space before load */
	__type(key, __u64);
	__type(value, struct memleak_alloc);
} allocs SEC(".maps");

/* Per thread: what an entry probe hands to the return probe of the same call (fn 0: no call under
 * way). Task-local storage rather than a hash by tid: the slot is found from the task itself and is
 * cleared, not deleted, so a call costs no hash update and delete. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending_alloc);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MEMLEAK_STACK_MAP_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64)); /* resized to the asked depth before load */
} stack_traces SEC(".maps");

/* Stacks that collided in stack_traces, by MEMLEAK_OVERFLOW_ID_BASE + 31-bit hash of the frames. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMLEAK_OVERFLOW_ENTRIES);
	__type(key, __u32);
	__uint(value_size, TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64)); /* resized like stack_traces */
} stack_overflow SEC(".maps");

struct stack_buf {
	__u64 ips[TRACEFLEET_MAX_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_buf);
} stack_scratch SEC(".maps");

/* All counters of a CPU in one value, found with one lookup per probe hit. */
struct counters {
	__u64 n[MEMLEAK_COUNTER_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

static __always_inline struct counters *cpu_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void count(struct counters *c, __u32 index, __u64 n)
{
	if (c && index < MEMLEAK_COUNTER_MAX)
		c->n[index] += n;
}

/* Counts the allocation and says whether to trace it. Both samplers run on per-CPU clocks, so
 * which allocation is picked depends on where threads run, but the rate holds per CPU: every
 * Nth call, or one call per sample_bytes bytes (an allocation of sample_bytes or more is always
 * picked, so big leaks are never missed). */
static __always_inline bool sample(struct counters *c, __u64 size)
{
	__u64 seen, bytes;
	bool picked;

	if (!c)
		return true;
	seen = ++c->n[MEMLEAK_COUNTER_ALLOCS_SEEN];
	bytes = c->n[MEMLEAK_COUNTER_BYTES_SEEN] += size;
	if (sample_bytes)
		picked = (bytes - size) / sample_bytes != bytes / sample_bytes;
	else
		picked = sample_every <= 1 || seen % sample_every == 0;
	if (picked)
		c->n[MEMLEAK_COUNTER_ALLOCS_TRACED]++;
	return picked;
}

#include "memleak/stacks.bpf.h"
#include "memleak/python.bpf.h"

static __always_inline void record(void *ctx, __u64 addr, __u64 size, __u64 stack_flags, int where)
{
	struct memleak_alloc info = {};
	long stack_id = memleak_stack_id(ctx, stack_flags, where);

	if (stack_id < 0)
		count(cpu_counters(), MEMLEAK_COUNTER_STACK_ERRORS, 1);
	info.size = size;
	info.ts_ns = bpf_ktime_get_ns();
	info.stack_id = stack_id;
	info.py_stack_id = memleak_py_stack_id();
	if (bpf_map_update_elem(&allocs, &addr, &info, BPF_ANY))
		count(cpu_counters(), MEMLEAK_COUNTER_UNTRACKED, 1);
}

static __always_inline void forget(__u64 addr)
{
	struct counters *c = cpu_counters();

	count(c, MEMLEAK_COUNTER_FREES, 1);
	if (bpf_map_delete_elem(&allocs, &addr) == 0)
		count(c, MEMLEAK_COUNTER_FREES_MATCHED, 1);
}

static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline bool is_target(void)
{
	return current_tgid() == target_tgid;
}

#include "memleak/user.bpf.h"

/* ---- kernel mode ---- */

/* Only allocations are checked against the job's target: what the target allocated may be freed by
 * any task (a kworker, an RCU callback), and a free of an address never recorded costs one lookup. */
static __always_inline int kernel_alloc(void *ctx, __u64 addr, __u64 size)
{
	if (!kernel_mode || !target_admits(current_tgid()) || !sample(cpu_counters(), size))
		return 0;
	record(ctx, addr, size, 0, MEMLEAK_AT_CALL);
	return 0;
}

static __always_inline int kernel_free(__u64 addr)
{
	if (kernel_mode)
		forget(addr);
	return 0;
}

/* kfree(NULL) and kfree(ZERO_SIZE_PTR) are traced too, and free nothing. */
static __always_inline bool is_object(__u64 ptr)
{
	return ptr > 16;
}

SEC("tracepoint/kmem/kmalloc")
int tp_kmalloc(void *ctx)
{
	__u64 ptr = 0, bytes = 0;

	read_kmalloc(ctx, &ptr, &bytes);
	return is_object(ptr) ? kernel_alloc(ctx, ptr, bytes) : 0;
}

SEC("tracepoint/kmem/kfree")
int tp_kfree(void *ctx)
{
	__u64 ptr = read_kfree_ptr(ctx);

	return is_object(ptr) ? kernel_free(ptr) : 0;
}

SEC("tracepoint/kmem/kmem_cache_alloc")
int tp_kmem_cache_alloc(void *ctx)
{
	__u64 ptr = 0, bytes = 0;

	read_kmem_cache_alloc(ctx, &ptr, &bytes);
	return is_object(ptr) ? kernel_alloc(ctx, ptr, bytes) : 0;
}

SEC("tracepoint/kmem/kmem_cache_free")
int tp_kmem_cache_free(void *ctx)
{
	__u64 ptr = read_kmem_cache_free_ptr(ctx);

	return is_object(ptr) ? kernel_free(ptr) : 0;
}

/* Pages are keyed by pfn: far below any kernel virtual address, so they never meet a slab object. */
SEC("tracepoint/kmem/mm_page_alloc")
int tp_mm_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	__u64 pfn = BPF_CORE_READ(ctx, pfn);
	__u32 order = BPF_CORE_READ(ctx, order);

	if (pfn == (__u64)-1) /* the allocation failed */
		return 0;
	return kernel_alloc(ctx, pfn, page_size << (order & 31));
}

SEC("tracepoint/kmem/mm_page_free")
int tp_mm_page_free(struct trace_event_raw_mm_page_free *ctx)
{
	return kernel_free(BPF_CORE_READ(ctx, pfn));
}

SEC("tracepoint/percpu/percpu_alloc_percpu")
int tp_percpu_alloc_percpu(void *ctx)
{
	__u64 ptr = 0, bytes = 0;

	read_percpu_alloc(ctx, &ptr, &bytes, possible_cpus);
	return ptr ? kernel_alloc(ctx, ptr, bytes) : 0;
}

SEC("tracepoint/percpu/percpu_free_percpu")
int tp_percpu_free_percpu(struct trace_event_raw_percpu_free_percpu *ctx)
{
	__u64 ptr = (__u64)BPF_CORE_READ(ctx, ptr);

	return ptr ? kernel_free(ptr) : 0;
}

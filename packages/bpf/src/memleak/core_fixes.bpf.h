/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel drift of the kmem and percpu tracepoints memleak.bpf.c reads. Each helper reads the
 * layout the running kernel has, chosen at load time by CO-RE; the ___x/___o flavors carry only
 * the fields used, so libbpf matches them by name against the kernel's BTF.
 *
 * Checked on 6.18 (the fleet kernel): trace_event_raw_kmalloc {call_site, ptr, bytes_req,
 * bytes_alloc, gfp_flags, node}, trace_event_raw_kmem_cache_alloc {call_site, ptr, name,
 * bytes_req, bytes_alloc, gfp_flags, node, accounted}, trace_event_raw_kfree and
 * trace_event_raw_kmem_cache_free {call_site, ptr, ...}, mm_page_alloc/free {pfn, order},
 * percpu_alloc_percpu {..., size, ..., ptr, bytes_alloc, gfp_flags}: every field read here
 * exists under its name, so 6.18 needs no fix of its own; the fallbacks serve older kernels. */
#ifndef TRACEFLEET_MEMLEAK_CORE_FIXES_BPF_H
#define TRACEFLEET_MEMLEAK_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* commit 2c1d697fb8ba ("mm/slab_common: drop kmem_alloc & avoid dereferencing fields when not
 * using") split the kmem_alloc event class: kmalloc and kmem_cache_alloc used to share
 * trace_event_raw_kmem_alloc; now each has its own struct, and kmem_cache_alloc's gained a
 * __data_loc name before bytes_req, so the offsets moved. */
struct trace_event_raw_kmem_alloc___o {
	const void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmalloc___x {
	const void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmem_cache_alloc___x {
	const void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

static __always_inline bool has_kmem_alloc_class(void)
{
	return bpf_core_type_exists(struct trace_event_raw_kmem_alloc___o);
}

static __always_inline void read_kmalloc(void *ctx, __u64 *ptr, __u64 *bytes)
{
	if (has_kmem_alloc_class()) {
		struct trace_event_raw_kmem_alloc___o *args = ctx;

		*ptr = (__u64)BPF_CORE_READ(args, ptr);
		*bytes = BPF_CORE_READ(args, bytes_alloc);
	} else {
		struct trace_event_raw_kmalloc___x *args = ctx;

		*ptr = (__u64)BPF_CORE_READ(args, ptr);
		*bytes = BPF_CORE_READ(args, bytes_alloc);
	}
}

static __always_inline void read_kmem_cache_alloc(void *ctx, __u64 *ptr, __u64 *bytes)
{
	if (has_kmem_alloc_class()) {
		struct trace_event_raw_kmem_alloc___o *args = ctx;

		*ptr = (__u64)BPF_CORE_READ(args, ptr);
		*bytes = BPF_CORE_READ(args, bytes_alloc);
	} else {
		struct trace_event_raw_kmem_cache_alloc___x *args = ctx;

		*ptr = (__u64)BPF_CORE_READ(args, ptr);
		*bytes = BPF_CORE_READ(args, bytes_alloc);
	}
}

/* commit 3544de8ee6e4 ("mm, tracing: record slab name for kmem_cache_free()") replaced
 * the shared trace_event_raw_kmem_free with trace_event_raw_kfree and
 * trace_event_raw_kmem_cache_free. */
struct trace_event_raw_kmem_free___o {
	const void *ptr;
} __attribute__((preserve_access_index));

struct trace_event_raw_kfree___x {
	const void *ptr;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmem_cache_free___x {
	const void *ptr;
} __attribute__((preserve_access_index));

static __always_inline __u64 read_kfree_ptr(void *ctx)
{
	if (bpf_core_type_exists(struct trace_event_raw_kfree___x))
		return (__u64)BPF_CORE_READ((struct trace_event_raw_kfree___x *)ctx, ptr);
	return (__u64)BPF_CORE_READ((struct trace_event_raw_kmem_free___o *)ctx, ptr);
}

static __always_inline __u64 read_kmem_cache_free_ptr(void *ctx)
{
	if (bpf_core_type_exists(struct trace_event_raw_kmem_cache_free___x))
		return (__u64)BPF_CORE_READ((struct trace_event_raw_kmem_cache_free___x *)ctx, ptr);
	return (__u64)BPF_CORE_READ((struct trace_event_raw_kmem_free___o *)ctx, ptr);
}

/* "percpu: improve percpu_alloc_percpu event trace" (Vasily Averin, 2022) added call_site,
 * bytes_alloc (size on every possible CPU) and gfp_flags. Before it only the per-CPU size is
 * there, so the caller multiplies by the number of possible CPUs. */
struct trace_event_raw_percpu_alloc_percpu___x {
	size_t size;
	void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

static __always_inline void read_percpu_alloc(void *ctx, __u64 *ptr, __u64 *bytes, __u64 possible_cpus)
{
	struct trace_event_raw_percpu_alloc_percpu___x *args = ctx;

	*ptr = (__u64)BPF_CORE_READ(args, ptr);
	if (bpf_core_field_exists(args->bytes_alloc))
		*bytes = BPF_CORE_READ(args, bytes_alloc);
	else
		*bytes = BPF_CORE_READ(args, size) * possible_cpus;
}

#endif /* TRACEFLEET_MEMLEAK_CORE_FIXES_BPF_H */

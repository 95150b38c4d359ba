/* Stack ids of memleak.bpf.c: frame-pointer stacks through the kernel's stack map (and a hash map
 * for those whose bucket is taken), or, with the agent's unwind tables, stacks walked by
 * unwind.bpf.h and kept in the hash map. Included by memleak.bpf.c after its maps. */
#ifndef TRACEFLEET_MEMLEAK_STACKS_BPF_H
#define TRACEFLEET_MEMLEAK_STACKS_BPF_H

#include "unwind/unwind.bpf.h"

/* Keeps buf's frames (n bytes walked, zeros after) in stack_overflow under a 31-bit FNV-1a hash. */
static __always_inline long store_by_hash(struct stack_buf *buf, long n)
{
	__u32 size = stack_bytes;
	__u64 hash = 0xcbf29ce484222325ULL;
	__u32 id;

	if (n <= 0)
		return n < 0 ? n : -1;
	if (size > sizeof(buf->ips))
		size = sizeof(buf->ips);
	for (int i = 0; i < TRACEFLEET_MAX_STACK_DEPTH; i++) {
		if (i * sizeof(__u64) >= size)
			break;
		hash = (hash ^ buf->ips[i]) * 0x100000001b3ULL;
	}
	id = MEMLEAK_OVERFLOW_ID_BASE + (__u32)(hash % (0x7fffffffU - MEMLEAK_OVERFLOW_ID_BASE));
	if (!bpf_map_lookup_elem(&stack_overflow, &id) && bpf_map_update_elem(&stack_overflow, &id, buf->ips, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&stack_overflow, &id))
		return -1; /* full */
	return id;
}

/* The stack's bucket in stack_traces holds another stack: keep this one by hash
 * (bpf_get_stack zero-fills past the walked depth). */
static __always_inline long overflow_stack_id(void *ctx, __u64 stack_flags)
{
	__u32 zero = 0;
	struct stack_buf *buf = bpf_map_lookup_elem(&stack_scratch, &zero);
	__u32 size = stack_bytes;

	if (!buf)
		return -1;
	if (size > sizeof(buf->ips))
		size = sizeof(buf->ips);
	return store_by_hash(buf, bpf_get_stack(ctx, buf->ips, size, stack_flags));
}

/* Where a user stack is taken: MEMLEAK_AT_CALL, an entry probe or a uretprobe (the registers as the
 * call site has them); MEMLEAK_AT_RET, a probe on a ret instruction (malloc_return): the stack as the
 * ret leaves it, the caller first (unwind_user_stack_at); MEMLEAK_INSIDE, an emulated instruction
 * inside the allocator's frame (malloc_return on a site of return-cover.ts): walked with the agent's
 * unwind tables from there, the allocator's own frame dropped, so the caller comes first as well.
 * Stacks walked here are kept by hash, as stack_traces would key them by a frame-pointer walk. */
#define MEMLEAK_AT_CALL 0
#define MEMLEAK_AT_RET 1
#define MEMLEAK_INSIDE 2

static __always_inline long memleak_stack_id(void *ctx, __u64 stack_flags, int where)
{
	__u32 zero = 0;
	struct stack_buf *buf;
	long stack_id, n;

	if ((unwind_enabled || where != MEMLEAK_AT_CALL) && !kernel_mode) {
		/* stack_traces is keyed by frame-pointer walks only: unwound stacks go by hash. */
		buf = bpf_map_lookup_elem(&stack_scratch, &zero);
		if (!buf)
			return -1;
		n = unwind_user_stack_from(ctx, buf->ips, where == MEMLEAK_AT_RET, where == MEMLEAK_INSIDE);
		return store_by_hash(buf, n);
	}
	stack_id = bpf_get_stackid(ctx, &stack_traces, stack_flags);
	if (stack_id == -17 /* EEXIST: the bucket holds another stack */)
		stack_id = overflow_stack_id(ctx, stack_flags);
	return stack_id;
}

#endif /* TRACEFLEET_MEMLEAK_STACKS_BPF_H */

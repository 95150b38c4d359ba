/* Python frames of memleak.bpf.c's allocations (user mode). An allocation lives on in the allocs map long
 * after its call returned, so its Python frames are read at the call (python.bpf.h) and kept once per distinct
 * chain in py_stacks, under a 31-bit FNV-1a hash of the frame words: an allocation keeps only the 4-byte id
 * (memleak_alloc.py_stack_id), as it keeps its native stack's id. Two chains with one hash share the first
 * one's frames, as colliding native stacks do in stack_overflow. Included by memleak.bpf.c after its
 * counters. */
#ifndef TRACEFLEET_MEMLEAK_PYTHON_BPF_H
#define TRACEFLEET_MEMLEAK_PYTHON_BPF_H

#include "python/python.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* entries as chains come: a run pays for the chains it meets */
	__uint(max_entries, MEMLEAK_PY_STACK_ENTRIES);
	__type(key, __u32);
	__type(value, struct memleak_py_stack);
} py_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct memleak_py_stack);
} py_stack_scratch SEC(".maps");

/* The py_stacks id of the calling thread's Python frames, or 0 (none: not a Python thread, or python off). */
static __always_inline __u32 memleak_py_stack_id(void)
{
	__u64 id = bpf_get_current_pid_tgid(), hash = 0xcbf29ce484222325ULL;
	__u32 zero = 0, key;
	struct memleak_py_stack *s;
	__s32 n;

	if (!python_enabled || kernel_mode)
		return 0;
	s = bpf_map_lookup_elem(&py_stack_scratch, &zero);
	if (!s)
		return 0;
	s->truncated = 0;
	n = python_frames(id >> 32, (__u32)id, s->frames, &s->truncated);
	if (n == 0)
		return 0; /* not a Python process */
	s->count = n;
	if (n < 0)
		n = 0; /* an error chain: kept by its status alone, so the agent can say why there are no frames */
	hash = (hash ^ (__u64)(__u16)s->count) * 0x100000001b3ULL;
	hash = (hash ^ s->truncated) * 0x100000001b3ULL;
	for (int i = 0; i < TRACEFLEET_MAX_PY_FRAMES; i++) {
		if (i >= n)
			s->frames[i] = 0; /* the slots past the chain hold an earlier walk's words: not part of this one */
		else
			hash = (hash ^ s->frames[i]) * 0x100000001b3ULL;
	}
	key = 1 + (__u32)(hash % 0x7ffffffeULL);
	if (!bpf_map_lookup_elem(&py_stacks, &key) && bpf_map_update_elem(&py_stacks, &key, s, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&py_stacks, &key)) {
		count(cpu_counters(), MEMLEAK_COUNTER_PY_STACK_ERRORS, 1);
		return 0;
	}
	return key;
}

#endif /* TRACEFLEET_MEMLEAK_PYTHON_BPF_H */

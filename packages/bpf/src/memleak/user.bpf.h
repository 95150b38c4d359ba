/* memleak.bpf.c's user-mode programs: uprobes on the C library's allocation functions (an entry
 * probe noting the call, a return probe recording what it allocated) and its frees. Included once,
 * by memleak.bpf.c, after the maps and helpers they use. */
#ifndef TRACEFLEET_MEMLEAK_USER_BPF_H
#define TRACEFLEET_MEMLEAK_USER_BPF_H

/* ---- user mode ---- */

/* Notes the call for its return probe; false when the call is not to be accounted for: another
 * process, or nested in another allocation call. Every call gets a note, picked or not, so that
 * calls nested in an unpicked one are recognised too. User space attaches each return probe before
 * its entry probe, so a note always has a return to take it; a note of the same function can only
 * be stale (or from the same function nested in itself) and is replaced. */
static __always_inline bool alloc_enter(enum alloc_fn fn, __u64 size, __u64 memptr)
{
	struct pending_alloc *note;

	if (!is_target() || !target_admits(target_tgid))
		return false;
	note = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!note) {
		/* no slot for this thread (out of memory): the call cannot be followed to its return */
		struct counters *c = cpu_counters();

		if (sample(c, size))
			count(c, MEMLEAK_COUNTER_UNTRACKED, 1);
		return true;
	}
	if (note->fn && note->fn != fn)
		return false;
	note->size = size;
	note->memptr = memptr;
	note->fn = fn;
	note->picked = sample(cpu_counters(), size);
	return true;
}

static __always_inline int alloc_exit(struct pt_regs *ctx, enum alloc_fn fn)
{
	__u64 ret = PT_REGS_RC(ctx), addr = ret, size, memptr;
	struct pending_alloc *note;
	__u32 picked;

	if (!is_target())
		return 0;
	note = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
	if (!note || note->fn != fn)
		return 0;
	size = note->size;
	memptr = note->memptr;
	picked = note->picked;
	note->fn = 0;
	if (!picked)
		return 0;
	if (fn == FN_POSIX_MEMALIGN) {
		if ((int)ret != 0) /* an errno: nothing was allocated */
			return 0;
		if (bpf_probe_read_user(&addr, sizeof(addr), (const void *)memptr))
			return 0;
	}
	if (addr == 0 || (fn == FN_MMAP && addr == (__u64)-1))
		return 0;
	record(ctx, addr, size, BPF_F_USER_STACK, MEMLEAK_AT_CALL);
	return 0;
}

static __always_inline int user_free(__u64 addr)
{
	if (!addr || !is_target())
		return 0;
	forget(addr);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, size_t size)
{
	alloc_enter(FN_MALLOC, size, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(malloc_exit)
{
	return alloc_exit(ctx, FN_MALLOC);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, size_t nmemb, size_t size)
{
	alloc_enter(FN_CALLOC, (__u64)nmemb * size, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(calloc_exit)
{
	return alloc_exit(ctx, FN_CALLOC);
}

/* realloc = free(old) + malloc(new). The old block goes at entry, while the caller still owns
 * it: once realloc has freed it another thread may be handed the same address. A failed
 * realloc leaves the old block allocated but untracked (a missed leak, never a false one). */
SEC("uprobe")
int BPF_KPROBE(realloc_enter, void *ptr, size_t size)
{
	if (alloc_enter(FN_REALLOC, size, 0))
		user_free((__u64)ptr);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(realloc_exit)
{
	return alloc_exit(ctx, FN_REALLOC);
}

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, void *ptr, size_t nmemb, size_t size)
{
	if (alloc_enter(FN_REALLOCARRAY, (__u64)nmemb * size, 0))
		user_free((__u64)ptr);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(reallocarray_exit)
{
	return alloc_exit(ctx, FN_REALLOCARRAY);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, void **memptr, size_t alignment, size_t size)
{
	alloc_enter(FN_POSIX_MEMALIGN, size, (__u64)memptr);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(posix_memalign_exit)
{
	return alloc_exit(ctx, FN_POSIX_MEMALIGN);
}

SEC("uprobe")
int BPF_KPROBE(aligned_alloc_enter, size_t alignment, size_t size)
{
	alloc_enter(FN_ALIGNED_ALLOC, size, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(aligned_alloc_exit)
{
	return alloc_exit(ctx, FN_ALIGNED_ALLOC);
}

SEC("uprobe")
int BPF_KPROBE(memalign_enter, size_t alignment, size_t size)
{
	alloc_enter(FN_MEMALIGN, size, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(memalign_exit)
{
	return alloc_exit(ctx, FN_MEMALIGN);
}

SEC("uprobe")
int BPF_KPROBE(valloc_enter, size_t size)
{
	alloc_enter(FN_VALLOC, size, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(valloc_exit)
{
	return alloc_exit(ctx, FN_VALLOC);
}

SEC("uprobe")
int BPF_KPROBE(pvalloc_enter, size_t size)
{
	/* pvalloc rounds up to whole pages */
	alloc_enter(FN_PVALLOC, (size + page_size - 1) / page_size * page_size, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(pvalloc_exit)
{
	return alloc_exit(ctx, FN_PVALLOC);
}

/* PROT_NONE mappings reserve address space (glibc reserves thread arenas and stack guards that way)
 * and hold no memory: they are left out. */
SEC("uprobe")
int BPF_KPROBE(mmap_enter, void *addr, size_t length, int prot)
{
	if (prot == 0)
		return 0;
	alloc_enter(FN_MMAP, length, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(mmap_exit)
{
	return alloc_exit(ctx, FN_MMAP);
}

/* May be attached past free's first instruction (user space picks a site the kernel emulates
 * rather than single-steps): only %rdi is read, and it holds the pointer there too. */
SEC("uprobe")
int BPF_KPROBE(free_enter, void *ptr)
{
	return user_free((__u64)ptr);
}

SEC("uprobe")
int BPF_KPROBE(munmap_enter, void *addr)
{
	return user_free((__u64)addr);
}

/* Chunk header of glibc's malloc: the size field sits just below the pointer; its low 3 bits are
 * flags, bit 1 marks a chunk mmap()ed on its own. */
#define MEMLEAK_CHUNK_FLAGS 7ULL
#define MEMLEAK_CHUNK_MMAPPED 2ULL

/* malloc with a plain uprobe on each of its return sites and no entry probe: one trap per call
 * instead of two. A site is a ret instruction (cookie 0) or an emulated instruction inside malloc's
 * frame after which %rax is final (cookie 1: return-cover.ts; the stack is walked with the agent's
 * unwind tables, malloc's own frame dropped). The size is not known there, so it is read from the chunk header: the usable size
 * (what malloc_usable_size says), which is the request rounded up to the chunk granule, 8 to 23 bytes
 * more (a page more at most for a chunk mmap()ed on its own). A malloc inside another traced
 * allocation call (realloc(NULL, n) enters malloc's code) is that call's and is not recorded twice. */
SEC("uprobe")
int malloc_return(struct pt_regs *ctx)
{
	__u64 addr = PT_REGS_RC(ctx), head = 0, size;
	struct pending_alloc *note;

	if (!addr || !is_target() || !target_admits(target_tgid))
		return 0;
	note = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
	if (note && note->fn)
		return 0;
	if (bpf_probe_read_user(&head, sizeof(head), (const void *)(addr - 8))) {
		count(cpu_counters(), MEMLEAK_COUNTER_UNTRACKED, 1);
		return 0;
	}
	if ((head & ~MEMLEAK_CHUNK_FLAGS) < 32) { /* no glibc chunk is smaller: not its malloc's memory */
		count(cpu_counters(), MEMLEAK_COUNTER_UNTRACKED, 1);
		return 0;
	}
	size = (head & ~MEMLEAK_CHUNK_FLAGS) - (head & MEMLEAK_CHUNK_MMAPPED ? 16 : 8);
	if (!sample(cpu_counters(), size))
		return 0;
	record(ctx, addr, size, BPF_F_USER_STACK, bpf_get_attach_cookie(ctx) ? MEMLEAK_INSIDE : MEMLEAK_AT_RET);
	return 0;
}

#endif /* TRACEFLEET_MEMLEAK_USER_BPF_H */

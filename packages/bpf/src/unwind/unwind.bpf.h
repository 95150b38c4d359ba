/* User-stack unwinding with .eh_frame/.debug_frame tables, for every program that takes user
 * stacks (profile, memleak, usdt, ssl). Include after vmlinux.h and bpf_helpers.h.
 *
 * The agent builds one table of rows (unwind.h) per ELF file and loads it into its own array map,
 * put into "unwind_tables" under a table id; "unwind_procs" holds each process's executable mappings
 * with the table id and bias of each. These two and "unwind_misses" are created once by the agent
 * and shared by every loaded object (bpf_map__reuse_fd); an object loaded without them has
 * unwind_enabled false and walks frame pointers with bpf_get_stack as before. */
#ifndef TRACEFLEET_UNWIND_BPF_H
#define TRACEFLEET_UNWIND_BPF_H

#include <bpf/bpf_tracing.h> /* PT_REGS_SP */
#include <bpf/bpf_core_read.h>
#include "limits.h"
#include "unwind/unwind.h"

const volatile bool unwind_enabled = false;

struct unwind_table_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	/* Tables differ in size (BPF_F_INNER_MAP) and are filled through mmap (BPF_F_MMAPABLE). */
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	/* Sizes, not types: clang leaves a type used only here as a forward declaration in BTF. */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct unwind_row));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 1); /* the agent's shared map replaces it (UNWIND_MAX_TABLES) */
	__type(key, __u32);
	__array(values, struct unwind_table_map);
} unwind_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1); /* the agent's shared map replaces it (UNWIND_MAX_PROCS) */
	__type(key, __u32);
	__type(value, struct unwind_proc);
} unwind_procs SEC(".maps");

/* Processes whose samples met a pc in no known mapping (or that are not known at all): the agent
 * reads their maps again. Value: misses since the agent last looked. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* the agent's shared map replaces it (UNWIND_MAX_MISSES) */
	__type(key, __u32);
	__type(value, __u64);
} unwind_misses SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNWIND_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} unwind_counters SEC(".maps");

struct tf_unwind_state {
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u32 tgid;
	__u32 depth;
	__u8 exact_pc; /* pc is where execution is (the leaf, or the interrupted frame of a signal), not a return address */
	__u8 bp_known;
	__u8 pad[6];
	__u64 frames[TRACEFLEET_MAX_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tf_unwind_state);
} unwind_scratch SEC(".maps");

/* Rows found lately, per CPU, by (table id, file address): a sampled loop meets the same return addresses
 * sample after sample, and a hit skips the table's binary search (up to 24 map lookups through bpf_loop).
 * A table id is never reused within an Unwinder and a table never changes once loaded, so a hit is always
 * that file's row, even after the table was evicted. Direct-mapped: a slot holds the last pc hashed to it. */
#define UNWIND_ROW_CACHE_SLOTS 1024 /* a power of two */

struct unwind_cached_row {
	__u64 vaddr;
	__u32 table_id; /* 0: empty (ids start at 1) */
	__u32 pad;
	struct unwind_row row;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNWIND_ROW_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct unwind_cached_row);
} unwind_row_cache SEC(".maps");

static __always_inline __u32 unwind_row_slot(__u32 table_id, __u64 vaddr)
{
	__u64 h = (vaddr ^ ((__u64)table_id << 40)) * 0x9E3779B97F4A7C15ull;

	return (__u32)(h >> 32) & (UNWIND_ROW_CACHE_SLOTS - 1);
}

static __always_inline void unwind_count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&unwind_counters, &index);

	if (value)
		*value += 1;
}

static __always_inline void unwind_miss(__u32 tgid)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&unwind_misses, &tgid);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&unwind_misses, &tgid, &one, BPF_NOEXIST);
}

struct unwind_mapping_search {
	struct unwind_proc *proc;
	__u64 pc;
	__u32 lo;
	__u32 hi;
};

static long unwind_mapping_step(__u32 index, void *ctx)
{
	struct unwind_mapping_search *c = ctx;
	__u32 mid;

	if (c->lo >= c->hi)
		return 1;
	mid = ((c->lo + c->hi) / 2) & (UNWIND_MAX_MAPPINGS - 1);
	if (c->pc < c->proc->mappings[mid].start)
		c->hi = mid;
	else
		c->lo = mid + 1;
	return 0;
}

/* The mapping holding pc, or NULL. */
static __always_inline struct unwind_mapping *unwind_find_mapping(struct unwind_proc *proc, __u64 pc)
{
	struct unwind_mapping_search c = { .proc = proc, .pc = pc, .lo = 0, .hi = proc->count };
	struct unwind_mapping *m;
	__u32 at;

	if (c.hi > UNWIND_MAX_MAPPINGS)
		c.hi = UNWIND_MAX_MAPPINGS;
	bpf_loop(10, unwind_mapping_step, &c, 0); /* 2^9 > UNWIND_MAX_MAPPINGS */
	if (c.lo == 0)
		return NULL;
	at = (c.lo - 1) & (UNWIND_MAX_MAPPINGS - 1);
	m = &proc->mappings[at];
	return pc < m->end ? m : NULL;
}

/* A binary search as a bpf_loop: the verifier checks one step, not every path through 24 of them. */
struct unwind_search {
	void *table;
	__u64 vaddr;
	__u32 lo;
	__u32 hi;
	__u32 failed;
};

static long unwind_search_step(__u32 index, void *ctx)
{
	struct unwind_search *c = ctx;
	struct unwind_row *row;
	__u32 mid;

	if (c->lo >= c->hi)
		return 1;
	mid = (c->lo + c->hi) / 2;
	row = bpf_map_lookup_elem(c->table, &mid);
	if (!row) {
		c->failed = 1;
		return 1;
	}
	if (c->vaddr < row->pc)
		c->hi = mid;
	else
		c->lo = mid + 1;
	return 0;
}

/* The last row whose pc <= vaddr, or NULL. */
static __always_inline struct unwind_row *unwind_find_row(void *table, __u32 rows, __u64 vaddr)
{
	struct unwind_search c = { .table = table, .vaddr = vaddr, .lo = 0, .hi = rows, .failed = 0 };
	__u32 at;

	bpf_loop(UNWIND_SEARCH_STEPS + 1, unwind_search_step, &c, 0);
	if (c.failed || c.lo == 0)
		return NULL;
	at = c.lo - 1;
	return bpf_map_lookup_elem(table, &at);
}

/* Ends the walk: returns 1 so bpf_loop stops. */
static __always_inline long unwind_stop(__u32 counter)
{
	unwind_count(counter);
	return 1;
}

static __always_inline long unwind_fp_step(struct tf_unwind_state *s)
{
	__u64 saved[2]; /* [rbp] = caller's rbp, [rbp + 8] = return address */

	if (!s->bp_known || s->bp <= s->sp)
		return unwind_stop(UNWIND_CUT_INVALID);
	if (bpf_probe_read_user(saved, sizeof(saved), (void *)s->bp))
		return unwind_stop(UNWIND_CUT_READ_FAULT);
	unwind_count(UNWIND_FRAMES_FP);
	s->sp = s->bp + 16;
	s->bp = saved[0];
	s->pc = saved[1];
	s->exact_pc = 0;
	return 0;
}

static __always_inline long unwind_table_step(struct tf_unwind_state *s, struct unwind_row *row, __u64 pc)
{
	__u64 cfa, ra, bp = s->bp;
	__u8 bp_known = s->bp_known;

	switch (row->cfa_rule) {
	case UNWIND_CFA_RSP:
		cfa = s->sp + (__s64)row->cfa_offset;
		break;
	case UNWIND_CFA_RBP:
		if (!s->bp_known)
			return unwind_stop(UNWIND_CUT_INVALID);
		cfa = s->bp + (__s64)row->cfa_offset;
		break;
	case UNWIND_CFA_PLT:
		cfa = s->sp + 8 + ((pc & 15) >= (__u64)row->cfa_offset ? 8 : 0);
		break;
	case UNWIND_CFA_SIGNAL: {
		/* The kernel's rt_sigframe: the handler returned into __restore_rt, so rsp is at the ucontext. */
		__u64 regs[2]; /* saved rsp, rip */

		if (bpf_probe_read_user(regs, sizeof(regs), (void *)(s->sp + (__s64)row->cfa_offset)) ||
		    bpf_probe_read_user(&bp, sizeof(bp), (void *)(s->sp + (__s64)row->rbp_offset)))
			return unwind_stop(UNWIND_CUT_READ_FAULT);
		unwind_count(UNWIND_FRAMES_TABLE);
		s->sp = regs[0];
		s->pc = regs[1];
		s->bp = bp;
		s->bp_known = 1;
		s->exact_pc = 1; /* the interrupted instruction itself */
		return 0;
	}
	case UNWIND_CFA_END:
		return unwind_stop(UNWIND_STACKS_COMPLETE);
	case UNWIND_CFA_EXPRESSION:
		return unwind_stop(UNWIND_CUT_EXPRESSION);
	default:
		return unwind_stop(UNWIND_CUT_NO_ROW);
	}
	if (cfa <= s->sp)
		return unwind_stop(UNWIND_CUT_INVALID);
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
		return unwind_stop(UNWIND_CUT_READ_FAULT);
	if (row->rbp_rule == UNWIND_RBP_OFFSET) {
		if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + (__s64)row->rbp_offset)))
			return unwind_stop(UNWIND_CUT_READ_FAULT);
		bp_known = 1;
	} else if (row->rbp_rule == UNWIND_RBP_UNDEFINED) {
		bp_known = 0;
	}
	unwind_count(UNWIND_FRAMES_TABLE);
	s->sp = cfa;
	s->bp = bp;
	s->bp_known = bp_known;
	s->pc = ra;
	s->exact_pc = 0;
	return 0;
}

/* One frame: record pc, then find the caller's pc, sp and rbp. Returns 1 to stop. */
static long unwind_step(__u32 index, void *ctx)
{
	__u32 zero = 0;
	struct tf_unwind_state *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	struct unwind_proc *proc;
	struct unwind_mapping *m;
	struct unwind_row *row;
	struct unwind_cached_row *cached;
	void *table;
	__u64 pc;
	__u32 depth, slot;

	if (!s)
		return 1;
	if (s->pc == 0)
		return unwind_stop(UNWIND_STACKS_COMPLETE);
	depth = s->depth;
	if (depth >= TRACEFLEET_MAX_STACK_DEPTH)
		return unwind_stop(UNWIND_CUT_DEPTH);
	s->frames[depth] = s->pc;
	s->depth = depth + 1;

	proc = bpf_map_lookup_elem(&unwind_procs, &s->tgid);
	if (!proc) {
		unwind_miss(s->tgid);
		return unwind_stop(UNWIND_PENDING);
	}
	/* A return address points after the call: look up the call itself. */
	pc = s->exact_pc ? s->pc : s->pc - 1;
	m = unwind_find_mapping(proc, pc);
	if (!m) {
		unwind_miss(s->tgid);
		return unwind_stop(UNWIND_CUT_NO_MAPPING);
	}
	if (m->kind == UNWIND_KIND_FP)
		return unwind_fp_step(s);
	if (m->kind == UNWIND_KIND_PENDING)
		return unwind_stop(UNWIND_PENDING);
	if (m->kind != UNWIND_KIND_TABLE)
		return unwind_stop(UNWIND_CUT_NO_MAPPING);
	pc -= m->bias;
	slot = unwind_row_slot(m->table_id, pc);
	cached = bpf_map_lookup_elem(&unwind_row_cache, &slot);
	if (cached && cached->table_id == m->table_id && cached->vaddr == pc)
		return unwind_table_step(s, &cached->row, pc);
	table = bpf_map_lookup_elem(&unwind_tables, &m->table_id);
	if (!table) {
		/* Evicted since the entry was written: the agent rewrites the entry on a miss. */
		unwind_miss(s->tgid);
		return unwind_stop(UNWIND_PENDING);
	}
	row = unwind_find_row(table, m->rows, pc);
	if (!row)
		return unwind_stop(UNWIND_CUT_NO_ROW);
	if (cached) {
		cached->vaddr = pc;
		cached->table_id = m->table_id;
		cached->row = *row;
	}
	return unwind_table_step(s, row, pc);
}

/* The current task's user stack, leaf first, into dst (TRACEFLEET_MAX_STACK_DEPTH slots): bytes written
 * (a multiple of 8) or a negative errno, like bpf_get_stack(ctx, dst, size, BPF_F_USER_STACK).
 * at_ret: the probe sits on a ret instruction; the stack is taken as the ret leaves it (the caller's
 * pc popped from the stack, the leaf the caller), as a uretprobe would see it. drop_leaf (with the
 * tables only): the probe sits inside a function's frame; the walk starts there and that function's
 * frame is left out, so the caller comes first too. */
static __always_inline long unwind_user_stack_from(void *ctx, __u64 *dst, bool at_ret, bool drop_leaf)
{
	__u32 zero = 0;
	struct task_struct *task;
	struct pt_regs *regs;
	struct tf_unwind_state *s;
	__u64 ret_pc = 0;
	long n;

	if (!unwind_enabled) {
		n = bpf_get_stack(ctx, dst, TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64), BPF_F_USER_STACK);
		/* Frame pointers: the ret's function kept the caller's %rbp, so the walk goes on from the
		 * caller's frame; only the leaf (the ret itself) becomes the caller's pc. */
		if (at_ret && n > 0 && !bpf_probe_read_user(&ret_pc, sizeof(ret_pc), (const void *)PT_REGS_SP((struct pt_regs *)ctx)))
			dst[0] = ret_pc;
		return n;
	}
	s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!s)
		return -22; /* EINVAL: cannot happen, a per-CPU array always has its element */
	task = bpf_get_current_task_btf();
	if (!BPF_CORE_READ(task, mm))
		return 0; /* a kernel thread has no user stack */
	/* The user registers saved at the last entry into the kernel: the interrupted user code for a
	 * sample taken in user mode, the system call for one taken in the kernel, the trap for a uprobe. */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	s->pc = BPF_CORE_READ(regs, ip);
	s->sp = BPF_CORE_READ(regs, sp);
	s->bp = BPF_CORE_READ(regs, bp);
	s->tgid = bpf_get_current_pid_tgid() >> 32;
	/* Slots past the walked depth read as zeros (memleak hashes and stores whole arrays). */
	__builtin_memset(s->frames, 0, sizeof(s->frames));
	s->depth = 0;
	s->exact_pc = 1;
	if (at_ret) {
		if (bpf_probe_read_user(&ret_pc, sizeof(ret_pc), (const void *)s->sp))
			return -14; /* EFAULT */
		s->pc = ret_pc;
		s->sp += 8;
		s->exact_pc = 0; /* a return address: its call is the instruction before */
	}
	s->bp_known = 1;
	unwind_count(UNWIND_STACKS);
	bpf_loop(TRACEFLEET_MAX_STACK_DEPTH + 1, unwind_step, NULL, 0);
	if (drop_leaf) {
		if (bpf_probe_read_kernel(dst, (TRACEFLEET_MAX_STACK_DEPTH - 1) * sizeof(__u64), &s->frames[1]))
			return -14; /* EFAULT */
		dst[TRACEFLEET_MAX_STACK_DEPTH - 1] = 0;
		return s->depth > 1 ? (long)((s->depth - 1) & 255) * sizeof(__u64) : 0;
	}
	if (bpf_probe_read_kernel(dst, TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64), s->frames))
		return -14; /* EFAULT */
	return (long)(s->depth & 255) * sizeof(__u64);
}

static __always_inline long unwind_user_stack_at(void *ctx, __u64 *dst, bool at_ret)
{
	return unwind_user_stack_from(ctx, dst, at_ret, false);
}

static __always_inline long unwind_user_stack(void *ctx, __u64 *dst)
{
	return unwind_user_stack_at(ctx, dst, false);
}

#endif /* TRACEFLEET_UNWIND_BPF_H */

/* User-stack unwinding from .eh_frame/.debug_frame tables: the row, mapping and counter layouts
 * shared by unwind.bpf.h and the native addon (native/src/unwind_*), both compiled from this header
 * (no TypeScript decoder reads them). Fixed-width fields only. */
#ifndef TRACEFLEET_UNWIND_H
#define TRACEFLEET_UNWIND_H

/* How the CFA (the caller's stack pointer) is found at a pc. */
#define UNWIND_CFA_NONE 0       /* no FDE covers the pc: a cut, never a guess */
#define UNWIND_CFA_RSP 1        /* rsp + cfa_offset */
#define UNWIND_CFA_RBP 2        /* rbp + cfa_offset */
#define UNWIND_CFA_PLT 3        /* a .plt stub: rsp + 8, + 8 more when (pc & 15) >= cfa_offset */
#define UNWIND_CFA_SIGNAL 4     /* a signal frame (__restore_rt): rsp, rbp and rip saved in the
				 * ucontext at rsp: rsp at +cfa_offset, rip at +cfa_offset + 8, rbp at +rbp_offset */
#define UNWIND_CFA_END 5        /* outermost frame: the return address is undefined (_start, clone) */
#define UNWIND_CFA_EXPRESSION 6 /* a DWARF expression that is none of the above: a counted cut */

/* Where the caller's rbp is. */
#define UNWIND_RBP_SAME 0       /* this frame did not change it */
#define UNWIND_RBP_OFFSET 1     /* saved at CFA + rbp_offset */
#define UNWIND_RBP_UNDEFINED 2  /* not recoverable: unknown in the caller */

/* One row: from pc (a file virtual address) up to the next row's pc. Sorted by pc in a table. */
struct unwind_row {
	__u64 pc;
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 cfa_rule;
	__u8 rbp_rule;
};

/* What a process's executable mapping is unwound with. */
#define UNWIND_KIND_TABLE 1   /* table_id in unwind_tables, `rows` rows */
#define UNWIND_KIND_FP 2      /* no unwind info (JIT code, perf-map code, a file without CFI): frame pointer */
#define UNWIND_KIND_PENDING 3 /* the table is being built */
#define UNWIND_KIND_NONE 4    /* no table: over the node's table memory limit, or the file was unreadable */

#define UNWIND_MAX_MAPPINGS 256 /* a power of two: BPF bounds an index with a mask */

struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias; /* runtime address − file virtual address */
	__u32 table_id;
	__u32 rows;
	__u32 kind;
	__u32 pad;
};

/* One process: its executable mappings sorted by start. */
struct unwind_proc {
	__u32 count;
	__u32 pad;
	struct unwind_mapping mappings[UNWIND_MAX_MAPPINGS];
};

/* Indices into every unwinding program's per-CPU "unwind_counters" array (UnwindStats in the proto). */
#define UNWIND_STACKS 0
#define UNWIND_STACKS_COMPLETE 1
#define UNWIND_FRAMES_TABLE 2
#define UNWIND_FRAMES_FP 3
#define UNWIND_CUT_NO_MAPPING 4
#define UNWIND_CUT_NO_ROW 5
#define UNWIND_CUT_EXPRESSION 6
#define UNWIND_CUT_DEPTH 7
#define UNWIND_CUT_READ_FAULT 8
#define UNWIND_PENDING 9
#define UNWIND_CUT_INVALID 10
#define UNWIND_COUNTER_MAX 11

/* Map sizes the shared maps are created with by the agent (the objects' own copies are dummies). */
#define UNWIND_MAX_TABLES 8192
#define UNWIND_MAX_PROCS 4096
#define UNWIND_MAX_MISSES 1024
/* A table's rows are found in at most this many halvings: 2^24 rows. */
#define UNWIND_SEARCH_STEPS 24

#endif /* TRACEFLEET_UNWIND_H */

/* CPython frames of the sampled thread, read from the interpreter's memory: no ptrace, no pause, nothing
 * inside the target. Include after vmlinux.h, bpf_helpers.h and bpf_core_read.h.
 *
 * The agent finds a Python process's interpreter (_PyRuntime's address, the version's struct offsets)
 * and writes a py_proc under its tgid; a process without one costs one hash lookup. For a sample:
 *  1. the thread's PyThreadState: the one whose thread_id (pthread_self(), which on x86-64 is the
 *     thread's fs base) is the sampled task's fs base; cached per thread id, found by walking the
 *     interpreter's thread list on a miss (namespace-independent: no pid numbers are compared);
 *  2. its frame chain, innermost first, as code object addresses, with PY_FRAME_ENTRY on the outermost
 *     frame of each C call of the eval loop, so that user space can put each group of Python frames
 *     where its _PyEval_EvalFrameDefault frame is in the native stack.
 * Names are not read here: the agent reads each code object's name once per process (code-names.ts). */
#ifndef TRACEFLEET_PYTHON_BPF_H
#define TRACEFLEET_PYTHON_BPF_H

#include "python/python.h"

const volatile bool python_enabled = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* most nodes run a few Python processes, not PY_MAX_PROCS */
	__uint(max_entries, PY_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct py_proc);
} py_procs SEC(".maps");

/* Thread (global tid) → its PyThreadState, checked against the fs base at each use. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PY_MAX_THREADS);
	__type(key, __u32);
	__type(value, __u64);
} py_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PY_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} py_counters SEC(".maps");

struct py_walk {
	struct py_proc proc;
	__u64 fsbase;
	__u64 cursor; /* the thread state, then the frame, being looked at */
	__u64 found;
	__s32 n;
	__s32 err;
	__u32 truncated;
	__u32 pad;
	__u64 frames[TRACEFLEET_MAX_PY_FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_walk);
} py_scratch SEC(".maps");

static __always_inline void py_count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&py_counters, &index);

	if (value)
		*value += 1;
}

static __always_inline struct py_walk *py_walk_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&py_scratch, &zero);
}

/* One thread state of the interpreter's list. Returns 1 to stop. */
static long py_thread_step(__u32 index, void *ctx)
{
	struct py_walk *w = py_walk_state();
	__u64 thread_id;

	if (!w || !w->cursor)
		return 1;
	if (bpf_probe_read_user(&thread_id, sizeof(thread_id), (void *)(w->cursor + w->proc.tstate_thread_id))) {
		w->err = PY_ERR_READ;
		return 1;
	}
	if (thread_id == w->fsbase) {
		w->found = w->cursor;
		return 1;
	}
	if (bpf_probe_read_user(&w->cursor, sizeof(w->cursor), (void *)(w->cursor + w->proc.tstate_next))) {
		w->err = PY_ERR_READ;
		return 1;
	}
	return 0;
}

/* One frame of the chain. Returns 1 to stop. */
static long py_frame_step(__u32 index, void *ctx)
{
	struct py_walk *w = py_walk_state();
	__u64 code = 0, previous = 0;
	__u8 flag = 0;
	__u32 n;

	if (!w || !w->cursor)
		return 1;
	n = w->n;
	if (n >= TRACEFLEET_MAX_PY_FRAMES) {
		w->truncated = 1;
		return 1;
	}
	if (bpf_probe_read_user(&code, sizeof(code), (void *)(w->cursor + w->proc.frame_code)) ||
	    bpf_probe_read_user(&previous, sizeof(previous), (void *)(w->cursor + w->proc.frame_previous)) ||
	    (w->proc.frame_flag != PY_OFF_NONE &&
	     bpf_probe_read_user(&flag, sizeof(flag), (void *)(w->cursor + w->proc.frame_flag)))) {
		w->err = PY_ERR_READ;
		return 1;
	}
	w->cursor = previous;
	if (w->proc.model == PY_MODEL_CSTACK && flag == PY_FRAME_OWNED_BY_CSTACK) {
		/* The C entry shim: the frame above it was the first of its eval call. */
		if (n > 0)
			w->frames[(n - 1) & (TRACEFLEET_MAX_PY_FRAMES - 1)] |= PY_FRAME_ENTRY;
		return 0;
	}
	code &= PY_FRAME_ADDR_MASK;
	if (w->proc.model == PY_MODEL_FRAME_OBJECT || (w->proc.model == PY_MODEL_IS_ENTRY && flag))
		code |= PY_FRAME_ENTRY;
	w->frames[n & (TRACEFLEET_MAX_PY_FRAMES - 1)] = code;
	w->n = n + 1;
	return 0;
}

/* The current thread's Python frames into dst (TRACEFLEET_MAX_PY_FRAMES slots, innermost first): their
 * number, 0 when the process is not a known Python process, or a PY_ERR_*. *truncated is set when the
 * chain went on past the last slot (the outermost frames are the ones missing). */
static __always_inline __s32 python_frames(__u32 tgid, __u32 tid, __u64 *dst, __u16 *truncated)
{
	struct task_struct *task;
	struct py_proc *proc;
	struct py_walk *w;
	__u64 *cached, interp = 0, frame = 0;

	if (!python_enabled)
		return 0;
	proc = bpf_map_lookup_elem(&py_procs, &tgid);
	if (!proc)
		return 0;
	w = py_walk_state();
	if (!w)
		return 0;
	py_count(PY_COUNTER_STACKS);
	__builtin_memcpy(&w->proc, proc, sizeof(w->proc));
	task = bpf_get_current_task_btf();
	w->fsbase = BPF_CORE_READ(task, thread.fsbase);
	w->found = 0;
	w->err = 0;
	w->n = 0;
	w->truncated = 0;

	cached = bpf_map_lookup_elem(&py_threads, &tid);
	if (cached) {
		/* Still this thread's? A thread state freed and reused for another thread fails the check. */
		__u64 thread_id = 0;

		if (!bpf_probe_read_user(&thread_id, sizeof(thread_id), (void *)(*cached + w->proc.tstate_thread_id)) &&
		    thread_id == w->fsbase)
			w->found = *cached;
	}
	if (!w->found) {
		if (bpf_probe_read_user(&interp, sizeof(interp), (void *)w->proc.interp_head) || !interp ||
		    bpf_probe_read_user(&w->cursor, sizeof(w->cursor), (void *)(interp + w->proc.interp_threads))) {
			py_count(PY_COUNTER_READ_FAULT);
			return PY_ERR_READ;
		}
		bpf_loop(PY_MAX_THREAD_WALK, py_thread_step, NULL, 0);
		if (w->err) {
			py_count(PY_COUNTER_READ_FAULT);
			return PY_ERR_READ;
		}
		if (!w->found) {
			py_count(PY_COUNTER_NO_THREAD);
			return PY_ERR_NO_THREAD;
		}
		bpf_map_update_elem(&py_threads, &tid, &w->found, BPF_ANY);
	}

	/* The innermost frame: tstate->frame, tstate->cframe->current_frame or tstate->current_frame. */
	if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(w->found + w->proc.tstate_frame)) ||
	    (w->proc.cframe_frame != PY_OFF_NONE && frame &&
	     bpf_probe_read_user(&frame, sizeof(frame), (void *)(frame + w->proc.cframe_frame)))) {
		py_count(PY_COUNTER_READ_FAULT);
		return PY_ERR_READ;
	}
	w->cursor = frame;
	bpf_loop(TRACEFLEET_MAX_PY_FRAMES + 1, py_frame_step, NULL, 0);
	if (w->err)
		py_count(PY_COUNTER_READ_FAULT); /* the frames read before the fault are kept */
	if (w->truncated) {
		py_count(PY_COUNTER_TRUNCATED);
		*truncated = 1;
	}
	if (bpf_probe_read_kernel(dst, TRACEFLEET_MAX_PY_FRAMES * sizeof(__u64), w->frames))
		return PY_ERR_READ;
	{
		__u64 *frames_read = bpf_map_lookup_elem(&py_counters, &(__u32){PY_COUNTER_FRAMES});

		if (frames_read)
			*frames_read += w->n & 255;
	}
	if (w->n == 0 && w->err)
		return PY_ERR_READ;
	return w->n & 255;
}

#endif /* TRACEFLEET_PYTHON_BPF_H */

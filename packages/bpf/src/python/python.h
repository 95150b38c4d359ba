/* Python frames read from the interpreter's memory at sample time: the per-process layout the agent
 * writes into the "py_procs" map, and the frame words a sample carries. Shared by python.bpf.h and
 * the native addon (native/src/profile_event.h); the agent's TypeScript mirror is
 * apps/node-agent/src/runs/python/layout.ts, checked by native/lib/layout.spec.ts. Fixed-width only. */
#ifndef TRACEFLEET_PYTHON_H
#define TRACEFLEET_PYTHON_H

/* Python frames a sample carries at most (innermost first). A deeper stack keeps its innermost ones. */
#define TRACEFLEET_MAX_PY_FRAMES 128

/* How the interpreter keeps its frames. */
#define PY_MODEL_FRAME_OBJECT 1 /* 3.8–3.10: tstate->frame, PyFrameObject f_back/f_code; one C eval call per frame */
#define PY_MODEL_IS_ENTRY 2     /* 3.11: tstate->cframe->current_frame, _PyInterpreterFrame previous/f_code,
				 * is_entry marks the first frame of a C eval call */
#define PY_MODEL_CSTACK 3       /* 3.12, 3.13: as 3.11 (3.13 without cframe), a frame whose owner is
				 * FRAME_OWNED_BY_CSTACK is the C entry shim below each C eval call's frames */

#define PY_OFF_NONE 0xffff /* a field this version does not have */
#define PY_FRAME_OWNED_BY_CSTACK 3

/* One Python process: absolute addresses and struct offsets of its interpreter (key: tgid). */
struct py_proc {
	__u64 interp_head;      /* address of _PyRuntime.interpreters.head (runtime address: bias applied) */
	__u16 interp_threads;   /* PyInterpreterState: tstate_head (≤3.10) or threads.head */
	__u16 tstate_next;      /* PyThreadState.next */
	__u16 tstate_thread_id; /* PyThreadState.thread_id: pthread_self(), the thread's fs base */
	__u16 tstate_frame;     /* PyThreadState: frame (≤3.10), cframe (3.11, 3.12) or current_frame (3.13) */
	__u16 cframe_frame;     /* _PyCFrame.current_frame; PY_OFF_NONE when tstate_frame leads to the frame itself */
	__u16 frame_code;       /* f_code (f_executable in 3.13) */
	__u16 frame_previous;   /* f_back (≤3.10) or previous */
	__u16 frame_flag;       /* is_entry (3.11), owner (3.12+); PY_OFF_NONE for PY_MODEL_FRAME_OBJECT */
	__u8 model;             /* PY_MODEL_* */
	__u8 pad[7];
};

/* A frame word: the code object's address, with PY_FRAME_ENTRY set on the outermost frame of one C
 * call of the eval loop (code objects are 8-byte aligned: the low bits are free). */
#define PY_FRAME_ENTRY 1ULL
#define PY_FRAME_ADDR_MASK (~7ULL)

/* A sample's py_frames_count: >= 0 frames, or why there are none. */
#define PY_ERR_NO_THREAD -1  /* the sampled thread has no Python thread state (a native thread, or not yet created) */
#define PY_ERR_READ -2       /* reading the interpreter's memory faulted */

/* Indices into the per-CPU "py_counters" array. */
#define PY_COUNTER_STACKS 0     /* samples of a Python process (py_procs hit) */
#define PY_COUNTER_FRAMES 1     /* Python frames read */
#define PY_COUNTER_NO_THREAD 2  /* samples of a thread without a thread state */
#define PY_COUNTER_READ_FAULT 3 /* samples cut by a read fault */
#define PY_COUNTER_TRUNCATED 4  /* samples deeper than TRACEFLEET_MAX_PY_FRAMES */
#define PY_COUNTER_MAX 5

/* The sizes of the maps the profile object holds (the agent fills py_procs before and during a run). */
#define PY_MAX_PROCS 4096
#define PY_MAX_THREADS 8192 /* the thread → thread state cache (LRU: a miss walks the thread list again) */
#define PY_MAX_THREAD_WALK 512 /* thread states looked at per sample when the cache misses */

#endif /* TRACEFLEET_PYTHON_H */

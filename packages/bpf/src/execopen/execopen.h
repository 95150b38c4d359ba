/* Shared by execopen.bpf.c and the native addon (native/src/execopen_session.cc).
 * Fixed-width fields only; native/lib/execopen.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_EXECOPEN_H
#define TRACEFLEET_EXECOPEN_H

#include "limits.h"

#define EXECOPEN_MAX_ARGS 20     /* argv entries read after the file name (execsnoop's default) */
#define EXECOPEN_ARG_BYTES 128   /* bytes of one argument or file name, its NUL included (execsnoop's ARGSIZE) */
#define EXECOPEN_DATA_BYTES 2816 /* (EXECOPEN_MAX_ARGS + 2) * EXECOPEN_ARG_BYTES: file name and argv */
#define EXECOPEN_PATH_BYTES 256  /* bytes of an opened path, its NUL included (opensnoop's NAME_MAX + 1) */
#define EXECOPEN_DEFAULT_MAX_PENDING 8192 /* threads inside an open at once; user space resizes before load */
#define EXECOPEN_MAX_EXECS 1024 /* threads inside an exec at once (an entry holds argv: 2.9 KB) */

#define EXECOPEN_KIND_EXEC 0
#define EXECOPEN_KIND_OPEN 1

/* execopen_event.truncated bits */
#define EXECOPEN_TRUNC_ARGS 1 /* argv had more than EXECOPEN_MAX_ARGS entries */
#define EXECOPEN_TRUNC_ARG 2  /* an argument, file name or path was cut at its byte limit */
#define EXECOPEN_TRUNC_READ 4 /* a read of user memory failed: what follows is missing */

/* Which syscalls fed an event (execopen_event.syscall). */
#define EXECOPEN_SYS_EXECVE 0
#define EXECOPEN_SYS_EXECVEAT 1
#define EXECOPEN_SYS_OPEN 2
#define EXECOPEN_SYS_OPENAT 3
#define EXECOPEN_SYS_OPENAT2 4

/* Indices into the per-CPU "counters" array map. */
#define EXECOPEN_COUNTER_EXECS 0       /* execs that returned and passed the filters */
#define EXECOPEN_COUNTER_OPENS 1       /* opens that returned and passed the filters */
#define EXECOPEN_COUNTER_NO_START 2    /* entries the full "pending" maps refused: not reported */
#define EXECOPEN_COUNTER_OVER_BUDGET 3 /* events past max_events: counted, not streamed */
#define EXECOPEN_COUNTER_DROPS 4       /* ring buffer full */
#define EXECOPEN_COUNTER_MAX 5

/* One exec or open, sent when the syscall returns. data holds, NUL-separated: for an exec the file name
 * then argv[0..args_count-1]; for an open the path. Only the first EXECOPEN_HEADER_BYTES + data_size
 * bytes are sent. */
struct execopen_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns at the return */
	__u32 pid;        /* tgid */
	__u32 tid;
	__u32 ppid;       /* real parent's tgid */
	__u32 uid;
	__s32 ret;        /* the syscall's return: 0 or an fd, or -errno */
	__s32 flags;      /* open: the flags; exec: 0 */
	__u32 mode;       /* open: the mode */
	__s32 dfd;        /* openat/openat2/execveat: the directory fd; else -100 (AT_FDCWD) */
	__u32 data_size;  /* bytes of data used */
	__u16 args_count; /* exec: argv entries in data */
	__u8 kind;        /* EXECOPEN_KIND_* */
	__u8 syscall;     /* EXECOPEN_SYS_* */
	__u8 truncated;   /* EXECOPEN_TRUNC_* bits */
	__u8 pad[7];
	char comm[TRACEFLEET_COMM_LEN]; /* at the return: an exec's new program */
	char data[EXECOPEN_DATA_BYTES];
};

#define EXECOPEN_HEADER_BYTES 72 /* offsetof(struct execopen_event, data) */

/* Value of the "opens" hash map, keyed by thread id: the arguments seen at the entry. */
struct execopen_open_args {
	__u64 filename; /* user pointer */
	__s32 flags;
	__u32 mode;
	__s32 dfd;
	__u32 syscall;
};

#endif /* TRACEFLEET_EXECOPEN_H */

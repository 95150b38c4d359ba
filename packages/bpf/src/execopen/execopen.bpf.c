// SPDX-License-Identifier: GPL-2.0
/* Execs and opens (libbpf-tools execsnoop and opensnoop) from the syscalls tracepoints (no kprobes on this
 * kernel). An exec's file name and argv are read from the caller's memory at the entry, into a per-thread
 * entry of the "execs" map, and sent with the return code at the exit; an open's arguments are noted at the
 * entry and its path read at the exit (the syscall has faulted it in). Every read is bounded: at most
 * EXECOPEN_MAX_ARGS arguments of EXECOPEN_ARG_BYTES each, and EXECOPEN_PATH_BYTES of a path. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "ringbuf_wakeup.bpf.h"
#include "execopen/execopen.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100
#define LAST_ARG (EXECOPEN_DATA_BYTES - EXECOPEN_ARG_BYTES)

/* Set by user space before load. target_tgid 0: any process; target_comm "": any. */
const volatile __u32 target_tgid = 0;
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};
const volatile bool trace_exec = true;
const volatile bool trace_open = true;
const volatile bool failed_only = false;
const volatile __u64 max_events = 0;

__u64 events_taken = 0;

static const struct execopen_event empty_event = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EXECOPEN_MAX_EXECS);
	__type(key, __u32); /* tid */
	__type(value, struct execopen_event);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EXECOPEN_DEFAULT_MAX_PENDING);
	__type(key, __u32); /* tid */
	__type(value, struct execopen_open_args);
} opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EXECOPEN_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The pid (tgid) and target filters, which an exec does not change. */
static __always_inline bool pid_admitted(__u32 tgid)
{
	if (target_tgid && tgid != target_tgid)
		return false;
	return target_admits(tgid);
}

static __always_inline bool comm_admitted(const char *comm)
{
	return !target_comm[0] || comm_equal(comm, target_comm);
}

static __always_inline bool take_budget(__u32 counter)
{
	count(&counters, counter);
	if (__sync_fetch_and_add(&events_taken, 1) >= max_events) {
		count(&counters, EXECOPEN_COUNTER_OVER_BUDGET);
		return false;
	}
	return true;
}

static __always_inline void fill_task(struct execopen_event *e, __u64 id)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
}

static __always_inline int exec_enter(const char *filename, const char *const *argv, int dfd, __u8 sys)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct execopen_event *e;
	const char *argp;
	unsigned int size;
	long n;

	if (!trace_exec || !pid_admitted(id >> 32))
		return 0;
	if (bpf_map_update_elem(&execs, &tid, &empty_event, BPF_ANY)) {
		count(&counters, EXECOPEN_COUNTER_NO_START);
		return 0;
	}
	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	e->kind = EXECOPEN_KIND_EXEC;
	e->syscall = sys;
	e->dfd = dfd;
	n = bpf_probe_read_user_str(e->data, EXECOPEN_ARG_BYTES, filename);
	if (n <= 0) {
		e->data[0] = '\0';
		n = 1;
		e->truncated |= EXECOPEN_TRUNC_READ;
	} else if (n == EXECOPEN_ARG_BYTES) {
		e->truncated |= EXECOPEN_TRUNC_ARG;
	}
	size = n;
#pragma unroll
	for (int i = 0; i < EXECOPEN_MAX_ARGS; i++) {
		if (bpf_probe_read_user(&argp, sizeof(argp), &argv[i])) {
			e->truncated |= EXECOPEN_TRUNC_READ;
			goto done;
		}
		if (!argp)
			goto done;
		if (size > LAST_ARG)
			goto done;
		n = bpf_probe_read_user_str(&e->data[size], EXECOPEN_ARG_BYTES, argp);
		if (n <= 0) {
			e->truncated |= EXECOPEN_TRUNC_READ;
			goto done;
		}
		if (n == EXECOPEN_ARG_BYTES)
			e->truncated |= EXECOPEN_TRUNC_ARG;
		size += n;
		e->args_count++;
	}
	/* Read one more pointer: is there an argument past the last one read? */
	if (!bpf_probe_read_user(&argp, sizeof(argp), &argv[EXECOPEN_MAX_ARGS]) && argp)
		e->truncated |= EXECOPEN_TRUNC_ARGS;
done:
	e->data_size = size;
	return 0;
}

static __always_inline int exec_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct execopen_event *e;
	__u32 size;

	if (!trace_exec)
		return 0;
	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	e->ret = ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if ((failed_only && ret >= 0) || !comm_admitted(e->comm))
		goto out;
	if (!take_budget(EXECOPEN_COUNTER_EXECS))
		goto out;
	fill_task(e, id);
	size = e->data_size;
	if (size > EXECOPEN_DATA_BYTES)
		size = EXECOPEN_DATA_BYTES;
	if (bpf_ringbuf_output(&events, e, EXECOPEN_HEADER_BYTES + size, ringbuf_wakeup_flags(&events)))
		count(&counters, EXECOPEN_COUNTER_DROPS);
out:
	bpf_map_delete_elem(&execs, &tid);
	return 0;
}

static __always_inline int open_enter(__u64 filename, __s32 flags, __u32 mode, __s32 dfd, __u32 sys)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct execopen_open_args args = {};

	if (!trace_open || !pid_admitted(id >> 32))
		return 0;
	if (target_comm[0]) {
		char comm[TRACEFLEET_COMM_LEN];

		bpf_get_current_comm(comm, sizeof(comm));
		if (!comm_equal(comm, target_comm))
			return 0;
	}
	args.filename = filename;
	args.flags = flags;
	args.mode = mode;
	args.dfd = dfd;
	args.syscall = sys;
	if (bpf_map_update_elem(&opens, &tid, &args, BPF_ANY))
		count(&counters, EXECOPEN_COUNTER_NO_START);
	return 0;
}

static __always_inline int open_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct execopen_open_args *args;
	struct execopen_event *e;
	long n;

	if (!trace_open)
		return 0;
	args = bpf_map_lookup_elem(&opens, &tid);
	if (!args)
		return 0;
	if (failed_only && ret >= 0)
		goto out;
	if (!take_budget(EXECOPEN_COUNTER_OPENS))
		goto out;
	e = bpf_ringbuf_reserve(&events, EXECOPEN_HEADER_BYTES + EXECOPEN_PATH_BYTES, 0);
	if (!e) {
		count(&counters, EXECOPEN_COUNTER_DROPS);
		goto out;
	}
	fill_task(e, id);
	e->ret = ret;
	e->flags = args->flags;
	e->mode = args->mode;
	e->dfd = args->dfd;
	e->args_count = 0;
	e->kind = EXECOPEN_KIND_OPEN;
	e->syscall = args->syscall;
	e->truncated = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	n = bpf_probe_read_user_str(e->data, EXECOPEN_PATH_BYTES, (const char *)args->filename);
	if (n <= 0) {
		e->data[0] = '\0';
		n = 1;
		e->truncated = EXECOPEN_TRUNC_READ;
	} else if (n == EXECOPEN_PATH_BYTES) {
		e->truncated = EXECOPEN_TRUNC_ARG;
	}
	e->data_size = n;
	bpf_ringbuf_submit(e, ringbuf_wakeup_flags(&events));
out:
	bpf_map_delete_elem(&opens, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve(struct trace_event_raw_sys_enter *ctx)
{
	return exec_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1], AT_FDCWD, EXECOPEN_SYS_EXECVE);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int on_execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	return exec_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int on_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return exec_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2], (int)ctx->args[0], EXECOPEN_SYS_EXECVEAT);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int on_execveat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return exec_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_open")
int on_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx->args[0], (__s32)ctx->args[1], (__u32)ctx->args[2], AT_FDCWD, EXECOPEN_SYS_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_open")
int on_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx->args[1], (__s32)ctx->args[2], (__u32)ctx->args[3], (__s32)ctx->args[0], EXECOPEN_SYS_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int on_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

/* openat2(dfd, filename, struct open_how *how, size): flags and mode from how (u64 each). */
SEC("tracepoint/syscalls/sys_enter_openat2")
int on_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return open_enter(ctx->args[1], (__s32)how.flags, (__u32)how.mode, (__s32)ctx->args[0], EXECOPEN_SYS_OPENAT2);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int on_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

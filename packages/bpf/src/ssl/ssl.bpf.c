// SPDX-License-Identifier: GPL-2.0
/* TLS plaintext: uprobes on OpenSSL's SSL_read/SSL_write(_ex)/SSL_do_handshake, GnuTLS's
 * gnutls_record_recv/gnutls_record_send and NSPR's PR_Read/PR_Write/PR_Recv/PR_Send on NSS SSL layer
 * descriptors (same argument order: connection, buffer, size). ssl_entry notes
 * the call's arguments per thread; ssl_return, at the function's return (a uretprobe) or at a site
 * every return path passes with the return value in %rax (a plain uprobe), sends one record with
 * the bytes the call moved. Both are attached by user space with the attach cookie
 * (attachment id << SSL_COOKIE_FN_BITS | function id), so one object serves every function in every
 * library and process. Go's crypto/tls.(*Conn).Read/Write have their own pair: go_tls_entry reads Go's
 * register ABI (receiver %rax, buffer %rbx, length %rcx) and keys the call by goroutine; go_tls_return
 * is a plain uprobe on each of the function's ret instructions (a uretprobe would corrupt a Go stack
 * that moves). With a port filter, tracepoints on the read/write/send/recv syscalls note which socket
 * a traced call reached; the connection's ports are looked up once, through the task's fd table. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ssl/ssl.h"
#include "common.bpf.h"
/* The job's cgroup only: the tgid filter here is pid_filter, which ORs with the comm filter. */
#define TRACEFLEET_TARGET_CGROUP_ONLY
#include "target.bpf.h"
#include "ringbuf_wakeup.bpf.h"
#include "unwind/unwind.bpf.h"
#include "python/python.bpf.h"

_Static_assert(SSL_MAX_DATA % SSL_DATA_CHUNK == 0, "SSL_MAX_DATA must be whole chunks");
_Static_assert(SSL_MAX_DATA % 8 == 0, "the stack after the data must stay 8-byte aligned");
_Static_assert(sizeof(struct ssl_event) % 8 == 0, "ssl_event must stay 8-byte aligned");

char LICENSE[] SEC("license") = "GPL";

#define FN_MASK ((1ULL << SSL_COOKIE_FN_BITS) - 1)

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;      /* the tracer's own process: never traced */
const volatile bool filter_pids = false; /* a process passes if its tgid is in pid_filter ... */
const volatile bool filter_comm = false; /* ... or its comm is target_comm; neither filter: every process */
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};
const volatile __u32 max_data_bytes = 0; /* <= SSL_MAX_DATA */
const volatile bool capture_stacks = false;

/* The record is built here, then copied to the ring at its real length. The stack and the Python
 * frames follow the data wherever it ends: stack and py are the room they need after a full data. */
struct ssl_scratch {
	struct ssl_event event;
	__u8 data[SSL_MAX_DATA];
	__u64 stack[TRACEFLEET_MAX_STACK_DEPTH];
	__u64 py[TRACEFLEET_MAX_PY_FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSL_MAX_CALLS);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ssl_call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSL_MAX_CALLS);
	__type(key, struct ssl_go_key);
	__type(value, struct ssl_call);
} go_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SSL_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SSL_MAX_NSS);
	__type(key, __u32);
	__type(value, struct ssl_nss_range);
} nss_layers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SSL_MAX_EXCLUDED);
	__type(key, __u32);
	__type(value, __u8);
} excluded SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ssl_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SSL_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The port filter, the content filter and headers-only mode: admitted() and the fd tracepoints. */
#include "ssl/filter.bpf.h"

static __always_inline bool wanted(__u32 tgid)
{
	char comm[TRACEFLEET_COMM_LEN];

	if (tgid == self_tgid || bpf_map_lookup_elem(&excluded, &tgid))
		return false;
	if (!target_admits(tgid))
		return false;
	if (!filter_pids && !filter_comm)
		return true;
	if (filter_pids && bpf_map_lookup_elem(&pid_filter, &tgid))
		return true;
	if (!filter_comm)
		return false;
	bpf_get_current_comm(comm, sizeof(comm));
	return comm_equal(comm, target_comm);
}

static __always_inline bool is_nss(__u32 fn)
{
	return fn >= SSL_FN_NSS_READ && fn <= SSL_FN_NSS_SEND;
}

/* NSPR's I/O functions serve every descriptor: only those whose methods table lies in the process's
 * libssl3.so (an NSS SSL layer) are TLS. */
static __always_inline bool nss_ssl_layer(__u32 tgid, void *fd)
{
	struct ssl_nss_range *range = bpf_map_lookup_elem(&nss_layers, &tgid);
	__u64 methods = 0;

	if (!range || bpf_probe_read_user(&methods, sizeof(methods), fd))
		return false;
	return methods >= range->lo && methods < range->hi;
}

SEC("uprobe")
int BPF_KPROBE(ssl_entry, void *ssl, void *buf, __u64 num, void *lenptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct ssl_call *outer, call = {};

	if (!wanted(id >> 32))
		return 0;
	if (is_nss(cookie & FN_MASK) && !nss_ssl_layer(id >> 32, ssl))
		return 0;
	outer = bpf_map_lookup_elem(&calls, &id);
	if (outer && now - outer->ts_ns < SSL_NEST_MAX_AGE_NS) {
		/* SSL_read_ex under a traced SSL_read, a callback writing from inside a handshake, ...:
		 * the outer call reports the bytes its caller sees. */
		outer->depth++;
		count(&counters, SSL_COUNTER_NESTED);
		return 0;
	}
	call.ssl = (__u64)ssl;
	call.buf = (__u64)buf;
	call.num = num;
	call.lenptr = (__u64)lenptr;
	call.ts_ns = now;
	call.cookie = cookie;
	bpf_map_update_elem(&calls, &id, &call, BPF_ANY);
	return 0;
}

/* Copies want (<= SSL_MAX_DATA) bytes in bounded chunks; returns how many arrived. A failed chunk
 * ends the copy, so the data is always a prefix. 64-bit arithmetic throughout: with 32-bit, clang 14
 * checks a zero-extended copy of the size and passes the unchecked register to the helper. */
static __always_inline __u64 copy_data(struct ssl_scratch *s, __u64 buf, __u64 want, bool *failed)
{
	__u64 done = 0;

	/* A bounded loop: the verifier walks its 4 iterations. */
	for (int i = 0; i < SSL_MAX_DATA / SSL_DATA_CHUNK; i++) {
		__u64 n;

		if (want <= done)
			break;
		n = want - done;
		if (n > SSL_DATA_CHUNK)
			n = SSL_DATA_CHUNK;
		barrier_var(n);
		if (bpf_probe_read_user(&s->data[i * SSL_DATA_CHUNK], n, (const void *)(buf + done))) {
			*failed = true;
			break;
		}
		done += n;
	}
	return done;
}

/* Bytes the call moved, or 0. */
static __always_inline __u64 moved(__u32 fn, __s64 ret, __u64 lenptr, bool *failed)
{
	__u64 length = 0;

	switch (fn) {
	case SSL_FN_READ:
	case SSL_FN_WRITE:
	case SSL_FN_GNUTLS_RECV:
	case SSL_FN_GNUTLS_SEND:
	case SSL_FN_GO_READ:
	case SSL_FN_GO_WRITE:
	case SSL_FN_NSS_READ:
	case SSL_FN_NSS_WRITE:
	case SSL_FN_NSS_RECV:
	case SSL_FN_NSS_SEND:
		return ret > 0 ? (__u64)ret : 0;
	case SSL_FN_READ_EX:
	case SSL_FN_WRITE_EX:
		if (ret != 1)
			return 0;
		if (bpf_probe_read_user(&length, sizeof(length), (const void *)lenptr)) {
			*failed = true;
			return 0;
		}
		return length;
	default: /* SSL_do_handshake: latency and result only */
		return 0;
	}
}

/* Builds and sends the record of one call whose entry was noted (what ssl_return and go_tls_return share). */
static __always_inline int emit(struct pt_regs *ctx, __u64 id, __u64 cookie, __u64 ssl, __u64 buf, __u64 lenptr, __u64 start, __u32 sock_fd)
{
	struct ssl_scratch *s;
	struct ssl_event *e;
	__u64 length, size;
	__u64 want, got, offset, stack = 0, py_at, py = 0;
	__s32 py_count = 0;
	__u32 zero = 0, fn;
	bool failed = false;
	long stack_bytes = 0;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0; /* cannot happen: one element per CPU */
	e = &s->event;
	fn = cookie & FN_MASK;
	e->ts_ns = bpf_ktime_get_ns();
	e->latency_ns = e->ts_ns - start;
	e->ssl = ssl;
	/* OpenSSL and NSPR return int (the upper half of %rax is garbage), GnuTLS ssize_t, Go int. */
	if (fn == SSL_FN_GNUTLS_RECV || fn == SSL_FN_GNUTLS_SEND || fn == SSL_FN_GO_READ || fn == SSL_FN_GO_WRITE)
		e->ret = (__s64)PT_REGS_RC(ctx);
	else
		e->ret = (__s64)(int)PT_REGS_RC(ctx);
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->fn = fn;
	e->attach_id = cookie >> SSL_COOKIE_FN_BITS;
	e->py_truncated = 0;

	length = moved(fn, e->ret, lenptr, &failed);
	e->length = length;
	if (!admitted(e, buf, sock_fd))
		return 0;
	count(&counters, SSL_COUNTER_EVENTS_SEEN);
	want = length < max_data_bytes ? length : max_data_bytes;
	if (want > SSL_MAX_DATA)
		want = SSL_MAX_DATA;
	/* The padding to 8 bytes after the data must not carry an earlier record's bytes. */
	if (want & 7)
		*(__u64 *)&s->data[want & (SSL_MAX_DATA - 8)] = 0;
	got = copy_data(s, buf, want, &failed);
	e->data_len = got;
	e->flags = (length > max_data_bytes ? SSL_FLAG_TRUNCATED : 0) | (failed ? SSL_FLAG_READ_ERROR : 0);
	if (failed)
		count(&counters, SSL_COUNTER_READ_ERRORS);

	/* The stack goes right after the data, rounded up to 8 bytes. */
	offset = (got + 7) & ~7ULL;
	barrier_var(offset);
	if (offset > SSL_MAX_DATA)
		offset = SSL_MAX_DATA;
	if (capture_stacks) {
		stack_bytes = unwind_user_stack(ctx, (__u64 *)&s->data[offset]);
		if (stack_bytes > 0)
			stack = stack_bytes;
	}
	e->stack_bytes = stack_bytes;
	barrier_var(stack);
	if (stack > TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64))
		stack = TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64);

	/* Python frames right after the stack: at the return the caller's Python frames are still the
	 * thread's current ones, so they name the Python code that made the call. */
	py_at = offset + stack;
	barrier_var(py_at);
	if (py_at > SSL_MAX_DATA + TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64))
		py_at = SSL_MAX_DATA + TRACEFLEET_MAX_STACK_DEPTH * sizeof(__u64);
	if (capture_stacks)
		py_count = python_frames(e->pid, e->tid, (__u64 *)&s->data[py_at], &e->py_truncated);
	e->py_frames_count = py_count;
	if (py_count > 0)
		py = (__u64)py_count * sizeof(__u64);
	barrier_var(py);
	if (py > TRACEFLEET_MAX_PY_FRAMES * sizeof(__u64))
		py = TRACEFLEET_MAX_PY_FRAMES * sizeof(__u64);

	size = sizeof(struct ssl_event) + py_at + py;
	if (bpf_ringbuf_output(&events, s, size, ringbuf_wakeup_flags(&events)))
		count(&counters, SSL_COUNTER_KERNEL_DROPS);
	return 0;
}

SEC("uprobe")
int ssl_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct ssl_call *saved = bpf_map_lookup_elem(&calls, &id);
	__u64 ssl, buf, lenptr, start;
	__u32 sock_fd;

	if (!saved) {
		/* A call that began before its entry probe was attached, or an unmatched site. */
		if (wanted(id >> 32))
			count(&counters, SSL_COUNTER_ORPHAN_RETURNS);
		return 0;
	}
	if (saved->depth > 0) {
		saved->depth--;
		return 0;
	}
	if ((saved->cookie ^ cookie) & FN_MASK) {
		/* The return of another function than the saved call's (whose entry probe came too late
		 * to note it): the saved call's own return is still to come. The attachment may differ:
		 * two attachments of one function in one file (by two paths, or with and without a pid)
		 * both fire, the inner one counted as nested, and whichever return comes last records it. */
		count(&counters, SSL_COUNTER_ORPHAN_RETURNS);
		return 0;
	}
	ssl = saved->ssl;
	buf = saved->buf;
	lenptr = saved->lenptr;
	start = saved->ts_ns;
	sock_fd = saved->sock_fd;
	bpf_map_delete_elem(&calls, &id);
	return emit(ctx, id, cookie, ssl, buf, lenptr, start, sock_fd);
}

/* Go: the receiver, the slice's pointer and length in %rax, %rbx, %rcx; %r14 is the goroutine. A
 * second entry of one call (the stack-growth path jumps back to the entry) notes the same
 * arguments again; Read and Write do not nest on a goroutine, so there is no depth to keep. */
SEC("uprobe")
int go_tls_entry(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_go_key key = {};
	struct ssl_call call = {};

	if (!wanted(id >> 32))
		return 0;
	key.tgid = id >> 32;
	key.g = ctx->r14;
	call.ssl = ctx->ax;
	call.buf = ctx->bx;
	call.num = ctx->cx;
	if (port_count > 0)
		call.sock_fd = go_conn_fd(ctx->ax);
	call.ts_ns = bpf_ktime_get_ns();
	call.cookie = bpf_get_attach_cookie(ctx);
	bpf_map_update_elem(&go_calls, &key, &call, BPF_ANY);
	return 0;
}

/* On each ret of the function: n in %rax (the bytes moved). */
SEC("uprobe")
int go_tls_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct ssl_go_key key = {};
	struct ssl_call *saved;
	__u64 ssl, buf, start;
	__u32 sock_fd;

	key.tgid = id >> 32;
	key.g = ctx->r14;
	saved = bpf_map_lookup_elem(&go_calls, &key);
	if (!saved || ((saved->cookie ^ cookie) & FN_MASK)) {
		if (wanted(id >> 32))
			count(&counters, SSL_COUNTER_ORPHAN_RETURNS);
		return 0;
	}
	ssl = saved->ssl;
	buf = saved->buf;
	start = saved->ts_ns;
	sock_fd = saved->sock_fd;
	bpf_map_delete_elem(&go_calls, &key);
	return emit(ctx, id, cookie, ssl, buf, 0, start, sock_fd);
}

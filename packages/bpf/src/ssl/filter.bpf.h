/* SPDX-License-Identifier: GPL-2.0 */
/* ssl.bpf.c's filters, which decide per connection (tgid, SSL*) what is recorded before anything is
 * copied: the port filter (the socket's local or peer port), the content filter (the first bytes of the
 * connection's first matching call) and headers-only mode (only calls that start an HTTP/1 message).
 * Included by ssl.bpf.c after its "calls" and "counters" maps. */
#ifndef TRACEFLEET_SSL_FILTER_BPF_H
#define TRACEFLEET_SSL_FILTER_BPF_H

#include <bpf/bpf_endian.h>

#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Content filter: a connection is recorded from its first call whose plaintext starts with one of
 * prefixes[0..prefix_count). Headers only: a call is recorded only if it starts with one of
 * starts[0..start_count) (an HTTP/1 message); the others are summed into the connection. */
const volatile __u32 prefix_count = 0;
const volatile struct ssl_prefix prefixes[SSL_MAX_PREFIXES] = {};
const volatile bool headers_only = false;
const volatile __u32 start_count = 0;
const volatile struct ssl_prefix starts[SSL_MAX_PREFIXES] = {};
/* Port filter: a connection is recorded when its socket's local or peer port is one of these. */
const volatile __u32 port_count = 0;
const volatile __u16 ports[SSL_MAX_PORTS] = {};

/* Sized to 1 by user space when neither the port filter, the content filter nor headers-only mode is on. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSL_MAX_CONNS);
	__type(key, struct ssl_conn_key);
	__type(value, struct ssl_conn);
} conns SEC(".maps");

static __always_inline bool starts_with_one(const __u64 head[2], const volatile struct ssl_prefix *table, __u32 n)
{
	for (int i = 0; i < SSL_MAX_PREFIXES; i++) {
		if (i >= n)
			break;
		if ((head[0] & table[i].mask[0]) == table[i].value[0] && (head[1] & table[i].mask[1]) == table[i].value[1])
			return true;
	}
	return false;
}

static __always_inline bool reads(__u32 fn)
{
	return fn == SSL_FN_READ || fn == SSL_FN_READ_EX || fn == SSL_FN_GNUTLS_RECV || fn == SSL_FN_GO_READ || fn == SSL_FN_NSS_READ ||
	       fn == SSL_FN_NSS_RECV;
}

/* Port filter: whether the socket at fd (of the current process) has a local or peer port in ports:
 * 1 yes, 2 no, 0 not a socket (or unreadable). */
static __always_inline __u16 port_state(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds, *file = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 local, peer;

	if (fd >= BPF_CORE_READ(task, files, fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	local = BPF_CORE_READ(sk, __sk_common.skc_num);
	peer = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	for (int i = 0; i < SSL_MAX_PORTS; i++) {
		if (i >= port_count)
			break;
		if (ports[i] == local || ports[i] == peer)
			return 1;
	}
	return 2;
}

/* A new connection's entry, with what is already known of it; NULL if it cannot be kept. */
static __always_inline struct ssl_conn *remember(const struct ssl_conn_key *key, __u16 port, __u16 admitted)
{
	struct ssl_conn fresh = {.admitted = admitted, .port = port};

	bpf_map_update_elem(&conns, key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&conns, key);
}

/* The port filter, the content filter and headers-only mode: whether the call is recorded. A call
 * that is not is counted (and, headers only, summed into its connection) and never copied. A
 * recorded call takes the bytes skipped before it into e. */
static __always_inline bool admitted(struct ssl_event *e, __u64 buf, __u32 sock_fd)
{
	struct ssl_conn_key key = {};
	struct ssl_conn *conn;
	__u64 head[2] = {}, n;
	__u16 port;
	int dir;

	e->skipped_calls = 0;
	e->skipped_bytes = 0;
	if ((prefix_count == 0 && port_count == 0 && !headers_only) || e->fn == SSL_FN_DO_HANDSHAKE)
		return true;
	key.tgid = e->pid;
	key.ssl = e->ssl;
	conn = bpf_map_lookup_elem(&conns, &key);
	if (port_count > 0) {
		port = conn ? conn->port : 0;
		if (port == 0) {
			/* Learnt from the first call that reached the socket; until then the calls are filtered. */
			port = sock_fd ? port_state(sock_fd - 1) : 0;
			if (port == 0) {
				count(&counters, SSL_COUNTER_NO_SOCKET);
				count(&counters, SSL_COUNTER_FILTERED);
				return false;
			}
			if (conn)
				conn->port = port;
			else
				conn = remember(&key, port, 0);
		}
		if (port != 1) {
			count(&counters, SSL_COUNTER_FILTERED);
			return false;
		}
	}
	if (prefix_count == 0 && !headers_only)
		return true;
	n = e->length < sizeof(head) ? e->length : sizeof(head);
	barrier_var(n);
	if (n > sizeof(head))
		n = sizeof(head);
	/* A failed read leaves zeros, which start nothing (prefixes hold no NUL). */
	if (n > 0 && bpf_probe_read_user(head, n, (const void *)buf))
		head[0] = head[1] = 0;
	if (prefix_count > 0 && !(conn && conn->admitted)) {
		if (e->length == 0 || !starts_with_one(head, prefixes, prefix_count)) {
			count(&counters, SSL_COUNTER_FILTERED);
			return false;
		}
		if (conn)
			conn->admitted = 1;
		else
			conn = remember(&key, 0, 1);
	}
	if (!headers_only)
		return true;
	if (!conn)
		conn = remember(&key, 0, 0);
	if (!conn)
		return true; /* cannot remember it: record the call */
	dir = reads(e->fn) ? 0 : 1;
	if (e->length == 0 || !starts_with_one(head, starts, start_count)) {
		__sync_fetch_and_add(&conn->skipped_bytes[dir], e->length);
		__sync_fetch_and_add(&conn->skipped_calls[dir], 1);
		count(&counters, SSL_COUNTER_SKIPPED);
		return false;
	}
	e->skipped_bytes = conn->skipped_bytes[dir];
	e->skipped_calls = conn->skipped_calls[dir];
	conn->skipped_bytes[dir] = 0;
	conn->skipped_calls[dir] = 0;
	return true;
}

/* Port filter: the fd + 1 under a *tls.Conn whose net.Conn is a *net.TCPConn (Go's layout since 1.9:
 * Conn.conn's data word → netFD → poll.FD.Sysfd after the 16-byte fdMutex), or 0. Another net.Conn
 * gives a number that port_state checks is a socket before it reads a port. */
static __always_inline __u32 go_conn_fd(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	__s64 fd = -1;

	if (bpf_probe_read_user(&data, sizeof(data), (const void *)(conn + 8)) || !data)
		return 0;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (const void *)data) || !netfd)
		return 0;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)(netfd + 16)) || fd < 0 || fd >= (1 << 20))
		return 0;
	return fd + 1;
}

/* Port filter: the first read/write/send/recv syscall inside a traced call names its socket. */
static __always_inline int note_fd(__u64 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *call = bpf_map_lookup_elem(&calls, &id);

	if (call && call->sock_fd == 0 && fd < (1 << 20))
		call->sock_fd = fd + 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int fd_read(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_write")
int fd_write(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_readv")
int fd_readv(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_writev")
int fd_writev(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int fd_recvfrom(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_sendto")
int fd_sendto(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int fd_recvmsg(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int fd_sendmsg(struct trace_event_raw_sys_enter *ctx) { return note_fd(ctx->args[0]); }

#endif /* TRACEFLEET_SSL_FILTER_BPF_H */

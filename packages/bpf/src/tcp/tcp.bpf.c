// SPDX-License-Identifier: GPL-2.0
/* TCP connections (libbpf-tools tcplife and tcpconnlat) from one tracepoint, sock:inet_sock_set_state
 * (tp_btf: no kprobes or fentry on this kernel). A socket's first state change notes its birth in the
 * bounded "socks" map; the connecting task (entry into SYN_SENT, in connect()'s context) or the closing
 * task (FIN_WAIT1 or LAST_ACK, in close()'s context) names it; SYN_SENT -> ESTABLISHED is the connect
 * latency (a log2 histogram of µs); TCP_CLOSE sends the connection on the ring buffer with its bytes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "target.bpf.h"
#include "ringbuf_wakeup.bpf.h"
#include "tcp/tcp.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Set by user space before load. target_tgid 0: any process; target_comm "": any; family 0: both;
 * ports: a connection passes when its local or remote port is one of the first port_count. */
const volatile __u32 target_tgid = 0;
const volatile char target_comm[TRACEFLEET_COMM_LEN] = {};
const volatile __u16 target_family = 0;
const volatile __u32 port_count = 0;
const volatile __u16 ports[TCP_MAX_PORTS] = {};
const volatile __u64 max_events = 0;

__u64 events_taken = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_DEFAULT_MAX_SOCKETS);
	__type(key, __u64); /* struct sock * */
	__type(value, struct tcp_sock_info);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_hist);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCP_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The current task against the job's target: tgid, comm, pid set and cgroup (target.bpf.h). */
static __always_inline bool current_admitted(__u32 tgid, const char *comm)
{
	if (target_tgid && tgid != target_tgid)
		return false;
	if (target_comm[0] && !comm_equal(comm, target_comm))
		return false;
	return target_admits(tgid);
}

static __always_inline bool ports_admit(__u16 sport, __u16 dport)
{
	if (!port_count)
		return true;
#pragma unroll
	for (int i = 0; i < TCP_MAX_PORTS; i++) {
		if (i < port_count && (ports[i] == sport || ports[i] == dport))
			return true;
	}
	return false;
}

static __always_inline void name_current(struct tcp_sock_info *info, __u8 source)
{
	__u64 id = bpf_get_current_pid_tgid();

	info->pid = id >> 32;
	bpf_get_current_comm(info->comm, sizeof(info->comm));
	info->has_pid = 1;
	info->pid_source = source;
	info->admitted = current_admitted(info->pid, info->comm);
}

static __always_inline void add_connect(__u64 delta)
{
	__u32 zero = 0;
	struct tcp_hist *h = bpf_map_lookup_elem(&hist, &zero);
	__u64 slot = log2_u64(delta / 1000);

	if (!h)
		return;
	if (slot >= TCP_SLOTS)
		slot = TCP_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->total_ns, delta);
	count(&counters, TCP_COUNTER_CONNECTS);
}

static __always_inline void emit(const struct sock *sk, struct tcp_sock_info *info, __u16 family, __u16 sport, __u16 dport, __u64 now)
{
	struct tcp_event *e;

	count(&counters, TCP_COUNTER_CLOSED);
	if (__sync_fetch_and_add(&events_taken, 1) >= max_events) {
		count(&counters, TCP_COUNTER_OVER_BUDGET);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(&counters, TCP_COUNTER_DROPS);
		return;
	}
	e->start_ns = info->start_ns;
	e->end_ns = now;
	e->connect_ns = info->connect_ns;
	e->rx_bytes = BPF_CORE_READ((struct tcp_sock *)sk, bytes_received);
	e->tx_bytes = BPF_CORE_READ((struct tcp_sock *)sk, bytes_acked);
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	} else {
		/* The destination's type sets the size read: the whole in6_addr. */
		BPF_CORE_READ_INTO((struct in6_addr *)e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)e->daddr, sk, __sk_common.skc_v6_daddr);
	}
	e->pid = info->pid;
	e->sport = sport;
	e->dport = dport;
	e->family = family;
	e->active = info->syn_ns != 0;
	e->pid_source = info->pid_source;
	__builtin_memcpy(e->comm, info->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_wakeup_flags(&events));
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk, now;
	struct tcp_sock_info *info;
	__u16 family, sport, dport;
	bool born;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (target_family && family != target_family)
		return 0;
	/* inet_sport, not skc_num: TCP_CLOSE comes after inet_put_port() cleared skc_num (as the tracepoint's own sport). */
	sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	now = bpf_ktime_get_ns();

	/* A birth (connect(): CLOSE -> SYN_SENT; an accepted socket, cloned from its listener: LISTEN -> SYN_RECV)
	 * starts a fresh entry, whatever a socket freed at this address left; a socket first seen later below
	 * FIN_WAIT1 (ESTABLISHED mid-handshake) is followed from then (tcplife's birth); later states of a socket
	 * the job never saw born, and the listener's own LISTEN <-> CLOSE, are not followed. */
	born = (newstate == TCP_SYN_SENT && oldstate == TCP_CLOSE) || (newstate == TCP_SYN_RECV && oldstate == TCP_LISTEN);
	info = born ? NULL : bpf_map_lookup_elem(&socks, &key);
	if (!info) {
		if (newstate >= TCP_FIN_WAIT1) {
			if (newstate == TCP_CLOSE && oldstate != TCP_LISTEN)
				count(&counters, TCP_COUNTER_UNTRACKED);
			return 0;
		}
		struct tcp_sock_info fresh = {};

		fresh.start_ns = now;
		/* Refused: another CPU inserted it first (found below) or the map is full (counted). */
		bpf_map_update_elem(&socks, &key, &fresh, born ? BPF_ANY : BPF_NOEXIST);
		info = bpf_map_lookup_elem(&socks, &key);
		if (!info) {
			count(&counters, TCP_COUNTER_NO_START);
			return 0;
		}
	}

	if (newstate == TCP_SYN_SENT) {
		info->syn_ns = now;
		name_current(info, TCP_PID_CONNECT);
	} else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT && info->syn_ns) {
		info->connect_ns = now - info->syn_ns;
		if (info->admitted && ports_admit(sport, dport))
			add_connect(info->connect_ns);
	} else if ((newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) && !info->has_pid) {
		name_current(info, TCP_PID_CLOSE);
	}
	if (newstate != TCP_CLOSE)
		return 0;

	if (!info->has_pid)
		name_current(info, TCP_PID_CURRENT);
	if (info->admitted && ports_admit(sport, dport))
		emit(sk, info, family, sport, dport, now);
	bpf_map_delete_elem(&socks, &key);
	return 0;
}

/* Shared by tcp.bpf.c and the native addon (native/src/tcp_session.cc).
 * Fixed-width fields only; native/lib/tcp.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_TCP_H
#define TRACEFLEET_TCP_H

#include "limits.h"

#define TCP_SLOTS 27                  /* log2 microsecond slots of connect latency (bcc's 26, one open-ended) */
#define TCP_DEFAULT_MAX_SOCKETS 16384 /* sockets followed at once; user space resizes before load */
#define TCP_MAX_PORTS 8               /* ports of the port filter (local or remote) */

/* Where a connection's pid and comm come from (tcp_event.pid_source). */
#define TCP_PID_CONNECT 0 /* the task that called connect() (entry into SYN_SENT) */
#define TCP_PID_CLOSE 1   /* the task that called close() (entry into FIN_WAIT1 or LAST_ACK) */
#define TCP_PID_CURRENT 2 /* whoever ran at the final CLOSE (a reset or a timer: may be unrelated) */

/* Indices into the per-CPU "counters" array map. */
#define TCP_COUNTER_CLOSED 0      /* connections that closed and passed the filters */
#define TCP_COUNTER_CONNECTS 1    /* active connects measured (SYN_SENT -> ESTABLISHED) and put in the histogram */
#define TCP_COUNTER_NO_START 2    /* sockets the full "socks" map refused: their lifetime is not measured */
#define TCP_COUNTER_UNTRACKED 3   /* closes of sockets not followed: born before the job, or refused (NO_START) */
#define TCP_COUNTER_OVER_BUDGET 4 /* connections past max_events: counted, not streamed */
#define TCP_COUNTER_DROPS 5       /* ring buffer reserve failed */
#define TCP_COUNTER_MAX 6

/* One connection, sent when it reaches TCP_CLOSE. Addresses are in network order (IPv4 in the first 4
 * bytes), ports in host order. */
struct tcp_event {
	__u64 start_ns;   /* bpf_ktime_get_ns at its first state change (SYN_SENT, SYN_RECV or ESTABLISHED) */
	__u64 end_ns;     /* at TCP_CLOSE */
	__u64 connect_ns; /* SYN_SENT -> ESTABLISHED; 0 for a passive socket or a connect that failed */
	__u64 rx_bytes;   /* tcp_sock.bytes_received */
	__u64 tx_bytes;   /* tcp_sock.bytes_acked */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pid;        /* tgid */
	__u16 sport;
	__u16 dport;
	__u16 family;     /* AF_INET or AF_INET6 */
	__u8 active;      /* 1: this side connected */
	__u8 pid_source;  /* TCP_PID_* */
	char comm[TRACEFLEET_COMM_LEN];
};

/* Value of the "socks" hash map, keyed by the struct sock pointer. */
struct tcp_sock_info {
	__u64 start_ns;
	__u64 syn_ns;     /* entry into SYN_SENT; 0: passive */
	__u64 connect_ns;
	__u32 pid;
	__u8 has_pid;     /* pid and comm are set */
	__u8 pid_source;
	__u8 admitted;    /* the task named passed the target filters */
	__u8 pad;
	char comm[TRACEFLEET_COMM_LEN];
};

/* The connect-latency histogram (one array entry): slot i counts connects of [2^i, 2^(i+1)) us. */
struct tcp_hist {
	__u64 slots[TCP_SLOTS];
	__u64 total_ns;
};

#endif /* TRACEFLEET_TCP_H */

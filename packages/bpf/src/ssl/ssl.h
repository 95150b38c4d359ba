/* Shared by ssl.bpf.c and the native addon (native/src/ssl_event.h).
 * Fixed-width fields only; native/lib/layout.spec.ts checks sizes and offsets. */
#ifndef TRACEFLEET_SSL_H
#define TRACEFLEET_SSL_H

#include "limits.h"
#include "python/python.h"

#define SSL_MAX_DATA 16384         /* most plaintext bytes copied per call: one TLS record */
#define SSL_DATA_CHUNK 4096        /* copied in SSL_MAX_DATA / SSL_DATA_CHUNK bounded reads */
#define SSL_MAX_CALLS 16384        /* threads inside a traced call at once (LRU) */
#define SSL_MAX_PIDS 4096          /* entries of the tgid filter map */
#define SSL_MAX_EXCLUDED 64        /* entries of the excluded-tgid map */
#define SSL_MAX_NSS 4096           /* processes whose NSS SSL layer (libssl3.so's mapping) the agent gave */
#define SSL_NEST_MAX_AGE_NS 10000000000ULL /* an older saved call of the thread is stale, not an outer one */
#define SSL_MAX_CONNS 16384        /* connections the content filter and headers-only mode remember (LRU) */
#define SSL_MAX_PREFIXES 16        /* byte strings of the content filter; also of the message starts */
#define SSL_PREFIX_BYTES 16        /* the longest of them */
#define SSL_MAX_PORTS 16           /* ports of the port filter */

/* Function ids: the low 8 bits of the attach cookie (the rest is the attachment id). */
#define SSL_FN_READ 1
#define SSL_FN_WRITE 2
#define SSL_FN_READ_EX 3
#define SSL_FN_WRITE_EX 4
#define SSL_FN_DO_HANDSHAKE 5
#define SSL_FN_GNUTLS_RECV 6 /* gnutls_record_recv(session, data, size): ssize_t, like SSL_read */
#define SSL_FN_GNUTLS_SEND 7 /* gnutls_record_send(session, data, size) */
#define SSL_FN_GO_READ 8     /* crypto/tls.(*Conn).Read(b []byte) (n int, err error), Go's register ABI */
#define SSL_FN_GO_WRITE 9    /* crypto/tls.(*Conn).Write */
#define SSL_FN_NSS_READ 10   /* NSPR's PR_Read(fd, buf, amount): PRInt32, on an NSS SSL layer fd */
#define SSL_FN_NSS_WRITE 11  /* PR_Write(fd, buf, amount) */
#define SSL_FN_NSS_RECV 12   /* PR_Recv(fd, buf, amount, flags, timeout) */
#define SSL_FN_NSS_SEND 13   /* PR_Send(fd, buf, amount, flags, timeout) */
#define SSL_FN_MAX 14
#define SSL_COOKIE_FN_BITS 8

/* ssl_event.flags */
#define SSL_FLAG_TRUNCATED 1  /* length > max_data_bytes: data holds the first max_data_bytes */
#define SSL_FLAG_READ_ERROR 2 /* a user memory read failed: data_len < min(length, max_data_bytes), or length unknown (0) */

/* Indices into the per-CPU "counters" array map. */
#define SSL_COUNTER_EVENTS_SEEN 0    /* returns of calls that passed the filter at entry and the content filter (records made or dropped) */
#define SSL_COUNTER_KERNEL_DROPS 1   /* bpf_ringbuf_output failed (ring full) */
#define SSL_COUNTER_ORPHAN_RETURNS 2 /* a return of a filtered-in process with no saved call of that function */
#define SSL_COUNTER_NESTED 3         /* entries inside an outer traced call of the thread (only the outer is recorded) */
#define SSL_COUNTER_READ_ERRORS 4    /* records with SSL_FLAG_READ_ERROR */
#define SSL_COUNTER_FILTERED 5       /* calls of connections the content filter has not admitted: not copied */
#define SSL_COUNTER_SKIPPED 6        /* headers_only: calls that start no message: not copied */
#define SSL_COUNTER_NO_SOCKET 7      /* port filter: calls of a connection whose socket is not known yet (in FILTERED too) */
#define SSL_COUNTER_MAX 8

/* One ring buffer record is this header, then data_len plaintext bytes, then (padding the data to
 * a multiple of 8) stack_bytes bytes of user stack: leaf first __u64 addresses, then py_frames_count
 * (when > 0) Python frame words (python.h: innermost first, code object | PY_FRAME_ENTRY). Records are
 * only as long as that, so a 100-byte call does not take 16 KiB of ring. */
struct ssl_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns at the return */
	__u64 latency_ns; /* return - entry */
	__u64 ssl;        /* the SSL * (gnutls_session_t) argument: the connection */
	__s64 ret;        /* the return value: OpenSSL's int sign-extended, GnuTLS's ssize_t whole */
	__u64 length;     /* bytes moved: ret > 0 for SSL_read/SSL_write and gnutls_record_recv/send, the size_t at readbytes/written for _ex when ret == 1, else 0 */
	__u32 pid;        /* tgid */
	__u32 tid;
	char comm[TRACEFLEET_COMM_LEN];
	__u32 fn;         /* SSL_FN_* */
	__u32 attach_id;  /* the attachment (user space's id) whose return probe fired */
	__u32 data_len;   /* plaintext bytes following the header */
	__u32 flags;      /* SSL_FLAG_* */
	__s32 stack_bytes; /* user stack bytes after the data (multiple of 8), a negative errno, or 0 without capture */
	/* With capture_stacks and python_enabled: Python frames after the stack (python.h), their number, 0 for
	 * a process that is not a known Python process, or a PY_ERR_*; py_truncated: the chain went on past
	 * the last slot. */
	__s16 py_frames_count;
	__u16 py_truncated;
	/* headers_only: calls of this connection and direction skipped since its previous record, and
	 * the bytes they moved (before this record's data in the stream). */
	__u32 skipped_calls;
	__u32 pad;
	__u64 skipped_bytes;
};

/* A byte string the first bytes of a call are compared with: the bytes of value under mask (0xff per
 * byte of the string, little-endian words). */
struct ssl_prefix {
	__u64 value[2];
	__u64 mask[2];
};

/* Value of the "nss_layers" hash (key: tgid): where the process maps NSS's libssl3.so. A PRFileDesc
 * whose methods table lies there is an SSL layer; PR_Read and friends on other descriptors (files,
 * plain sockets) are not TLS and are ignored. */
struct ssl_nss_range {
	__u64 lo;
	__u64 hi;
};

/* Key and value of the "conns" LRU hash: what the content filter and headers-only mode remember of
 * a connection (the SSL *, gnutls_session_t or Go *tls.Conn) of a process. */
struct ssl_conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct ssl_conn {
	__u64 skipped_bytes[2]; /* [0] read, [1] write */
	__u32 skipped_calls[2];
	__u16 admitted;         /* a call matched the content filter */
	__u16 port;             /* port filter: 0 not known yet, 1 a port matches, 2 none does */
	__u32 pad;
};

/* Key of the "go_calls" LRU hash: a goroutine (its g, %r14 in Go's register ABI) of a process. A
 * goroutine parked in Read may resume on another thread, so the thread cannot key its call. */
struct ssl_go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

/* Value of the "calls" LRU hash (key: pid_tgid): what the entry probe hands to the return probe
 * of the same call. User space reads it only to forget the calls of attachments it detaches. */
struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 num;
	__u64 lenptr; /* size_t *readbytes / *written of the _ex functions */
	__u64 ts_ns;
	__u64 cookie; /* the entry probe's attach cookie */
	__u32 depth;  /* traced calls of this thread under way inside this one */
	__u32 sock_fd; /* port filter: fd + 1 of the call's first read/write/send/recv syscall (Go: of its net.Conn); 0: none */
};

#endif /* TRACEFLEET_SSL_H */

// Small pure helpers of the ssl-capture run: names, sizes and the clock offset.
import type { SslFunctionName, SslRawEvent } from '@tracefleet/native';
import type { Origin } from '../../lib/proc';
import type { StringTable } from '../string-table';
import { SslDirection, SslFunction, type SslEvent } from '@tracefleet/proto';
import type { SslProbeSites } from '../../probes/placement';

export const FUNCTION: Record<SslFunctionName, SslFunction> = {
  SSL_read: SslFunction.SSL_FUNCTION_READ,
  SSL_write: SslFunction.SSL_FUNCTION_WRITE,
  SSL_read_ex: SslFunction.SSL_FUNCTION_READ_EX,
  SSL_write_ex: SslFunction.SSL_FUNCTION_WRITE_EX,
  SSL_do_handshake: SslFunction.SSL_FUNCTION_DO_HANDSHAKE,
  gnutls_record_recv: SslFunction.SSL_FUNCTION_GNUTLS_RECORD_RECV,
  gnutls_record_send: SslFunction.SSL_FUNCTION_GNUTLS_RECORD_SEND,
  'crypto/tls.(*Conn).Read': SslFunction.SSL_FUNCTION_GO_TLS_READ,
  'crypto/tls.(*Conn).Write': SslFunction.SSL_FUNCTION_GO_TLS_WRITE,
  PR_Read: SslFunction.SSL_FUNCTION_NSS_PR_READ,
  PR_Write: SslFunction.SSL_FUNCTION_NSS_PR_WRITE,
  PR_Recv: SslFunction.SSL_FUNCTION_NSS_PR_RECV,
  PR_Send: SslFunction.SSL_FUNCTION_NSS_PR_SEND,
};

export function directionOf(fn: SslFunctionName): SslDirection {
  if (fn === 'SSL_read' || fn === 'SSL_read_ex' || fn === 'gnutls_record_recv' || fn === 'crypto/tls.(*Conn).Read' || fn === 'PR_Read' || fn === 'PR_Recv') return SslDirection.SSL_DIRECTION_READ;
  if (fn === 'SSL_write' || fn === 'SSL_write_ex' || fn === 'gnutls_record_send' || fn === 'crypto/tls.(*Conn).Write' || fn === 'PR_Write' || fn === 'PR_Send') return SslDirection.SSL_DIRECTION_WRITE;
  return SslDirection.SSL_DIRECTION_HANDSHAKE;
}

/** Ring buffer for a per-call capture of maxDataBytes: room for a burst of ~256 full records (stacks: user stack and Python frames), 4 to 32 MiB. */
export function sslRingBytes(maxDataBytes: number, stacks: boolean): number {
  const want = 256 * (maxDataBytes + 104 + (stacks ? 2048 : 0));
  let bytes = 4 << 20;
  while (bytes < want && bytes < 32 << 20) bytes *= 2;
  return bytes;
}

/** "SSL_read in /usr/lib/x86_64-linux-gnu/libssl.so.3 (OpenSSL): entry +22 (js rel8), return +56 (jne rel32)" */
export function describeSites(path: string, s: SslProbeSites, label?: string): string {
  const entry = `entry +${s.entry.delta} (${s.entry.instruction}${s.entry.emulated ? '' : ', single-stepped'})`;
  // The fallback's reason (why no return site was proven) is long: the agent's log has it.
  const ret =
    s.ret.kind === 'uprobe'
      ? `return +${s.ret.delta} (${s.ret.instruction})${s.moreReturns?.length ? ` and ${s.moreReturns.length} more ret site(s)` : ''}`
      : `return by uretprobe at +${s.ret.delta} (${s.ret.instruction}${s.ret.emulated ? '' : ', single-stepped'})`;
  return `${s.fn} in ${path}${label ? ` (${label})` : ''}: ${entry}, ${ret}`;
}

/** CLOCK_MONOTONIC (bpf_ktime_get_ns, process.hrtime) to the wall clock, in ns, measured once per run. */
export function measureClockOffset(): bigint {
  const before = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * 1_000_000n;
  const after = process.hrtime.bigint();
  return wall - (before + after) / 2n;
}

/** An event made ready to send. */
export interface Prepared {
  raw: SslRawEvent;
  data: Buffer;
  truncated: boolean;
  redactions: number;
  /** Named as the event arrives: a short-lived client may be gone (its maps with it) by the next flush. */
  stack: string[];
  /** Where its process runs, read as the event arrives for the same reason. */
  origin: Origin | undefined;
}

/** The SslEvent of a prepared call: frames interned into the batch's `table`, `origin` its index + 1 into the batch's origins. */
export function toSslEvent(p: Prepared, table: StringTable, origin: number, clockOffsetNs: bigint, binary: string): SslEvent {
  const e = p.raw;
  return {
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    function: FUNCTION[e.fn] ?? SslFunction.SSL_FUNCTION_UNSPECIFIED,
    direction: directionOf(e.fn),
    ret: BigInt(e.ret),
    length: BigInt(Math.max(0, e.length)),
    latencyNs: BigInt(Math.max(0, Math.round(e.latencyNs))),
    sslPtr: e.ssl,
    tsNs: e.tsNs,
    atUnixNs: e.tsNs + clockOffsetNs,
    data: p.data,
    truncated: p.truncated,
    redactions: p.redactions,
    stack: p.stack.map((f) => table.intern(f)),
    binary,
    origin,
    ...(e.skippedCalls > 0 ? { skippedCalls: e.skippedCalls, skippedBytes: BigInt(Math.max(0, e.skippedBytes)) } : {}),
  };
}

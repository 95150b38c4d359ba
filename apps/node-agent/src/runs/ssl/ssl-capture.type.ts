import { SslTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { TRACEFLEET_MAX_STACK_DEPTH } from '../../lib/kernel-limits';
import { mapBytes, pythonPrivateBytes, unwindPrivateBytes } from '../kernel-memory';
import { TRACEFLEET_MAX_PY_FRAMES } from '../python/layout';
import type { RunType } from '../run-type';
import { SslCaptureRun, type SslNativeParts } from './ssl-capture.run';

/**
 * The estimate's ring buffer: the native default, 8 MiB. SslCaptureRun sizes its own by maxDataBytes
 * and userStacks (sslRingBytes: 4 to 32 MiB), which the estimate does not follow yet.
 */
const RING_BYTES = 8 << 20;

/**
 * ssl.bpf.c (ssl.h): events ring buffer, calls in flight (LRU, by thread; go_calls: Go's, by goroutine), pid filter, excluded pids, a per-CPU record scratch
 * (header + 16 KiB + stack + Python frames), and python.bpf.h's maps (the callers' Python frames with userStacks).
 */
export function sslCaptureKernelBytes(): number {
  const scratch = 64 + 16384 + TRACEFLEET_MAX_STACK_DEPTH * 8 + TRACEFLEET_MAX_PY_FRAMES * 8;
  return (
    mapBytes.ringbuf(RING_BYTES) +
    mapBytes.hash(16384, 8, 56) +
    mapBytes.hash(16384, 16, 56) +
    mapBytes.hash(4096, 4, 1) +
    mapBytes.hash(64, 4, 1) +
    mapBytes.percpuArray(1, scratch) +
    mapBytes.percpuArray(5, 8) +
    mapBytes.global() +
    unwindPrivateBytes() +
    pythonPrivateBytes()
  );
}

export const sslCaptureRunType: RunType<'sslCapture', 'ssl-capture', SslNativeParts> = {
  jobType: 'ssl-capture',
  // Uprobes on OpenSSL, GnuTLS and Go's crypto/tls (found per target at run time) and the ssl.bpf.o object.
  available: (host) => host.btf && host.objectBuilt('ssl'),
  // An agent from before these would capture whole calls of every connection from a job that asks for less.
  features: ['filters'],
  kernelBytes: () => sslCaptureKernelBytes(),
  // Plaintext leaves the node only where its owner said so (policy.ts's allowSslCapture, allowRedactionOff).
  admit: (spec, policy) => {
    if (!policy.allowSslCapture) return "this node's policy does not allow TLS plaintext capture (allowSslCapture: false)";
    if (spec?.redactionOff && !policy.allowRedactionOff) return "this node's policy does not allow ssl-capture with redaction off (allowRedactionOff: false)";
    return undefined;
  },
  batches: { sslEvents: {} },
  native: () => ({ createSslTracer: (opts) => new SslTracer({ objectPath: objectPath('ssl'), ...opts }) }),
  create: (...a) => new SslCaptureRun(...a),
};

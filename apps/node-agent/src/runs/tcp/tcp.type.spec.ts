import { describe, it } from 'node:test';
import { TcpTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { tcpKernelBytes, tcpRingBytes } from './tcp.type';

describe('tcp kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  it('tcp, at several maxSockets and maxEvents', () => {
    for (const [maxSockets, maxEvents] of [[1024, 100], [16_384, 10_000], [262_144, 200_000]] as const) {
      assertClose(
        tcpKernelBytes(maxSockets, maxEvents),
        measure(() => new TcpTracer({ objectPath: objectPath('tcp'), pid: process.pid, maxSockets, maxEvents, ringBufferBytes: tcpRingBytes(maxEvents), onEvents: () => undefined })),
        `tcp maxSockets=${maxSockets} maxEvents=${maxEvents}`,
      );
    }
  });
});

import { before, describe, it } from 'node:test';
import { ExecOpenTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { execOpenKernelBytes, execOpenRingBytes } from './exec-open.type';

describe('exec-open kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());
  it('exec-open: both, execs only, opens only, at several maxEvents', () => {
    for (const [exec, open, maxEvents] of [[true, true, 100], [true, false, 10_000], [false, true, 200_000]] as const) {
      assertClose(
        execOpenKernelBytes(exec, open, maxEvents),
        measure(() => new ExecOpenTracer({ objectPath: objectPath('execopen'), pid: process.pid, exec, open, maxEvents, ringBufferBytes: execOpenRingBytes(maxEvents), onEvents: () => undefined })),
        `exec-open exec=${exec} open=${open} maxEvents=${maxEvents}`,
      );
    }
  });
});

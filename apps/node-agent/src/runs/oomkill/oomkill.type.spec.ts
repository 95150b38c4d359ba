import { describe, it } from 'node:test';
import { OomkillTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { oomkillKernelBytes } from './oomkill.type';
import { oomkillRingBytes } from './oomkill.run';

describe('oomkill kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  it('oomkill, at several maxEvents', () => {
    for (const maxEvents of [0, 1000, 100_000]) {
      assertClose(
        oomkillKernelBytes(maxEvents),
        measure(() => new OomkillTracer({ objectPath: objectPath('oomkill'), maxEvents, ringBufferBytes: oomkillRingBytes(maxEvents), onEvents: () => undefined })),
        `oomkill maxEvents=${maxEvents}`,
      );
    }
  });
});

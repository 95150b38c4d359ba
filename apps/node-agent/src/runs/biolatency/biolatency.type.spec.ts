import { describe, it } from 'node:test';
import { BiolatencyTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { PER_DISK_HISTS, PER_PROCESS_HISTS } from './biolatency.run';
import { biolatencyKernelBytes } from './biolatency.type';

describe('biolatency kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  it('biolatency, at several maxRequests, per disk and per process', () => {
    for (const [maxRequests, perProcess] of [[1024, false], [10_240, false], [10_240, true], [262_144, true]] as const) {
      assertClose(
        biolatencyKernelBytes(maxRequests, perProcess),
        measure(() => new BiolatencyTracer({ objectPath: objectPath('biolatency'), maxRequests, perProcess, maxHists: perProcess ? PER_PROCESS_HISTS : PER_DISK_HISTS })),
        `biolatency maxRequests=${maxRequests} perProcess=${perProcess}`,
      );
    }
  });
});

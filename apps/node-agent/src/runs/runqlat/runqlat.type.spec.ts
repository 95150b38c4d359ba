import { describe, it } from 'node:test';
import { RunqlatTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { runqlatKernelBytes } from './runqlat.type';

describe('runqlat kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  it('runqlat, at several maxTasks, with and without perCgroup', () => {
    for (const [maxTasks, perCgroup] of [[1024, false], [10_240, false], [10_240, true], [262_144, true]] as const) {
      assertClose(
        runqlatKernelBytes(maxTasks, perCgroup),
        measure(() => new RunqlatTracer({ objectPath: objectPath('runqlat'), pid: process.pid, maxTasks, perCgroup })),
        `runqlat maxTasks=${maxTasks} perCgroup=${perCgroup}`,
      );
    }
  });
});

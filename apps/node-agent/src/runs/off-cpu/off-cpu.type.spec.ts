import { describe, it } from 'node:test';
import { OffCpuTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { offCpuKernelBytes } from './off-cpu.type';

describe('off-cpu kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  it('off-cpu, at several maxTasks, with and without kernel stacks (user_stacks as created: empty)', () => {
    for (const [maxTasks, kernelStacks] of [[1024, true], [10_240, true], [10_240, false], [262_144, true]] as const) {
      assertClose(
        offCpuKernelBytes(maxTasks, kernelStacks, false),
        measure(() => new OffCpuTracer({ objectPath: objectPath('offcpu'), pid: process.pid, maxTasks, kernelStacks })),
        `off-cpu maxTasks=${maxTasks} kernelStacks=${kernelStacks}`,
      );
    }
  });
});

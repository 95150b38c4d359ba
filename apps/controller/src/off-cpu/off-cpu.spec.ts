import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { jobTypeDef } from '../job-types/registry';
import { typeParams } from '../jobs/job-spec';
import type { CreateJobDto } from '../jobs/dto/create-job.dto';
import { OFF_CPU } from './off-cpu.type';

const base = { type: 'off-cpu', durationSec: 5, target: { pid: 42 }, nodes: 'all' } as unknown as CreateJobDto;
const says = (re: RegExp) => (e: BadRequestException) => re.test(JSON.stringify(e.getResponse()));

describe('off-cpu job type', () => {
  it('is registered by its name and its database name', () => {
    assert.equal(jobTypeDef('off-cpu'), OFF_CPU);
    assert.equal(jobTypeDef('off_cpu'), OFF_CPU);
  });

  it('defaults to blocks of 1 µs and more with kernel stacks; checks its fields again, naming them', () => {
    assert.deepEqual(typeParams(base), { minBlockUs: 1, kernelStacks: true, wallClockHz: 0 });
    assert.deepEqual(typeParams({ ...base, minBlockUs: 5000, kernelStacks: false, wallClockHz: 99 } as CreateJobDto), { minBlockUs: 5000, kernelStacks: false, wallClockHz: 99 });
    for (const bad of [-1, 1001, 2.5, '99'] as unknown[]) {
      assert.throws(() => OFF_CPU.params({ ...base, wallClockHz: bad } as never), says(/wallClockHz must be an integer in \[0, 1000\]/), String(bad));
    }
    for (const bad of [0, -1, 1.5, 3_600_000_001, '9'] as unknown[]) {
      assert.throws(() => OFF_CPU.params({ ...base, minBlockUs: bad } as never), says(/minBlockUs must be an integer/), String(bad));
    }
    assert.throws(() => OFF_CPU.params({ ...base, kernelStacks: 'yes' } as never), says(/kernelStacks must be a boolean/));
    assert.throws(() => typeParams({ ...base, type: 'cpu-profile', minBlockUs: 10 } as unknown as CreateJobDto), says(/minBlockUs applies only to off-cpu/));
  });

  it('starts runs with its spec; its flame graph counts µs', () => {
    assert.deepEqual(OFF_CPU.spec({ minBlockUs: 250, kernelStacks: false, wallClockHz: 49 }), { $case: 'offCpu', value: { minBlockUs: 250n, skipKernelStacks: true, maxTasks: 0, wallClockHz: 49 } });
    // Jobs stored before wallClockHz existed: off.
    assert.equal((OFF_CPU.spec({ minBlockUs: 1, kernelStacks: true }).value as { wallClockHz: number }).wallClockHz, 0);
    assert.match(OFF_CPU.flameGraph({ id: 'abcdef0123', status: 'completed', params: { durationSec: 3, wallClockHz: 99 } }, 'n1', 5n).title, /^Wall-clock time · job abcdef01$/);
    const t = OFF_CPU.flameGraph({ id: 'abcdef0123', status: 'completed', params: { durationSec: 3, minBlockUs: 250 } }, '2 nodes', 2_500_000n);
    assert.equal(t.title, 'Off-CPU time · job abcdef01');
    assert.equal(t.subtitle, '2 nodes · 2,500,000 µs blocked (blocks ≥ 250 µs) · 3 s · completed');
    assert.equal(t.countName, 'µs');
    assert.deepEqual(OFF_CPU.links('/api/v1/jobs/x'), { flamegraphSvg: '/api/v1/jobs/x/flamegraph.svg', flamegraphFolded: '/api/v1/jobs/x/flamegraph.folded' });
  });
});

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { UsdtTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { readUsdtProbes } from '../../usdt/stapsdt';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { usdtKernelBytes } from './usdt.type';

describe('usdt kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  it('usdt', () => {
    const python = '/usr/bin/python3.11';
    const probe = readUsdtProbes(python).find((p) => p.provider === 'python' && p.name === 'gc__start');
    assert.ok(probe, `${python} has no python:gc__start probe`);
    const real = measure(() => new UsdtTracer({ objectPath: objectPath('usdt'), probes: [{ path: python, provider: 'python', name: 'gc__start', probe: 0 }], maxEvents: 10, onEvents: () => undefined }));
    assertClose(usdtKernelBytes(), real, 'usdt');
  });
});

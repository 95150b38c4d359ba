import { describe, it, before } from 'node:test';
import { Profiler } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { cpuProfileKernelBytes } from './cpu-profile.type';

describe('cpu-profile kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  it('cpu-profile', () => {
    assertClose(cpuProfileKernelBytes(), measure(() => new Profiler({ objectPath: objectPath('profile'), frequencyHz: 99, targetPid: process.pid, onSamples: () => undefined }), true), 'cpu-profile');
  });
});

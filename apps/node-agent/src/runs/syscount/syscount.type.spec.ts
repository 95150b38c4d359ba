import { describe, it, before } from 'node:test';
import { SyscountTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { syscountKernelBytes } from './syscount.type';

describe('syscount kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  it('syscount, at several maxKeys', () => {
    for (const maxKeys of [1024, 16_384, 262_144]) {
      assertClose(syscountKernelBytes(maxKeys), measure(() => new SyscountTracer({ objectPath: objectPath('syscount'), pid: process.pid, maxKeys })), `syscount maxKeys=${maxKeys}`);
    }
  });
});

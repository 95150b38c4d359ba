import { describe, it, before } from 'node:test';
import { SslTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { sslCaptureKernelBytes } from './ssl-capture.type';

describe('ssl-capture kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  it('ssl-capture', () => {
    assertClose(sslCaptureKernelBytes(), measure(() => new SslTracer({ objectPath: objectPath('ssl'), maxDataBytes: 4096, comm: 'tf-none', onEvents: () => undefined })), 'ssl-capture');
  });
});

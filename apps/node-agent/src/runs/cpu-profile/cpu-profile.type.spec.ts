import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { Profiler } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../../lib/tracefs';
import { mapBytes } from '../kernel-memory';
import { assertClose, measure } from '../kernel-memory-spec-support';
import { cpuProfileKernelBytes } from './cpu-profile.type';
import { MAX_PROFILE_RING_BYTES, profileRingBytes } from './ring-bytes';

describe('cpu-profile kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  const open = (frequencyHz: number) => () =>
    new Profiler({ objectPath: objectPath('profile'), frequencyHz, ringBufferBytes: profileRingBytes(frequencyHz), targetPid: process.pid, onSamples: () => undefined });

  it('cpu-profile with the largest ring', () => {
    // 10 % of the total is the margin: with the largest ring it covers py_procs, which the estimate counts full.
    const hz = 1000;
    assert.equal(profileRingBytes(hz, 2), MAX_PROFILE_RING_BYTES);
    assertClose(cpuProfileKernelBytes(hz), measure(open(hz), true), `cpu-profile ${hz} Hz`);
  });

  it('the ring a 99 Hz run gets (sized by rate)', () => {
    const real = measure(open(99), true);
    const events = real.maps.find((m) => m.name === 'events');
    assert.ok(events, `no events map: ${real.maps.map((m) => m.name).join(', ')}`);
    assertClose(mapBytes.ringbuf(profileRingBytes(99)), { total: events.bytes_memlock, maps: [events] }, 'cpu-profile events ring at 99 Hz');
    // The rest is what it was with the largest ring.
    assert.ok(cpuProfileKernelBytes(99) - mapBytes.ringbuf(profileRingBytes(99)) >= real.total - events.bytes_memlock, 'the maps besides the ring are not under-estimated');
  });
});

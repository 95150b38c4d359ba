import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyscountTracer, layouts } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { targetPidsBytes } from './kernel-memory';
import { TRACEFLEET_MAX_TARGET_PIDS } from '../lib/kernel-limits';
import { assertClose, measure, type MapInfo } from './kernel-memory-spec-support';

/** The target_pids map of a syscount object (the smallest that has one) made with `targetPids`, after `fill` tgids. */
function targetPidsMap(targetPids: boolean, fill: number): MapInfo {
  const real = measure(() => {
    const tracer = new SyscountTracer({ objectPath: objectPath('syscount'), targetPids });
    for (let pid = 1; pid <= fill; pid++) tracer.addTargetPid(pid);
    return tracer;
  });
  const map = real.maps.find((m) => m.name === 'target_pids');
  assert.ok(map, `no target_pids map among ${real.maps.map((m) => m.name).join(', ')}`);
  return map;
}

describe('target.bpf.h pid set: kernel memory estimate against the kernel (bpftool bytes_memlock)', () => {
  it('mirrors the limit the addon was built with', () => {
    assert.equal(TRACEFLEET_MAX_TARGET_PIDS, layouts().limits.TRACEFLEET_MAX_TARGET_PIDS);
  });

  it('with targetPids: the full set, as the estimate counts it', () => {
    const map = targetPidsMap(true, TRACEFLEET_MAX_TARGET_PIDS);
    assertClose(targetPidsBytes(true), { total: map.bytes_memlock, maps: [map] }, 'target_pids full');
  });

  it('with targetPids, empty: the bucket array only, within the estimate', () => {
    const map = targetPidsMap(true, 0);
    assert.ok(map.bytes_memlock <= targetPidsBytes(true), `${map.bytes_memlock} > ${targetPidsBytes(true)}`);
    assert.ok(map.bytes_memlock >= TRACEFLEET_MAX_TARGET_PIDS * 16, `the bucket array is missing: ${map.bytes_memlock}`);
  });

  it('without targetPids: shrunk to one entry, a map overhead at most', () => {
    const map = targetPidsMap(false, 0);
    assert.ok(map.bytes_memlock <= targetPidsBytes(false), `${map.bytes_memlock} > ${targetPidsBytes(false)}`);
  });
});

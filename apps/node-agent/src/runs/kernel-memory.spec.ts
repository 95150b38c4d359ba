import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { MemleakTracer, Profiler, SslTracer, SyscountTracer, UsdtTracer } from '@tracefleet/native';
import { objectPath } from '@tracefleet/bpf';
import { ensureTracefs } from '../host';
import { readUsdtProbes } from '../usdt/stapsdt';
import { cpuProfileKernelBytes, mapBytes, memleakKernelBytes, sslCaptureKernelBytes, syscountKernelBytes, usdtKernelBytes } from './kernel-memory';

interface MapInfo {
  id: number;
  name: string;
  type: string;
  bytes_memlock: number;
}

/** The BPF maps this process holds, as the kernel accounts them (bpftool's bytes_memlock). */
function ownMaps(): Map<number, MapInfo> {
  const ids = new Set<number>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed meanwhile
    }
    if (link !== 'anon_inode:bpf-map') continue;
    const m = /map_id:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (m) ids.add(Number(m[1]));
  }
  return new Map([...ids].map((id) => [id, JSON.parse(execFileSync('bpftool', ['map', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })) as MapInfo]));
}

/** Kernel memory of the maps `open` creates (a tracer that loads only at start() is started). */
function measure(open: () => { start?: () => void; close(): void }, loadsAtStart = false): { total: number; maps: MapInfo[] } {
  const before = ownMaps();
  const t = open();
  try {
    if (loadsAtStart) t.start!();
    const maps = [...ownMaps().values()].filter((m) => !before.has(m.id));
    assert.ok(maps.length > 0, 'the tracer created no map this process holds');
    return { total: maps.reduce((s, m) => s + m.bytes_memlock, 0), maps };
  } finally {
    t.close();
  }
}

/** The estimate may not be below what the kernel accounts, and not far above it (it is a limit's input). */
function assertClose(estimate: number, real: { total: number; maps: MapInfo[] }, what: string): void {
  const detail = `${what}: estimate ${estimate}, kernel ${real.total} (${real.maps.map((m) => `${m.name} ${m.bytes_memlock}`).join(', ')})`;
  assert.ok(estimate >= real.total, `under-estimated: ${detail}`);
  assert.ok(estimate <= real.total * 1.1 + 128 * 1024, `over-estimated by more than 10 % + 128 KiB: ${detail}`);
}

describe('kernel memory estimates against the kernel (bpftool bytes_memlock)', () => {
  before(() => ensureTracefs());

  it('memleak, kernel mode, at several maxAllocs: the allocs map dominates (~80 B an entry + 16 B a bucket)', () => {
    for (const maxAllocs of [1000, 100_000, 1_000_000]) {
      const real = measure(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'kernel', maxAllocs }));
      assertClose(memleakKernelBytes(maxAllocs), real, `memleak maxAllocs=${maxAllocs}`);
      const allocs = real.maps.find((m) => m.name === 'allocs')!;
      assert.ok(Math.abs(mapBytes.hash(maxAllocs, 8, 24) - allocs.bytes_memlock) < 8192, `allocs map: kernel ${allocs.bytes_memlock}, model ${mapBytes.hash(maxAllocs, 8, 24)}`);
    }
  });

  it('memleak, user mode: the same maps, allocated as they fill; the estimate is their ceiling', () => {
    const real = measure(() => new MemleakTracer({ objectPath: objectPath('memleak'), mode: 'user', pid: process.pid, maxAllocs: 100_000 }));
    assert.ok(memleakKernelBytes(100_000) >= real.total, `estimate ${memleakKernelBytes(100_000)} < kernel ${real.total}`);
  });

  it('cpu-profile', () => {
    assertClose(cpuProfileKernelBytes(), measure(() => new Profiler({ objectPath: objectPath('profile'), frequencyHz: 99, targetPid: process.pid, onSamples: () => undefined }), true), 'cpu-profile');
  });

  it('ssl-capture', () => {
    assertClose(sslCaptureKernelBytes(), measure(() => new SslTracer({ objectPath: objectPath('ssl'), maxDataBytes: 4096, comm: 'tf-none', onEvents: () => undefined })), 'ssl-capture');
  });

  it('syscount, at several maxKeys', () => {
    for (const maxKeys of [1024, 16_384, 262_144]) {
      assertClose(syscountKernelBytes(maxKeys), measure(() => new SyscountTracer({ objectPath: objectPath('syscount'), pid: process.pid, maxKeys })), `syscount maxKeys=${maxKeys}`);
    }
  });

  it('usdt', () => {
    const python = '/usr/bin/python3.11';
    const probe = readUsdtProbes(python).find((p) => p.provider === 'python' && p.name === 'gc__start');
    assert.ok(probe, `${python} has no python:gc__start probe`);
    const real = measure(() => new UsdtTracer({ objectPath: objectPath('usdt'), probes: [{ path: python, provider: 'python', name: 'gc__start', probe: 0 }], maxEvents: 10, onEvents: () => undefined }));
    assertClose(usdtKernelBytes(), real, 'usdt');
  });
});

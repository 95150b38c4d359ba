// Shared by the run types' <type>.type.spec.ts: their kernel-memory estimates against the kernel's own numbers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface MapInfo {
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
export function measure(open: () => { start?: () => void; close(): void }, loadsAtStart = false): { total: number; maps: MapInfo[] } {
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
export function assertClose(estimate: number, real: { total: number; maps: MapInfo[] }, what: string): void {
  const detail = `${what}: estimate ${estimate}, kernel ${real.total} (${real.maps.map((m) => `${m.name} ${m.bytes_memlock}`).join(', ')})`;
  assert.ok(estimate >= real.total, `under-estimated: ${detail}`);
  assert.ok(estimate <= real.total * 1.1 + 128 * 1024, `over-estimated by more than 10 % + 128 KiB: ${detail}`);
}

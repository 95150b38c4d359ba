import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { objectPath } from '@tracefleet/bpf';

import { BiolatencyTracer, layouts, type BiolatencyHistogram, type BiolatencyOptions, type BiolatencyReading } from './index';
import { tempDir } from './spec-support';
import { ownBpfFds } from './usdt-spec-support';

// A loop device over a file in a temporary directory, with direct I/O to the file so that the loop's own
// requests complete as the backing file's writes do. Detached in after() whatever happens.
const dir = tempDir('biolatency');
const image = path.join(dir, 'disk.img');
let loop = '';
let major = 0;
let minor = 0;

const sum = (slots: bigint[]): bigint => slots.reduce((a, b) => a + b, 0n);

/** dd with O_DIRECT: `count` writes of `bs` bytes each to the loop device, from block `seek` on. Returns dd's pid. */
function ddDirect(bs: number, count: number, seek: number): void {
  execFileSync('dd', ['if=/dev/zero', `of=${loop}`, `bs=${bs}`, `count=${count}`, `seek=${seek}`, 'oflag=direct', 'status=none']);
}

/** A dd that waits for a line on stdin first (sh, then exec dd: the same pid), so that its pid is known before it writes. */
function ddLater(bs: number, count: number, seek: number): { pid: number; go: () => Promise<void> } {
  const script = `read x; exec dd if=/dev/zero of=${loop} bs=${bs} count=${count} seek=${seek} oflag=direct status=none`;
  const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`)))));
  return {
    pid: child.pid!,
    go: async () => {
      child.stdin!.end('go\n');
      await exited;
    },
  };
}

async function measure(opts: Omit<BiolatencyOptions, 'objectPath'>, work: () => void): Promise<BiolatencyReading> {
  const tracer = new BiolatencyTracer({ objectPath: objectPath('biolatency'), ...opts });
  try {
    tracer.start();
    work();
    tracer.stop();
    return tracer.read();
  } finally {
    tracer.close();
  }
}

const onLoop = (r: BiolatencyReading): BiolatencyHistogram[] => r.histograms.filter((h) => h.major === major && h.minor === minor);

describe('BiolatencyTracer (tp_btf block_rq_insert/block_rq_issue/block_rq_complete, real kernel, a loop device)', () => {
  before(() => {
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 * 1024 * 1024);
    loop = execFileSync('losetup', ['-f', '--show', '--direct-io=on', image], { encoding: 'utf8' }).trim();
    [major, minor] = fs.readFileSync(`/sys/class/block/${path.basename(loop)}/dev`, 'utf8').trim().split(':').map(Number);
  });
  after(() => {
    if (loop) execFileSync('losetup', ['-d', loop]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('200 × 4 KiB and 100 × 64 KiB O_DIRECT writes land in size slots 2 and 6 of the loop disk, per process', async () => {
    const r = await measure({ perProcess: true }, () => {
      ddDirect(4096, 200, 0);
      ddDirect(65536, 100, 100);
    });
    const mine = onLoop(r);
    console.log(mine.map((h) => `${h.pid} ${h.comm}: size ${h.size.join(',')}; ${sum(h.latency)} requests, ${h.totalNs} ns`).join('\n'));
    const dds = mine.filter((h) => h.comm === 'dd');
    assert.equal(dds.length, 2, 'one histogram per dd process');
    const small = dds.find((h) => h.size[2] > 0n)!;
    const large = dds.find((h) => h.size[6] > 0n)!;
    assert.notEqual(small.pid, large.pid);
    assert.equal(small.size[2], 200n);
    assert.equal(sum(small.size), 200n);
    assert.equal(sum(small.latency), 200n);
    assert.equal(small.totalBytes, 200n * 4096n);
    assert.equal(large.size[6], 100n);
    assert.equal(sum(large.size), 100n);
    assert.equal(sum(large.latency), 100n);
    assert.equal(large.totalBytes, 100n * 65536n);
    assert.ok(small.totalNs > 0n && large.totalNs > 0n);
    assert.equal(r.ios, r.histograms.reduce((s, h) => s + sum(h.latency), 0n), 'every measured request is in a slot');
    assert.equal(r.startFull + r.noHist, 0n);
  });

  test('per disk, filtered to the loop disk (dev), from insert (queued) or from issue: one histogram holding every write', async () => {
    for (const queued of [false, true]) {
      const r = await measure({ dev: major * 2 ** 20 + minor, queued }, () => {
        ddDirect(4096, 50, 0);
        ddDirect(65536, 20, 100);
      });
      assert.equal(r.histograms.length, 1, `queued=${queued}: only the loop disk`);
      const [h] = r.histograms;
      assert.deepEqual([h.major, h.minor, h.pid, h.comm], [major, minor, 0, '']);
      assert.equal(h.size[2], 50n);
      assert.equal(h.size[6], 20n);
      assert.equal(sum(h.latency), 70n);
      assert.equal(h.latency.length, layouts().biolatency.BIOLAT_LAT_SLOTS);
      assert.equal(h.size.length, layouts().biolatency.BIOLAT_SIZE_SLOTS);
    }
  });

  test('a pid filter and targetPids keep the I/O of those processes only', async () => {
    const dev = major * 2 ** 20 + minor;
    for (const how of ['pid', 'targetPids'] as const) {
      const listed = ddLater(4096, 30, 0);
      const other = ddLater(65536, 10, 100);
      const tracer = new BiolatencyTracer({ objectPath: objectPath('biolatency'), dev, ...(how === 'pid' ? { pid: listed.pid } : { targetPids: true }) });
      try {
        if (how === 'targetPids') tracer.addTargetPid(listed.pid);
        tracer.start();
        await listed.go();
        await other.go();
        tracer.stop();
        const r = tracer.read();
        assert.equal(r.histograms.length, 1, how);
        assert.equal(r.histograms[0].size[2], 30n, how);
        assert.equal(sum(r.histograms[0].size), 30n, `${how}: the other dd's 64 KiB writes are not counted`);
        assert.ok(r.noStart >= 10n, `${how}: completions without a start: ${r.noStart}`);
      } finally {
        tracer.close();
      }
    }
  });

  test('close() leaves no BPF fds behind, and a closed tracer says so', () => {
    const before = ownBpfFds();
    const tracer = new BiolatencyTracer({ objectPath: objectPath('biolatency') });
    tracer.start();
    tracer.stop();
    tracer.start();
    tracer.close();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
    assert.throws(() => tracer.read(), /BiolatencyTracer.read\(\): the tracer is closed/);
    assert.throws(() => tracer.start(), /BiolatencyTracer.start\(\): the tracer is closed/);
  });

  test('hostile options are refused with a TypeError naming the option', () => {
    const o = objectPath('biolatency');
    const named = (re: RegExp) => (e: Error) => e instanceof TypeError && re.test(e.message);
    assert.throws(() => new BiolatencyTracer({ objectPath: o, pid: -1 }), named(/pid/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, dev: 0 }), named(/dev/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, dev: 2 ** 32 }), named(/dev/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, maxRequests: 1 }), named(/maxRequests/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, maxHists: 0 }), named(/maxHists/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, perProcess: 'yes' as never }), named(/perProcess/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, queued: 1 as never }), named(/queued/));
    assert.throws(() => new BiolatencyTracer({ objectPath: o, extra: 1 } as never), named(/unknown option/));
    assert.throws(() => new BiolatencyTracer(undefined as never), TypeError);
    assert.throws(() => new BiolatencyTracer({ objectPath: '/nonexistent.bpf.o' }), /open \/nonexistent.bpf.o/);
  });

  test('layout: the structs and constants of biolatency.h', () => {
    const l = layouts().biolatency;
    const header = fs.readFileSync(path.join(path.dirname(objectPath('biolatency')), '..', 'src', 'biolatency', 'biolatency.h'), 'utf8');
    const define = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(header)![1]);
    for (const name of ['BIOLAT_LAT_SLOTS', 'BIOLAT_SIZE_SLOTS', 'BIOLAT_DEFAULT_MAX_REQUESTS', 'BIOLAT_DEFAULT_MAX_HISTS', 'BIOLAT_DEFAULT_MAX_DISKS', 'BIOLAT_COUNTER_MAX'] as const) {
      assert.equal(l[name], define(name), name);
    }
    assert.equal(l.keySize, 24);
    assert.equal(l.startSize, 40);
    assert.equal(l.histSize, (l.BIOLAT_LAT_SLOTS + l.BIOLAT_SIZE_SLOTS + 2) * 8);
    assert.equal(l.sizeOffset, l.BIOLAT_LAT_SLOTS * 8);
    assert.equal(l.totalNsOffset, (l.BIOLAT_LAT_SLOTS + l.BIOLAT_SIZE_SLOTS) * 8);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BiolatencyHistogram, BiolatencyReading, BiolatencyTracer } from '@tracefleet/native';
import type { AgentMessage, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { BiolatencyRun, MAX_REPORT_HISTOGRAMS, PER_DISK_HISTS, PER_PROCESS_HISTS, type BiolatencyNativeParts } from './biolatency.run';
import { diskDev, diskName } from './disks';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 300 };

const fill = (n: number, at: Record<number, bigint>): bigint[] => Array.from({ length: n }, (_, i) => at[i] ?? 0n);
const hist = (over: Partial<BiolatencyHistogram> = {}): BiolatencyHistogram => ({
  major: 7, minor: 0, pid: 0, comm: '', latency: fill(27, { 5: 3n }), size: fill(24, { 2: 3n }), totalNs: 9000n, totalBytes: 12_288n, ...over,
});

function fakeNative(final: BiolatencyReading) {
  const state: { opts?: unknown; closed: number; stopped: number } = { closed: 0, stopped: 0 };
  const parts: BiolatencyNativeParts = {
    createBiolatency(opts) {
      state.opts = opts;
      return {
        start() {},
        read: () => final,
        stop() {
          state.stopped++;
        },
        close() {
          state.closed++;
        },
      } as unknown as BiolatencyTracer;
    },
  };
  return { parts, state };
}

function start(target: StartRun['target'], spec: Partial<{ perProcess: boolean; queued: boolean; disk: string; maxRequests: number }> = {}): StartRun {
  return { jobId: 'j', runId: 'r', durationSec: 1, target, spec: { $case: 'biolatency', value: { perProcess: false, queued: false, disk: '', maxRequests: 0, ...spec } }, startAtUnixMs: 0n };
}

async function run(s: StartRun, reading: BiolatencyReading) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(reading);
  await new BiolatencyRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  const reports = sent.filter((m) => m.msg?.$case === 'biolatencyReport').map((m) => (m.msg as Extract<AgentMessage['msg'], { $case: 'biolatencyReport' }>).value);
  const finished = sent.at(-1)!.msg;
  return { sent, state, reports, finished: finished?.$case === 'runFinished' ? finished.value : undefined };
}

const READING: BiolatencyReading = { histograms: [hist({ pid: 42, comm: 'dd' })], ios: 3n, startFull: 2n, noStart: 5n, noHist: 0n };

describe('BiolatencyRun', () => {
  it('sends snapshots while tracing and a final report before RunFinished, disks named from /sys', async () => {
    const { state, reports, finished } = await run(start({ kind: { $case: 'all', value: true } }, { perProcess: true, queued: true, maxRequests: 4096 }), READING);
    assert.deepEqual(state.opts, { perProcess: true, queued: true, dev: undefined, maxRequests: 4096, maxHists: PER_PROCESS_HISTS });
    assert.ok(reports.length >= 2, `snapshots and the final: ${reports.length}`);
    assert.deepEqual(reports.map((r) => r.final), [...reports.slice(1).map(() => false), true]);
    const last = reports.at(-1)!;
    assert.deepEqual([last.ios, last.startFull, last.noStart, last.histogramsLeftOut], [3n, 2n, 5n, 0n]);
    assert.deepEqual([last.histograms[0].pid, last.histograms[0].comm, last.histograms[0].major], [42, 'dd', 7]);
    assert.equal(last.histograms[0].disk, diskName(7, 0) ?? '');
    assert.equal(finished?.ok, true);
    assert.match(finished!.reason, /2 block requests not measured/);
    assert.equal(state.stopped, 1);
    assert.equal(state.closed, 1);
  });

  it('sends the largest histograms up to the cap and counts the rest as left out', async () => {
    const many = Array.from({ length: MAX_REPORT_HISTOGRAMS + 3 }, (_, i) => hist({ pid: i + 1, latency: fill(27, { 1: BigInt(i + 1) }) }));
    const { reports, finished } = await run(start({ kind: { $case: 'all', value: true } }), { ...READING, histograms: many });
    const last = reports.at(-1)!;
    assert.equal(last.histograms.length, MAX_REPORT_HISTOGRAMS);
    assert.equal(last.histogramsLeftOut, 3n);
    assert.equal(Math.min(...last.histograms.map((h) => h.pid)), 4, 'the three smallest are the ones left out');
    assert.match(finished!.reason, /3 smallest histograms left out/);
  });

  it('follows one pid, names a disk by its dev_t, and refuses a comm target, an unknown disk and a partition with the reason', async () => {
    const { state } = await run(start({ kind: { $case: 'pid', value: process.pid } }), READING);
    assert.deepEqual(state.opts, { perProcess: false, queued: false, dev: undefined, maxRequests: undefined, maxHists: PER_DISK_HISTS, pid: process.pid });
    const refused = async (s: StartRun, re: RegExp) => {
      const { finished } = await run(s, READING);
      assert.equal(finished?.ok, false);
      assert.match(finished!.reason, re);
    };
    await refused(start({ kind: { $case: 'comm', value: 'x' } }), /comm is not supported/);
    await refused(start({ kind: { $case: 'all', value: true } }, { disk: 'nosuchdisk0' }), /no block device nosuchdisk0 on node n1/);
    const disks = fs.readdirSync('/sys/class/block');
    const partition = disks.find((d) => fs.existsSync(`/sys/class/block/${d}/partition`));
    if (partition) await refused(start({ kind: { $case: 'all', value: true } }, { disk: partition }), /is a partition/);
    const whole = disks.find((d) => !fs.existsSync(`/sys/class/block/${d}/partition`));
    if (whole) {
      const { state: s2 } = await run(start({ kind: { $case: 'all', value: true } }, { disk: whole }), READING);
      const dev = diskDev(whole)!;
      assert.equal((s2.opts as { dev: number }).dev, dev.major * 2 ** 20 + dev.minor);
      assert.equal(diskName(dev.major, dev.minor), whole);
    }
  });

  it('disk names: from uevent DEVNAME, nothing for an unknown device or a hostile name', () => {
    const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'tracefleet-sys-'));
    try {
      fs.mkdirSync(path.join(sys, 'dev/block/259:0'), { recursive: true });
      fs.writeFileSync(path.join(sys, 'dev/block/259:0/uevent'), 'MAJOR=259\nMINOR=0\nDEVNAME=nvme0n1\nDEVTYPE=disk\n');
      fs.mkdirSync(path.join(sys, 'class/block/nvme0n1'), { recursive: true });
      fs.writeFileSync(path.join(sys, 'class/block/nvme0n1/dev'), '259:0\n');
      assert.equal(diskName(259, 0, sys), 'nvme0n1');
      assert.equal(diskName(259, 1, sys), undefined);
      assert.deepEqual(diskDev('nvme0n1', sys), { major: 259, minor: 0, dev: 259 * 2 ** 20 });
      for (const bad of ['../nvme0n1', '.', '', 'a/b']) assert.equal(diskDev(bad, sys), undefined, bad);
    } finally {
      fs.rmSync(sys, { recursive: true, force: true });
    }
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunqlatReading, RunqlatTracer } from '@tracefleet/native';
import type { AgentMessage, StartRun } from '@tracefleet/proto';
import { loadConfig } from '../../config';
import { RunqlatRun, type RunqlatNativeParts } from './runqlat.run';

const cfg = { ...loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' }), flushIntervalMs: 300 };

const slots = (at: Record<number, bigint>): bigint[] => Array.from({ length: 27 }, (_, i) => at[i] ?? 0n);

/** A stand-in for the native tracer whose reading grows with each read(). */
function fakeNative(final: RunqlatReading) {
  const state: { opts?: unknown; closed: number; stopped: number; reads: number } = { closed: 0, stopped: 0, reads: 0 };
  const parts: RunqlatNativeParts = {
    createRunqlat(opts) {
      state.opts = opts;
      return {
        start() {},
        read: () => {
          state.reads++;
          return final;
        },
        stop() {
          state.stopped++;
        },
        close() {
          state.closed++;
        },
      } as unknown as RunqlatTracer;
    },
  };
  return { parts, state };
}

function start(target: StartRun['target'], perCgroup = false, maxTasks = 0, durationSec = 1): StartRun {
  return { jobId: 'j', runId: 'r', durationSec, target, spec: { $case: 'runqlat', value: { perCgroup, maxTasks } }, startAtUnixMs: 0n };
}

async function run(s: StartRun, reading: RunqlatReading) {
  const sent: AgentMessage[] = [];
  const { parts, state } = fakeNative(reading);
  await new RunqlatRun(s, cfg, { send: async (m) => void sent.push(m) }, parts, () => undefined).run();
  return { sent, state };
}

const READING: RunqlatReading = { histograms: [{ cgroupId: 0n, slots: slots({ 2: 10n, 11: 3n }), totalNs: 9_000_000n }], latencies: 13n, noStart: 2n, noHist: 0n };

describe('RunqlatRun', () => {
  it('sends snapshots while tracing and a final report before RunFinished, with the kernel figures', async () => {
    const { sent, state } = await run(start({ kind: { $case: 'all', value: true } }, true, 4096, 1), READING);
    assert.deepEqual(state.opts, { perCgroup: true, maxTasks: 4096 });
    const reports = sent.filter((m) => m.msg?.$case === 'runqlatReport').map((m) => (m.msg as Extract<AgentMessage['msg'], { $case: 'runqlatReport' }>).value);
    assert.ok(reports.length >= 2, `snapshots and the final: ${reports.length}`);
    assert.deepEqual(reports.map((r) => r.final), [...reports.slice(1).map(() => false), true]);
    const last = reports.at(-1)!;
    assert.equal(last.latencies, 13n);
    assert.equal(last.noStart, 2n);
    assert.deepEqual(last.histograms[0].slots, READING.histograms[0].slots);
    const finished = sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.ok, true);
      assert.match(finished.value.reason, /2 run-queue waits not measured/);
    }
    assert.equal(state.stopped, 1);
    assert.equal(state.closed, 1);
  });

  it('follows one pid, and refuses a comm target with the reason', async () => {
    const { state } = await run(start({ kind: { $case: 'pid', value: process.pid } }), READING);
    assert.deepEqual(state.opts, { perCgroup: false, maxTasks: undefined, pid: process.pid });
    const { sent } = await run(start({ kind: { $case: 'comm', value: 'x' } }), READING);
    const finished = sent.at(-1)!.msg;
    assert.equal(finished?.$case, 'runFinished');
    if (finished?.$case === 'runFinished') {
      assert.equal(finished.value.ok, false);
      assert.match(finished.value.reason, /comm is not supported/);
    }
  });
});

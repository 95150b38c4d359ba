import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMessage, ControllerMessage, RunFinished, StartRun } from '@tracefleet/proto';
import { Agent } from './agent';
import { loadConfig } from './config';

/**
 * Agent.startRun with the policy in front of it, through the agent's own message handling; the
 * controller link and the native addon are faked (the e2e policy test runs the real ones).
 */
function harness(env: Record<string, string>) {
  const cfg = loadConfig({ TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1', ...env });
  const created: string[] = [];
  const loads = { ok: 0 };
  const native = {
    // Tracers fail to load (enough to see a run end on its own and give its share back), but for the first
    // `loads.ok`: those load, to wait for their start time (they are never attached here).
    createProfiler: () => {
      created.push('profiler');
      if (loads.ok-- > 0) return { close() {} };
      throw new Error('no kernel here');
    },
    createSymbolizer: () => ({ close() {} }),
  } as unknown as ConstructorParameters<typeof Agent>[2];
  const agent = new Agent(cfg, () => undefined, native);
  const sent: AgentMessage[] = [];
  const internals = agent as unknown as { link: { send(m: AgentMessage): Promise<void> }; onMessage(m: ControllerMessage): void };
  internals.link.send = async (m) => {
    sent.push(m);
  };
  // Registered: the outbox writes run messages through the link at once.
  Object.defineProperty(internals.link, 'connected', { get: () => true });
  const finished = (runId: string): RunFinished | undefined =>
    sent.flatMap((m) => (m.msg?.$case === 'runFinished' && m.msg.value.runId === runId ? [m.msg.value] : []))[0];
  const start = (runId: string, over: Partial<StartRun> = {}): void =>
    internals.onMessage({
      msg: {
        $case: 'startRun',
        value: { jobId: 'j', runId, durationSec: 5, target: { kind: { $case: 'all', value: true } }, spec: { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: false, skipPythonFrames: false } }, startAtUnixMs: 0n, ...over },
      },
    });
  const stop = (runId: string): void => internals.onMessage({ msg: { $case: 'stopRun', value: { runId, reason: 'test' } } });
  return { agent, sent, finished, start, stop, created, loads };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('agent admission (startRun)', () => {
  it('refuses a run outside the policy with RunFinished ok=false and the reason, loading nothing', async () => {
    const h = harness({ TRACEFLEET_AGENT_ALLOW_JOB_TYPES: 'memleak' });
    h.start('r1');
    await until(() => h.finished('r1') !== undefined, 'the refusal');
    const fin = h.finished('r1')!;
    assert.equal(fin.ok, false);
    assert.equal(fin.reason, "refused by node n1: this node's policy does not run cpu-profile jobs (allowJobTypes: memleak)");
    assert.deepEqual(h.created, [], 'a refused run must not open a tracer');
    await h.agent.shutdown(100);
  });

  it('holds a slot while a run waits or runs, refuses past maxConcurrentRuns, and frees it when the run ends however it ends', async () => {
    const h = harness({ TRACEFLEET_AGENT_MAX_CONCURRENT_RUNS: '1' });
    // r1 loads, then waits for its start time: it holds the node's only slot meanwhile.
    h.loads.ok = 1;
    h.start('r1', { startAtUnixMs: BigInt(Date.now() + 60_000) });
    h.start('r2');
    await until(() => h.finished('r2') !== undefined, 'r2 refused');
    assert.match(h.finished('r2')!.reason, /already runs 1 run\(s\), its policy's limit \(maxConcurrentRuns: 1\)/);
    // Stopped before its start: r1 ends, and its slot is free.
    h.stop('r1');
    await until(() => h.finished('r1') !== undefined, 'r1 to end');
    assert.match(h.finished('r1')!.reason, /stopped before the start time/);
    // r3 is admitted, then fails opening its tracer: that ends it too, and frees the slot again.
    h.start('r3');
    await until(() => h.finished('r3') !== undefined, 'r3 to end');
    assert.match(h.finished('r3')!.reason, /no kernel here/);
    h.start('r4');
    await until(() => h.finished('r4') !== undefined, 'r4 to end');
    assert.match(h.finished('r4')!.reason, /no kernel here/, 'r4 should have been admitted');
    assert.deepEqual(h.created, ['profiler', 'profiler', 'profiler']);
    await h.agent.shutdown(100);
  });
});

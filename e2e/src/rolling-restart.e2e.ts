// A rolling restart: both controller replicas stopped (SIGTERM: each drains, its agents go to the other)
// and started again, one after the other, while three agents run a job. Every run completes with every
// sample its agent took. Real kernel, PostgreSQL, Redis, gRPC, agent processes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sleep, startStack, waitFor, waitJob, type Stack } from './harness';

describe('rolling restart of both controller replicas while three agents run a job', () => {
  let stack: Stack;
  const fleet = `roll-${randomBytes(3).toString('hex')}`;
  const names = [1, 2, 3].map((i) => `${fleet}-n${i}`);

  before(async () => {
    stack = await startStack({ replicas: 2, agent: false, env: { TRACEFLEET_RUN_GRACE_MS: '60000' } });
    const [A, B] = stack.replicas;
    // Each agent knows both replicas; n1 and n2 start on A, n3 on B.
    await stack.startAgent(names[0], `fleet=${fleet}`, [A.grpcAddr, B.grpcAddr]);
    await stack.startAgent(names[1], `fleet=${fleet}`, [A.grpcAddr, B.grpcAddr]);
    await stack.startAgent(names[2], `fleet=${fleet}`, [B.grpcAddr, A.grpcAddr]);
  });

  after(async () => {
    await stack?.stop();
  });

  let drains = 0;
  async function restart(i: number): Promise<number> {
    const r = stack.replicas[i];
    const t0 = Date.now();
    r.controller.kill('SIGTERM');
    await new Promise((done) => (r.controller.exitCode !== null ? done(undefined) : r.controller.once('exit', done)));
    const drainedMs = Date.now() - t0;
    // Nest re-raises the signal once its shutdown hooks are done: the drain's own line says it ran.
    assert.ok(r.controller.exitCode === 0 || r.controller.signalCode === 'SIGTERM', `replica ${r.id} ended ${r.controller.exitCode ?? r.controller.signalCode}`);
    const drainedLines = stack.logs.join('').match(/drained: \d+ agent session\(s\) sent elsewhere; result writes under way finished/g) ?? [];
    assert.equal(drainedLines.length, ++drains, `replica ${r.id} did not drain`);
    // Each session it ended says why (the node's unreachable reason carries it), not "undefined".
    const ended = stack.logs.join('').match(new RegExp(`disconnected from replica ${r.id}: [^\n]*`, 'g')) ?? [];
    assert.ok(ended.length > 0, `replica ${r.id} logged no session ending`);
    for (const line of ended) assert.match(line, /: controller replica \S+ is shutting down; connect to another/, line);
    await stack.restartReplica(i);
    return drainedMs;
  }

  it('every run completes, nothing lost, while A then B are restarted', async () => {
    const [A] = stack.replicas;
    const created = await A.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 20, frequencyHz: 49, target: { all: true }, nodes: { labels: { fleet } } });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    await waitFor(async () => {
      const job = (await A.api('GET', `/jobs/${id}`)).json;
      return job.runs.length === 3 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 20_000, 'all three runs to be running');
    await sleep(2000);
    const drainA = await restart(0);
    await sleep(3000);
    const drainB = await restart(1);
    console.log(`# SIGTERM to exit: replica A ${drainA} ms, replica B ${drainB} ms`);

    const job = await waitJob(stack, id, 60_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    for (const r of job.runs as { node: string; status: string; reason: string | null; samplesTaken: number; samplesDroppedKernel: number; samplesDroppedAgent: number; samplesStored: number; samplesLostTransit: number; duplicatesDropped: number; seqGaps: number }[]) {
      console.log(`# ${r.node}: taken ${r.samplesTaken}, stored ${r.samplesStored}, duplicates dropped ${r.duplicatesDropped}`);
      assert.equal(r.status, 'completed', r.node);
      assert.equal(r.reason, null, `${r.node}: ${r.reason}`);
      assert.ok(r.samplesTaken > 0, r.node);
      assert.equal(r.samplesLostTransit, 0, r.node);
      assert.equal(r.seqGaps, 0, r.node);
      assert.equal(r.samplesStored, r.samplesTaken - r.samplesDroppedKernel - r.samplesDroppedAgent, `${r.node}: every sample sent is stored once`);
    }
    // Every agent is connected again, to one replica or the other.
    for (const n of names) {
      await waitFor(async () => ((await A.api('GET', '/nodes')).json as { name: string; connected: boolean }[]).some((x) => x.name === n && x.connected), 20_000, `${n} connected`);
    }
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startStack, waitFor, waitJob, type Replica, type Stack } from './harness';
import { counterValue, dispatchStepCount } from './dispatch-steps';

/**
 * Scale-out on the real kernel: two controller replicas sharing PostgreSQL and Redis, three agents
 * (separate processes) with distinct names and labels. n1 and n2 connect to replica B first, n3 to
 * replica A; jobs are submitted to A. Node thresholds are short here (unreachable 3 s, gone 8 s; a
 * silent agent's runs fail after 5 s).
 */
const UNREACHABLE_MS = 3000;
const GONE_MS = 8000;
const GRACE_MS = 5000;

interface NodeView {
  name: string;
  status: string;
  statusReason: string | null;
  connected: boolean;
  replicaId: string | null;
  connectedAt: string | null;
  labels: Record<string, string>;
}

describe('a fleet: three agents, two controller replicas', { timeout: 300_000 }, () => {
  const METRICS_TOKEN = randomBytes(24).toString('hex');
  const tag = randomBytes(3).toString('hex');
  const N1 = `fleet-${tag}-n1`;
  const N2 = `fleet-${tag}-n2`;
  const N3 = `fleet-${tag}-n3`;
  // Every selector carries fleet=<tag>, so nodes left in the e2e database by earlier runs never match.
  const fleet = { fleet: tag };
  let stack: Stack;
  let A: Replica;
  let B: Replica;

  async function nodes(r: Replica, query = ''): Promise<NodeView[]> {
    const res = await r.api('GET', `/nodes?namePrefix=fleet-${tag}-${query ? `&${query}` : ''}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }
  async function node(r: Replica, name: string): Promise<NodeView> {
    return (await nodes(r)).find((n) => n.name === name)!;
  }
  async function post(r: Replica, body: Record<string, unknown>): Promise<{ status: number; json: any; text: string }> {
    return r.api('POST', '/jobs', { type: 'cpu-profile', target: { all: true }, ...body });
  }

  before(async () => {
    stack = await startStack({
      replicas: 2,
      agent: false,
      env: { TRACEFLEET_METRICS_TOKEN: METRICS_TOKEN, TRACEFLEET_NODE_UNREACHABLE_MS: String(UNREACHABLE_MS), TRACEFLEET_NODE_GONE_MS: String(GONE_MS), TRACEFLEET_NODE_SWEEP_MS: '250', TRACEFLEET_RUN_GRACE_MS: String(GRACE_MS) },
    });
    [A, B] = stack.replicas;
    await stack.startAgent(N1, `fleet=${tag},env=prod,zone=a`, [B.grpcAddr, A.grpcAddr]);
    await stack.startAgent(N2, `fleet=${tag},env=prod,zone=b,canary=true`, [B.grpcAddr, A.grpcAddr]);
    await stack.startAgent(N3, `fleet=${tag},env=dev,zone=a`, [A.grpcAddr, B.grpcAddr]);
  });

  after(async () => {
    await stack?.stop();
  });

  it('registers each node with the replica holding its session; any replica lists the fleet, with filters', async () => {
    for (const r of [A, B]) {
      const listed = await nodes(r);
      assert.deepEqual(listed.map((n) => [n.name, n.status, n.replicaId]), [
        [N1, 'connected', B.id],
        [N2, 'connected', B.id],
        [N3, 'connected', A.id],
      ]);
    }
    assert.deepEqual(all(await nodes(A, 'labelSelector=env%3Dprod')), [N1, N2]);
    assert.deepEqual(all(await nodes(B, `labelSelector=${encodeURIComponent('zone in (a),!canary')}`)), [N1, N3]);
    assert.deepEqual(all(await nodes(A, 'capability=cpu-profile&status=connected')), [N1, N2, N3]);
    assert.deepEqual(all(await nodes(A, 'status=unreachable,gone')), []);
    assert.deepEqual(all(await nodes(A, 'capability=no-such-capability')), []);
    const bad = await A.api('GET', '/nodes?status=online');
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /status must be/);
    assert.equal((await A.api('GET', `/nodes/${N1}`)).json.replicaId, B.id);
  });

  it('runs a label-selected job submitted to replica A on the agents connected to replica B', async () => {
    const stepCount = (r: Replica, step: string) => dispatchStepCount(r.base, METRICS_TOKEN, step);
    const steps = async () => [await stepCount(A, 'forward'), await stepCount(B, 'relay'), await stepCount(B, 'forward')];
    const forwarded = (via: string, outcome: string) => counterValue(B.base, METRICS_TOKEN, 'tracefleet_controller_forwarded_start_commands_total', { via, outcome });
    const viaBefore = [await forwarded('fast', 'started'), await forwarded('queue', 'skipped'), await forwarded('queue', 'started')];
    const stepsBefore = await steps();
    const created = await post(A, { durationSec: 3, nodes: { labels: { ...fleet, env: 'prod' } } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json.selection.selected, [N1, N2]);
    assert.deepEqual(created.json.selection.skipped, []);
    const job = await waitJob(stack, created.json.id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.deepEqual(job.runs.map((r: { node: string }) => r.node), [N1, N2]);
    for (const r of job.runs) assert.ok(r.samplesStored > 0, `${r.node} stored no samples: ${JSON.stringify(r)}`);
    const latency = job.runs.map((r: { startedAt: string }) => Date.parse(r.startedAt) - Date.parse(job.createdAt));
    console.log(`# dispatch across replicas (POST on A → run started on an agent of B): ${latency.join(' ms, ')} ms`);
    for (const ms of latency) assert.ok(ms < 5000, `a run started ${ms} ms after the job was created`);
    // A queued both starts for B in one command (forward), B started them (relay: one start-runs command).
    assert.deepEqual((await steps()).map((n, i) => n - stepsBefore[i]), [1, 1, 0], 'forward on A, relay on B');
    // B took the command by its fast path (a Redis pub/sub message); its queued copy, FAST_BACKSTOP_MS later, did nothing.
    let via: number[] = [];
    for (let i = 0; i < 50; i++) {
      via = [await forwarded('fast', 'started'), await forwarded('queue', 'skipped'), await forwarded('queue', 'started')].map((n, k) => n - viaBefore[k]);
      if (via[1] > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(via, [1, 1, 0], 'fast path taken on B, its queued copy skipped');
    // Replica B serves the job A created: state is in PostgreSQL.
    assert.equal((await B.api('GET', `/jobs/${job.id}`)).json.status, 'completed');
  });

  it('answers requests to agents on the other replica: the pid check of a job, a USDT listing', async () => {
    const prod = { labels: { ...fleet, env: 'prod' } };
    const started = Date.now();
    const found = await post(A, { durationSec: 1, target: { pid: process.pid }, nodes: prod });
    console.log(`# POST with a pid target checked on 2 agents of replica B from replica A: ${Date.now() - started} ms`);
    assert.equal(found.status, 201, found.text);
    assert.deepEqual(found.json.selection.selected, [N1, N2]);
    const missing = await post(A, { durationSec: 1, target: { pid: 4_000_000 }, nodes: prod });
    assert.equal(missing.status, 400, missing.text);
    assert.match(missing.text, new RegExp(`target.pid process 4000000 does not exist on any selected node \\(${N1}: pid 4000000 does not exist; ${N2}: pid 4000000 does not exist\\)`));
    const direct = await B.api('GET', `/nodes/${N1}/usdt?binary=/usr/bin/python3.11`);
    const relayed = await A.api('GET', `/nodes/${N1}/usdt?binary=/usr/bin/python3.11`);
    assert.equal(relayed.status, 200, relayed.text);
    assert.ok(relayed.json.probes.length > 0, relayed.text);
    assert.deepEqual(relayed.json, direct.json, 'the same answer through either replica (bigint offsets survive the relay)');
    assert.equal((await waitJob(stack, found.json.id, 20_000)).status, 'completed');
  });

  it('picks exactly the nodes matching set expressions', async () => {
    const issueExample = {
      labels: { ...fleet, env: 'prod' },
      expressions: [
        { key: 'zone', operator: 'In', values: ['a', 'b'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    };
    const one = await post(A, { durationSec: 1, nodes: issueExample });
    assert.equal(one.status, 201, one.text);
    assert.deepEqual(one.json.selection.selected, [N1]);
    assert.deepEqual(one.json.params.nodes, issueExample);
    const notProd = await post(A, { durationSec: 1, nodes: { expressions: [{ key: 'fleet', operator: 'In', values: [tag] }, { key: 'env', operator: 'NotIn', values: ['prod'] }] } });
    assert.equal(notProd.status, 201, notProd.text);
    assert.deepEqual(notProd.json.selection.selected, [N3]);
    for (const id of [one.json.id, notProd.json.id]) assert.equal((await waitJob(stack, id, 20_000)).status, 'completed');
  });

  it('limit picks that many and lists the others as skipped with the reason', async () => {
    const created = await post(A, { durationSec: 1, nodes: { labels: fleet, limit: 2 } });
    assert.equal(created.status, 201, created.text);
    const { selected, skipped } = created.json.selection;
    assert.equal(selected.length, 2);
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0].code, 'limit');
    assert.match(skipped[0].reason, /limit 2 reached/);
    assert.deepEqual([...selected, skipped[0].node].sort(), [N1, N2, N3]);
    const job = await waitJob(stack, created.json.id, 20_000);
    assert.equal(job.status, 'completed');
    assert.equal(job.runs.length, 2);
  });

  it('refuses a malformed selector with 400 naming the field, and one matching nothing with 422 and the reason', async () => {
    const cases: [unknown, RegExp][] = [
      [{ labels: fleet, expressions: [{ key: 'zone', operator: 'in', values: ['a'] }] }, /nodes.expressions\[0\].operator must be one of In, NotIn, Exists, DoesNotExist/],
      [{ labels: fleet, expressions: [{ key: 'zone', operator: 'In' }] }, /nodes.expressions\[0\].values/],
      [{ labels: fleet, limit: 0 }, /nodes.limit/],
      [{ labels: { zone: 3 } }, /nodes.labels.zone/],
      [{ all: true, labels: fleet }, /nodes.all cannot be combined with labels/],
      [{ lables: fleet }, /nodes.lables is not a known selector field/],
    ];
    for (const [sel, re] of cases) {
      const res = await post(A, { durationSec: 1, nodes: sel });
      assert.equal(res.status, 400, `${JSON.stringify(sel)} → ${res.status} ${res.text}`);
      assert.match(JSON.stringify(res.json.message), re, JSON.stringify(sel));
    }
    const none = await post(B, { durationSec: 1, nodes: { labels: { ...fleet, env: 'staging' } } });
    assert.equal(none.status, 422, none.text);
    assert.match(none.json.message[0], /^nodes: no node matches: no registered node matches fleet=\w+, env=staging$/);
  });

  it('survives losing replica B mid-job: its agents reconnect to A within a bounded time and deliver there; the job completes with nothing lost', async () => {
    const created = await post(A, { durationSec: 10, nodes: { labels: fleet } });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    await waitFor(async () => {
      const job = (await A.api('GET', `/jobs/${id}`)).json;
      return job.runs.length === 3 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 15_000, 'all three runs to be running');

    const killedAt = Date.now();
    B.controller.kill('SIGKILL');
    const back = new Map<string, number>();
    await waitFor(async () => {
      for (const n of await nodes(A)) {
        if (n.connected && n.replicaId === A.id && n.connectedAt && Date.parse(n.connectedAt) >= killedAt && !back.has(n.name)) back.set(n.name, Date.now() - killedAt);
      }
      return back.has(N1) && back.has(N2);
    }, 15_000, `${N1} and ${N2} to reconnect to replica A`);
    console.log(`# reconnect after replica B was killed: ${N1} ${back.get(N1)} ms, ${N2} ${back.get(N2)} ms (GET /nodes on A shows them connected to A)`);

    const job = await waitJob(stack, id, 30_000);
    const endedAfter = Date.now() - killedAt;
    console.log(`# job with runs on the killed replica ended ${job.status} ${endedAfter} ms after the kill`);
    // Their runs went on through the reconnect: what replica B had not acknowledged came again to A.
    assert.equal(job.status, 'completed', JSON.stringify(job));
    for (const r of job.runs as { node: string; status: string; samplesTaken: number; samplesDroppedKernel: number; samplesDroppedAgent: number; samplesStored: number; samplesLostTransit: number; duplicatesDropped: number }[]) {
      console.log(`# ${r.node}: taken ${r.samplesTaken}, stored ${r.samplesStored}, duplicates dropped ${r.duplicatesDropped}`);
      assert.equal(r.status, 'completed', r.node);
      assert.equal(r.samplesLostTransit, 0, r.node);
      assert.equal(r.samplesStored, r.samplesTaken - r.samplesDroppedKernel - r.samplesDroppedAgent, `${r.node}: every sample sent is stored once`);
    }

    // The fleet works on the survivor: a job over all three nodes completes.
    const again = await post(A, { durationSec: 2, nodes: { labels: fleet } });
    assert.equal(again.status, 201, again.text);
    const done = await waitJob(stack, again.json.id, 20_000);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.runs.length, 3);
  });

  it('marks a paused agent unreachable, then gone; a killed one unreachable at once; selection skips them with the reason', async () => {
    const n3 = stack.agents.get(N3)!;
    const running = await post(A, { durationSec: 30, nodes: { labels: { ...fleet, env: 'dev' } } });
    assert.equal(running.status, 201, running.text);
    await waitFor(async () => (await A.api('GET', `/jobs/${running.json.id}`)).json.runs[0].status === 'running', 15_000, 'the run on n3 to start');
    const pausedAt = Date.now();
    n3.kill('SIGSTOP');
    await waitFor(async () => (await node(A, N3)).status === 'unreachable', UNREACHABLE_MS + 5000, `${N3} to be unreachable`);
    const unreachableAfter = Date.now() - pausedAt;
    assert.match((await node(A, N3)).statusReason ?? '', /no heartbeat for/);
    // Its run fails with the reason (the sweep) once the grace period is over, long before the job's 30 s are up.
    const lost = await waitJob(stack, running.json.id, GRACE_MS + 5000);
    const failedAfter = Date.now() - pausedAt;
    console.log(`# run on a paused agent failed ${failedAfter} ms after SIGSTOP: ${lost.runs[0].reason}`);
    assert.equal(lost.status, 'failed');
    assert.match(lost.runs[0].reason, new RegExp(`^node ${N3} silent for \\d+ s .*past the run grace period of 5 s`));
    assert.ok(failedAfter >= GRACE_MS - 1500, `failed after only ${failedAfter} ms`);

    const refused = await post(A, { durationSec: 1, nodes: { labels: { ...fleet, env: 'dev' } } });
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.json.message[0], `nodes: no node matches: 1 matched the labels but is unreachable (${N3})`);
    const partial = await post(A, { durationSec: 1, nodes: { labels: fleet } });
    assert.equal(partial.status, 201, partial.text);
    const view = (await A.api('GET', `/jobs/${partial.json.id}`)).json;
    assert.deepEqual(view.selection.selected, [N1, N2]);
    assert.equal(view.selection.skipped.length, 1);
    assert.equal(view.selection.skipped[0].node, N3);
    assert.equal(view.selection.skipped[0].code, 'unreachable');
    assert.match(view.selection.skipped[0].reason, /^unreachable \(no heartbeat for/);

    await waitFor(async () => (await node(A, N3)).status === 'gone', GONE_MS + 5000, `${N3} to be gone`);
    const goneAfter = Date.now() - pausedAt;
    console.log(`# SIGSTOP: unreachable after ${unreachableAfter} ms, gone after ${goneAfter} ms (thresholds ${UNREACHABLE_MS} / ${GONE_MS} ms)`);
    assert.ok(unreachableAfter >= UNREACHABLE_MS - 1500, `unreachable after only ${unreachableAfter} ms`);
    n3.kill('SIGCONT');
    await waitFor(async () => (await node(A, N3)).status === 'connected', 10_000, `${N3} to be connected again after SIGCONT`);
    assert.equal((await waitJob(stack, partial.json.id, 20_000)).status, 'completed');

    const n2 = stack.agents.get(N2)!;
    const killedAt = Date.now();
    n2.kill('SIGKILL');
    await waitFor(async () => (await node(A, N2)).status === 'unreachable', 5000, `${N2} to be unreachable`);
    const stateAfterKill = await node(A, N2);
    console.log(`# SIGKILL of an agent: unreachable after ${Date.now() - killedAt} ms (${stateAfterKill.statusReason})`);
    assert.match(stateAfterKill.statusReason ?? '', /session on replica .* ended/);
    assert.equal(stateAfterKill.replicaId, null);
    await waitFor(async () => (await node(A, N2)).status === 'gone', GONE_MS + 5000, `${N2} to be gone`);
    const gone = await post(A, { durationSec: 1, nodes: { names: [N2] } });
    assert.equal(gone.status, 422, gone.text);
    assert.equal(gone.json.message[0], `nodes: no node matches: 1 matched by name but is gone (${N2})`);
  });
});

function all(list: NodeView[]): string[] {
  return list.map((n) => n.name);
}

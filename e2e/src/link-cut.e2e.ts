// An agent in its own network namespace, its link to the controller cut (the veth pair's host end set
// down) mid-job. For less than the run grace period the run only waits: the agent keeps its results
// and delivers them when the link is back, nothing lost. Past the grace period the run fails with the
// reason, and the agent, back again, is told to stop it. Real kernel, netns and veth, PostgreSQL,
// Redis, gRPC (mutual TLS to the controller's address on the veth).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { buildC, freePort, parseFolded, sleep, startStack, waitFor, waitJob, type Stack } from './harness';
import { NetnsLink } from './faults';

const HZ = 49;
// Short enough to keep the file quick, long enough that a cut shorter than it is plainly shorter.
const GRACE_MS = 12_000;
/** The first test's cut: well under the grace period. */
const CUT_MS = 7_000;
const JOB_SEC = 14;

describe("an agent's network link cut mid-job (its own network namespace)", () => {
  const tag = randomBytes(3).toString('hex');
  const link = new NetnsLink(tag);
  const hostIp = link.hostIp;
  let stack: Stack;
  let hot: ChildProcess;
  let nodeName: string;

  before(async () => {
    link.create();
    // The controller listens on the veth's host address (its certificate names it); the agent dials it.
    const grpc = `${hostIp}:${await freePort()}`;
    const enroll = `${hostIp}:${await freePort()}`;
    stack = await startStack({ agent: false, env: { TRACEFLEET_GRPC_ADDR: grpc, TRACEFLEET_ENROLL_ADDR: enroll, TRACEFLEET_RUN_GRACE_MS: String(GRACE_MS) } });
    nodeName = `cut-${tag}`;
    // No outbox memory: every result batch goes through the spool on disk until it is acknowledged.
    await stack.startAgent(nodeName, 'role=netns', [grpc], { TRACEFLEET_ENROLL_ADDR: enroll, TRACEFLEET_AGENT_OUTBOX_MB: '0' }, { netns: link.ns });
    hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
  });

  after(async () => {
    if (hot && hot.exitCode === null) hot.kill('SIGKILL');
    await stack?.stop();
    link.remove();
  });

  async function start(durationSec: number): Promise<string> {
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec, frequencyHz: HZ, target: { pid: hot.pid }, nodes: { names: [nodeName] } });
    assert.equal(created.status, 201, created.text);
    await waitFor(async () => (await stack.api('GET', `/jobs/${created.json.id}`)).json?.runs?.[0]?.status === 'running', 20_000, 'the run to be running');
    return created.json.id;
  }

  it(`cut for ${CUT_MS / 1000} s in a ${JOB_SEC} s job (grace ${GRACE_MS / 1000} s): the run completes after the link returns, nothing lost`, async () => {
    const id = await start(JOB_SEC);
    await sleep(3000);
    link.cut();
    const cutAt = Date.now();
    await sleep(CUT_MS);
    link.restore();
    const backAt = Date.now();
    console.log(`# link down for ${backAt - cutAt} ms`);
    const job = await waitJob(stack, id, 90_000);
    const r = job.runs[0];
    console.log(`# ${Date.now() - backAt} ms after the link came back: ${job.status}; taken ${r.samplesTaken}, stored ${r.samplesStored}, duplicates dropped ${r.duplicatesDropped}, batches spooled ${r.batchesSpooled}`);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(r.reason, null);
    assert.ok(r.samplesTaken > 0.8 * HZ * JOB_SEC, `only ${r.samplesTaken} samples taken`);
    assert.equal(r.samplesStored, r.samplesTaken - r.samplesDroppedKernel - r.samplesDroppedAgent, 'every sample the agent sent is stored, once');
    assert.equal(r.samplesLostTransit, 0);
    assert.equal(r.seqGaps, 0);
    assert.ok(r.batchesSpooled >= r.batchesReceived, `every batch went through the spool (${r.batchesSpooled} of ${r.batchesReceived})`);
    assert.equal(r.batchesOverflowed, 0);
    const folded = await stack.api('GET', `/jobs/${id}/flamegraph.folded`);
    assert.equal(parseFolded(folded.text).reduce((a, s) => a + s.count, 0), r.samplesStored);
  });

  it('cut past the grace period: the run fails with the reason; back again, the agent is told to stop it', async () => {
    const id = await start(60);
    await sleep(2000);
    link.cut();
    const cutAt = Date.now();
    try {
      const job = await waitJob(stack, id, GRACE_MS + 20_000);
      const failedAfter = Date.now() - cutAt;
      console.log(`# run failed ${failedAfter} ms after the cut: ${job.runs[0].reason}`);
      assert.equal(job.status, 'failed');
      assert.match(job.runs[0].reason, new RegExp(`^node ${nodeName} silent for \\d+ s .*past the run grace period of ${GRACE_MS / 1000} s \\(TRACEFLEET_RUN_GRACE_MS\\)$`));
      assert.ok(failedAfter >= GRACE_MS - 2000, `failed after only ${failedAfter} ms`);
    } finally {
      link.restore();
    }
    // Back, the agent names the run it still holds; the controller tells it to stop, and nothing more is stored for it.
    const told = new RegExp(`agent ${nodeName}: 0 run\\(s\\) continue on the new session, .* 1 already ended here`);
    await waitFor(async () => told.test(stack.logs.join('')), 60_000, 'the agent to come back and be told to stop the ended run');
    const after = (await stack.api('GET', `/jobs/${id}`)).json;
    assert.equal(after.runs[0].status, 'failed');
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, waitFor, waitJob, WORK, type Stack } from './harness';

/**
 * The agent's own policy on the real kernel: two agents, one with a policy file (and a variable)
 * that forbids TLS capture and caps runs and kernel memory, one with the defaults. The controller
 * skips what a node's registered policy forbids; what depends on the node's state (kernel memory,
 * concurrent runs) the agent refuses itself, and the run fails with its reason.
 */
describe('agent policy: what a node refuses whatever the controller asks', { timeout: 240_000 }, () => {
  const tag = randomBytes(3).toString('hex');
  const STRICT = `pol-${tag}-strict`;
  const OPEN = `pol-${tag}-open`;
  const policyFile = join(WORK, `policy-${tag}.yaml`);
  let stack: Stack;

  async function post(body: Record<string, unknown>, token?: string) {
    return stack.api('POST', '/jobs', { durationSec: 2, target: { all: true }, ...body }, token);
  }
  async function job(id: string, token?: string) {
    const res = await stack.api('GET', `/jobs/${id}`, undefined, token);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }
  const run = (j: any, node: string) => j.runs.find((r: any) => r.node === node);

  before(async () => {
    mkdirSync(WORK, { recursive: true });
    writeFileSync(policyFile, '# e2e: a node that takes little\nallowJobTypes: [cpu-profile, memleak, ssl-capture]\nmaxConcurrentRuns: 1\nmaxKernelMemoryMb: 256\n', { mode: 0o600 });
    stack = await startStack({ agent: false });
    await stack.startAgent(STRICT, `pol=${tag}`, undefined, { TRACEFLEET_AGENT_POLICY: policyFile, TRACEFLEET_AGENT_ALLOW_SSL_CAPTURE: 'false' });
    await stack.startAgent(OPEN, `pol=${tag}`);
  });

  after(async () => {
    await stack?.stop();
    rmSync(policyFile, { force: true });
  });

  it('each node registers its policy; GET /nodes/:name shows it', async () => {
    const strict = (await stack.api('GET', `/nodes/${STRICT}`)).json;
    assert.deepEqual(strict.policy, {
      allowJobTypes: ['cpu-profile', 'memleak', 'ssl-capture'],
      allowSslCapture: false,
      allowRedactionOff: false,
      maxConcurrentRuns: 1,
      maxKernelMemoryBytes: 256 * 1024 * 1024,
      maxDurationSec: 3600,
    });
    const open = (await stack.api('GET', `/nodes/${OPEN}`)).json;
    assert.equal(open.policy.allowSslCapture, true);
    assert.equal(open.policy.allowRedactionOff, false);
    assert.deepEqual(open.policy.allowJobTypes, ['cpu-profile', 'usdt', 'memleak', 'ssl-capture', 'syscount', 'runqlat', 'biolatency', 'tcp', 'off-cpu', 'oomkill', 'exec-open']);
  });

  it('a kernel memleak of 10 M entries (~1 GiB of kernel memory) is refused by both agents with their policy\'s reason', async () => {
    const res = await post({ type: 'memleak', maxAllocs: 10_000_000, intervalSec: 1, nodes: { names: [STRICT, OPEN] } });
    assert.equal(res.status, 201, res.text);
    const j = await waitJob(stack, res.json.id, 30_000);
    assert.equal(j.status, 'failed', JSON.stringify(j));
    assert.match(run(j, STRICT).reason, new RegExp(`refused by node ${STRICT}: this run's BPF maps would take ~10\\d\\d MiB of kernel memory, over this node's policy \\(maxKernelMemoryMb: 256\\)`));
    // The default policy (512 MiB) refuses it too.
    assert.match(run(j, OPEN).reason, /~10\d\d MiB of kernel memory, over this node's policy \(maxKernelMemoryMb: 512\)/);
    // A small one fits under the same cap and runs.
    const small = await post({ type: 'memleak', maxAllocs: 1000, intervalSec: 1, nodes: { names: [STRICT] } });
    assert.equal(small.status, 201, small.text);
    const s = await waitJob(stack, small.json.id, 30_000);
    assert.equal(s.status, 'completed', JSON.stringify(s));
  });

  it('ssl-capture: the node that forbids it is skipped with the reason, the node that allows it runs it', async () => {
    const res = await post({ type: 'ssl-capture', target: { comm: `tf-pol-${tag}` }, nodes: { labels: { pol: tag } } }, stack.captureToken);
    assert.equal(res.status, 201, res.text);
    const j = await waitJob(stack, res.json.id, 30_000);
    assert.deepEqual(j.selection.selected, [OPEN]);
    assert.deepEqual(j.selection.skipped, [
      { node: STRICT, code: 'policy', reason: "refused by the node's policy: its policy does not allow TLS plaintext capture (allowSslCapture: false)" },
    ]);
    assert.deepEqual(j.runs.map((r: any) => r.node), [OPEN]);
    assert.equal(j.status, 'completed', JSON.stringify(j));
  });

  it('redaction off is refused by default: no node will run it, and the 422 says why for each', async () => {
    const res = await post({ type: 'ssl-capture', redaction: false, target: { comm: `tf-pol-${tag}` }, nodes: { labels: { pol: tag } } }, stack.captureToken);
    assert.equal(res.status, 422, res.text);
    const msg = res.json.message.join(' ');
    assert.match(msg, new RegExp(`${OPEN}: refused by the node's policy: its policy does not allow ssl-capture with redaction off \\(allowRedactionOff: false\\)`));
    assert.match(msg, new RegExp(`${STRICT}: refused by the node's policy: .*allowSslCapture: false`));
    assert.deepEqual(res.json.skipped.map((k: any) => k.code), ['policy', 'policy']);
  });

  it('a job type left out of the node\'s list is skipped; a run past maxConcurrentRuns is refused by the agent', async () => {
    const usdt = await post({ type: 'usdt', probes: ['python:gc__start'], binary: '/usr/bin/python3.11', nodes: { names: [STRICT] } });
    assert.equal(usdt.status, 422, usdt.text);
    assert.match(usdt.json.message.join(' '), /does not run usdt jobs \(allowJobTypes: cpu-profile, memleak, ssl-capture\)/);

    // Long enough that the second job reaches the node while the first still runs, however slow dispatch is.
    const first = await post({ type: 'cpu-profile', durationSec: 20, nodes: { names: [STRICT] } });
    assert.equal(first.status, 201, first.text);
    await waitFor(async () => {
      const r = run(await job(first.json.id), STRICT);
      if (r.status === 'failed') throw new Error(`first run failed: ${r.reason}`);
      return r.status === 'running';
    }, 30_000, 'the first profile to run');
    const second = await post({ type: 'cpu-profile', durationSec: 2, nodes: { names: [STRICT] } });
    assert.equal(second.status, 201, second.text);
    const j2 = await waitJob(stack, second.json.id, 30_000);
    assert.equal(j2.status, 'failed');
    assert.match(run(j2, STRICT).reason, new RegExp(`refused by node ${STRICT}: this node already runs 1 run\\(s\\), its policy's limit \\(maxConcurrentRuns: 1\\)`));
    const j1 = await waitJob(stack, first.json.id, 60_000);
    assert.equal(j1.status, 'completed', JSON.stringify(j1));
    // Once the first run ended its slot is free again.
    const third = await post({ type: 'cpu-profile', durationSec: 1, nodes: { names: [STRICT] } });
    assert.equal(third.status, 201, third.text);
    assert.equal((await waitJob(stack, third.json.id, 30_000)).status, 'completed');
  });
});

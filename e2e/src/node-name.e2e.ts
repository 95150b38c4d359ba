import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { sleep, startRunningJob, startStack, waitJob, type Stack } from './harness';

/**
 * Two agents with one node name (an orphan left running, a cloned VM, a misconfiguration): the second
 * is refused with the reason and exits, the first keeps its session and its runs, and the node's
 * record counts the refusal. Before, they took the session from each other every ~0.5 s and every run
 * on the node failed with "runs of its session earlier were lost".
 */
describe('two agents with one node name', { timeout: 120_000 }, () => {
  let stack: Stack;
  let first: ChildProcess | undefined;

  before(async () => {
    stack = await startStack();
    first = stack.agent;
  });

  after(async () => {
    // The harness keeps one agent per name (the last started): should the second one be running, it is
    // killed here; the first goes back to the harness, which stops it with the stack.
    const last = stack?.agents.get(stack.nodeName);
    if (last && last !== first && last.exitCode === null && last.signalCode === null) last.kill('SIGKILL');
    if (first) stack?.agents.set(stack.nodeName, first);
    await stack?.stop();
  });

  it('refuses the second agent with the reason (exit 3) while the first keeps its session and runs', async () => {
    const name = stack.nodeName;
    const agent = first!;
    const before = (await stack.api('GET', `/nodes/${name}`)).json;
    assert.equal(before.duplicatesRefused, 0);
    const id = await startRunningJob(stack, { type: 'cpu-profile', durationSec: 8, frequencyHz: 49, target: { all: true } });
    // startAgent waits for a connection made after it spawned (less 1 s): the first agent's must be older.
    await sleep(Math.max(0, Date.parse(before.connectedAt) + 1500 - Date.now()));

    // The same name, the same state directory (so the same certificate: a copy of the node).
    await assert.rejects(stack.startAgent(name), (err: Error) => {
      assert.match(err.message, /agent exited \(3\)/);
      assert.match(err.message, new RegExp(`node ${name} is already connected on replica \\S+ from another agent \\(instance [0-9a-f]{8}, heard [0-9.]+ s ago\\)`));
      assert.match(err.message, /stop the other one, or give this one its own name \(TRACEFLEET_NODE_NAME\)/);
      return true;
    });
    stack.agents.set(name, agent);
    stack.agent = agent;
    assert.equal(agent.exitCode, null, 'the first agent is still running');

    const job = await waitJob(stack, id, 60_000);
    assert.equal(job.status, 'completed', `job ${job.status}: ${job.runs.map((r: { reason: string | null }) => r.reason).join('; ')}`);
    assert.ok(job.totals.samplesStored > 0);
    const node = (await stack.api('GET', `/nodes/${name}`)).json;
    assert.equal(node.connected, true);
    assert.equal(node.sessionId, before.sessionId, 'the first agent kept its session');
    assert.equal(node.duplicatesRefused, 1);
    assert.match(node.lastDuplicate, /from another agent/);
    assert.ok(Date.parse(node.lastDuplicateAt) >= Date.parse(before.connectedAt));
  });
});

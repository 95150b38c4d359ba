import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, sleep, startStack, waitJob, type Stack } from './harness';

describe('losing the agent mid-job', () => {
  let stack: Stack;
  before(async () => {
    // Runs outlive a dropped link (the agent delivers later); an agent that stays away fails them past this.
    stack = await startStack({ env: { TRACEFLEET_RUN_GRACE_MS: '3000' } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('fails that node\'s run with the reason once the agent has been silent past the run grace period', async () => {
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 20, target: { all: true }, nodes: 'all' });
    assert.equal(created.status, 201, created.text);
    await sleep(2500);
    stack.agent!.kill('SIGKILL');
    const job = await waitJob(stack, created.json.id, 15_000);
    assert.equal(job.status, 'failed', JSON.stringify(job));
    assert.match(job.runs[0].reason, new RegExp(`^node ${stack.nodeName} silent for \\d+ s .*past the run grace period of 3 s \\(TRACEFLEET_RUN_GRACE_MS\\)$`));
  });

  it('refuses an agent with a wrong enrollment token', async () => {
    const agent = spawn(process.execPath, [join(ROOT, 'apps/node-agent/dist/main.js')], {
      env: {
        ...process.env,
        TRACEFLEET_CONTROLLER_GRPC: stack.grpcAddr,
        TRACEFLEET_ENROLL_ADDR: stack.enrollAddr,
        TRACEFLEET_CA_CERT: stack.caCertFile,
        TRACEFLEET_AGENT_STATE_DIR: stack.agentStateDir('intruder'),
        TRACEFLEET_ENROLLMENT_TOKEN: 'y'.repeat(32),
        TRACEFLEET_NODE_NAME: 'intruder',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    agent.stdout!.on('data', (d) => (out += d));
    agent.stderr!.on('data', (d) => (out += d));
    await sleep(2500);
    agent.kill('SIGKILL');
    assert.match(out, /UNAUTHENTICATED: unknown bootstrap token/);
    const nodes = await stack.api('GET', '/nodes');
    assert.ok(!nodes.json.some((n: { name: string }) => n.name === 'intruder'), 'an unauthenticated agent was registered');
  });
});

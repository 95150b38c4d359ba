import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMessage, ControllerMessage } from '@tracefleet/proto';
import { Agent } from '../agent';
import { loadConfig } from '../config';

describe('agent metrics port, wired into the agent', () => {
  it('listens from start(), says why it is not ready, counts a run, and closes on shutdown', async () => {
    const cfg = loadConfig({ TRACEFLEET_CA_CERT: '/nonexistent/ca.pem', TRACEFLEET_NODE_NAME: 'n1', TRACEFLEET_AGENT_METRICS_ADDR: '127.0.0.1:9464' });
    cfg.metrics = { host: '127.0.0.1', port: 0 };
    const native = {
      createProfiler: () => {
        throw new Error('no kernel here');
      },
      createSymbolizer: () => ({ close() {} }),
    } as unknown as ConstructorParameters<typeof Agent>[2];
    const logs: string[] = [];
    const agent = new Agent(cfg, (m) => logs.push(m), native);
    // The CA file is missing: start() fails at identity, after the metrics port is up.
    await assert.rejects(agent.start(), /TRACEFLEET_CA_CERT/);
    const url = logs.map((l) => /metrics and health on (http:\S+)\/metrics/.exec(l)?.[1]).find(Boolean);
    assert.ok(url, logs.join('\n'));
    const ready = await fetch(`${url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /not registered with a controller yet/);
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^tracefleet_agent_link_up 0$/m);

    const internals = agent as unknown as { link: { send(m: AgentMessage): Promise<void> }; onMessage(m: ControllerMessage): void };
    const sent: AgentMessage[] = [];
    internals.link.send = async (m) => void sent.push(m);
    Object.defineProperty(internals.link, 'connected', { get: () => true });
    internals.onMessage({
      msg: {
        $case: 'startRun',
        value: { jobId: 'j', runId: 'r1', durationSec: 5, target: { kind: { $case: 'all', value: true } }, spec: { $case: 'cpuProfile', value: { frequencyHz: 99, skipJavaPerfMaps: false, skipPythonFrames: false } }, startAtUnixMs: 0n },
      },
    });
    for (let i = 0; i < 200 && !sent.some((m) => m.msg?.$case === 'runFinished'); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.match(text, /^tracefleet_agent_runs_started_total\{job_type="cpu-profile"\} 1$/m);
    assert.match(text, /^tracefleet_agent_runs_active\{job_type="cpu-profile"\} 0$/m);
    assert.match(text, /^tracefleet_agent_link_up 1$/m);

    await agent.shutdown(100);
    await assert.rejects(fetch(`${url}/health/live`), 'nothing listens after shutdown');
  });
});

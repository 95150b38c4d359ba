import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ROOT, buildC, waitFor, waitForLibc } from './harness';

/** The .env that `npm start` reads (written by the set-up that `npm test` runs first). */
function dotEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(ROOT, '.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return out;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** BPF programs loaded on this machine (tests run one file at a time, so only ours change it). */
const bpfPrograms = (): number => (JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as unknown[]).length;

/**
 * `npm start`'s starter (infra/start.mjs) stopped while its agent cannot act on SIGTERM (here: stopped,
 * as an agent busy in a long task was seen to be) kills it after its grace instead of exiting and
 * leaving it behind with its probes attached.
 */
describe('npm start, stopped in the middle of a memleak job', { timeout: 120_000 }, () => {
  const env = dotEnv();
  const base = `http://127.0.0.1:${env.PORT || '8080'}/api/v1`;
  const node = env.TRACEFLEET_NODE_NAME || hostname();
  const children: ChildProcess[] = [];
  let start: ChildProcess | undefined;
  let agentPid = 0;

  after(() => {
    // Whatever happened: npm start's whole process group (it, the controller, the agent) goes.
    if (start?.pid) {
      for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
        try {
          process.kill(-start.pid, sig);
        } catch {
          // already gone
        }
      }
    }
    if (agentPid && alive(agentPid)) {
      process.kill(agentPid, 'SIGCONT');
      process.kill(agentPid, 'SIGKILL');
    }
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${env.TRACEFLEET_API_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json().catch(() => undefined) };
  };

  it('leaves no agent and nothing attached: an agent that does not stop within the grace is killed', async () => {
    const bpfBefore = bpfPrograms();
    let out = '';
    // Its own process group, so that the test can end all of it should it fail half-way.
    const proc = spawn(process.execPath, [join(ROOT, 'infra/start.mjs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    start = proc;
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const startedAt = Date.now();
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`npm start exited (${proc.exitCode}):\n${out}`);
      const nodes = await api('GET', '/nodes').catch(() => undefined);
      return nodes?.json?.some?.((n: { name: string; connected: boolean; connectedAt: string }) => n.name === node && n.connected && Date.parse(n.connectedAt) >= startedAt - 1000) ?? false;
    }, 60_000, `npm start's agent ${node} to connect`);
    const pids = execFileSync('pgrep', ['-P', String(proc.pid), '-f', 'node-agent/dist/main.js'], { encoding: 'utf8' }).trim().split('\n').map(Number);
    assert.equal(pids.length, 1, `one agent child of npm start: ${pids.join(', ')}`);
    agentPid = pids[0];

    const target = spawn(buildC('leak'), ['steady', '1000', join(ROOT, 'e2e', '.work', `npm-start-${process.pid}.go`)], { stdio: 'ignore' });
    children.push(target);
    await waitForLibc(target.pid!);
    const created = await api('POST', '/jobs', { type: 'memleak', durationSec: 60, intervalSec: 5, target: { pid: target.pid }, nodes: { names: [node] } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    await waitFor(async () => (await api('GET', `/jobs/${created.json.id}`)).json?.runs?.[0]?.status === 'running', 30_000, 'the memleak run to start');
    assert.ok(bpfPrograms() > bpfBefore, 'the memleak probes are loaded');

    // An agent that cannot act on SIGTERM, then `npm start` stopped as Ctrl-C or systemd would.
    process.kill(agentPid, 'SIGSTOP');
    const stoppedAt = Date.now();
    proc.kill('SIGTERM');
    await waitFor(async () => proc.exitCode !== null || proc.signalCode !== null, 30_000, 'npm start to exit');
    const tookMs = Date.now() - stoppedAt;
    assert.equal(alive(agentPid), false, `the agent (pid ${agentPid}) outlived npm start:\n${out}`);
    assert.match(out, /agent did not stop within 10 s of SIGTERM: killing it/);
    assert.ok(tookMs >= 9_000, `npm start gave its agent the grace (${tookMs} ms)`);
    await waitFor(async () => bpfPrograms() <= bpfBefore, 10_000, 'the killed agent\'s BPF programs to be released');
  });
});

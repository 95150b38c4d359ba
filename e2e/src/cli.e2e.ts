/**
 * The built `tracefleet` CLI against a real stack (controller, agent, PostgreSQL, Redis, the kernel): it
 * lists the node, profiles a C spinner into folded, SVG and pprof files, stops and waits for jobs, maps
 * how things end to exit codes, logs in to a 0600 file, and detaches on Ctrl-C without stopping the job.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT, buildC, freePort, parseFolded, sleep, startRunningJob, startStack, waitFor, type Stack } from './harness';
import { selfSignedCert } from './processes';

const CLI = join(ROOT, 'apps/cli/dist/main.js');

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('tracefleet CLI, end to end', () => {
  let stack: Stack;
  let hotBin: string;
  let tmp: string;
  let url: string;
  const children: ChildProcess[] = [];
  const jobsToStop: string[] = [];

  before(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it (npx turbo run build --filter=@tracefleet/cli)`);
    hotBin = buildC('hot');
    tmp = mkdtempSync(join(tmpdir(), 'tf-cli-e2e-'));
    stack = await startStack();
    url = stack.base.replace(/\/api\/v1$/, '');
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const id of jobsToStop) await stack?.api('POST', `/jobs/${id}/stop`).catch(() => undefined);
    await stack?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The environment of a CLI run: the stack's URL and token unless `env` says otherwise, and an empty config home. */
  function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const base: NodeJS.ProcessEnv = { ...process.env, TRACEFLEET_URL: url, TRACEFLEET_TOKEN: stack.apiToken, XDG_CONFIG_HOME: join(tmp, 'no-config'), NO_COLOR: '1' };
    delete base.TRACEFLEET_CAPTURE_TOKEN;
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete base[k];
      else base[k] = v;
    }
    return base;
  }

  /** Starts the CLI; `done` resolves when it exits (killed after timeoutMs). */
  function startCli(args: string[], env?: Record<string, string | undefined>, stdin?: string, timeoutMs = 90_000): { child: ChildProcess; done: Promise<CliResult>; stderr: () => string } {
    const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdin!.end(stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = new Promise<CliResult>((resolve) =>
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      }),
    );
    return { child, done, stderr: () => stderr };
  }

  const cli = (args: string[], env?: Record<string, string | undefined>, stdin?: string): Promise<CliResult> => startCli(args, env, stdin).done;

  function spinner(): ChildProcess {
    const hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    children.push(hot);
    return hot;
  }

  /** A cpu-profile of 120 s created with the CLI (--no-wait), once its run samples. */
  async function longJob(pid: number): Promise<string> {
    const r = await cli(['profile', '--pid', String(pid), '--duration', '120s', '--node', stack.nodeName, '--no-wait', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const id = JSON.parse(r.stdout).job.id as string;
    jobsToStop.push(id);
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.runs[0].status === 'running', 30_000, `job ${id} to run`);
    return id;
  }

  it('nodes --json lists the stack\'s node', async () => {
    const r = await cli(['nodes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const nodes = JSON.parse(r.stdout) as { name: string; connected: boolean }[];
    assert.ok(nodes.some((n) => n.name === stack.nodeName && n.connected), r.stdout.slice(0, 500));
    const table = await cli(['nodes', '--selector', 'role=e2e']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME +STATUS/);
    assert.ok(table.stdout.includes(stack.nodeName));
  });

  let completedJob = '';

  it('profile --pid writes folded stacks with the spinner\'s function, an SVG and a gzipped pprof; exit 0', async () => {
    const hot = spinner();
    const folded = join(tmp, 'out.folded');
    const r = await cli(['profile', '--pid', String(hot.pid), '--duration', '3s', '--nodes', 'role=e2e', '-o', folded]);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const stacks = parseFolded(readFileSync(folded, 'utf8'));
    assert.ok(stacks.length > 0 && stacks.every((s) => s.frames.length > 0 && Number.isInteger(s.count) && s.count > 0), 'parses as folded stacks');
    assert.ok(stacks.some((s) => s.frames.includes('hot_spin')), readFileSync(folded, 'utf8').slice(0, 1000));
    assert.match(r.stdout, /^job (\S+) cpu-profile: completed/);
    completedJob = /^job (\S+)/.exec(r.stdout)![1];
    // Not a terminal: plain progress lines on stderr, one per change.
    assert.match(r.stderr, new RegExp(`${stack.nodeName}: running`));
    assert.match(r.stderr, /wrote .*out\.folded \(folded/);

    const svg = join(tmp, 'x.svg');
    const s = await cli(['profile', '--pid', String(hot.pid), '--duration', '3s', '-o', svg, '--node', stack.nodeName]);
    assert.equal(s.code, 0, s.stderr);
    const svgText = readFileSync(svg, 'utf8');
    assert.match(svgText, /^<\?xml|^<svg/);
    assert.match(svgText, /hot_spin/);

    const pb = join(tmp, 'x.pb.gz');
    const p = await cli(['profile', '--pid', String(hot.pid), '--duration', '3s', '-o', pb, '--json']);
    assert.equal(p.code, 0, p.stderr);
    const raw = readFileSync(pb);
    assert.deepEqual([raw[0], raw[1]], [0x1f, 0x8b], 'gzip magic');
    assert.ok(gunzipSync(raw).length > 0);
    const out = JSON.parse(p.stdout);
    assert.equal(out.job.status, 'completed');
    assert.deepEqual({ format: out.output.format, bytes: out.output.bytes }, { format: 'pprof', bytes: raw.length });
    hot.kill('SIGKILL');
  });

  it('jobs wait of a completed job exits 0; jobs ls finds it', async () => {
    assert.ok(completedJob, 'the profile test ran first');
    const r = await cli(['jobs', 'wait', completedJob, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'completed');
    const ls = await cli(['jobs', 'ls', '--node', stack.nodeName, '--limit', '100', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(JSON.parse(ls.stdout).jobs.some((j: { id: string }) => j.id === completedJob));
  });

  it('jobs stop ends a long running job `stopped`, and jobs get --json shows it', async () => {
    const hot = spinner();
    const id = await longJob(hot.pid!);
    const r = await cli(['jobs', 'stop', id]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`job ${id}: stopped`));
    const g = await cli(['jobs', 'get', id, '--json']);
    assert.equal(g.code, 0, g.stderr);
    const job = JSON.parse(g.stdout);
    assert.equal(job.status, 'stopped');
    assert.equal(job.stoppedBy, 'api');
    // A stopped job is partial for scripts: exit 2.
    assert.equal((await cli(['jobs', 'wait', id])).code, 2);
    hot.kill('SIGKILL');
  });

  it('usage errors and refusals exit 1 with the reason on stderr', async () => {
    const bad = await cli(['profile', '--hzz', '5']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown option '--hzz'/);
    assert.equal(bad.stdout, '');

    const tooLong = await cli(['profile', '--all', '--duration', '999999s', '--node', stack.nodeName]);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /^tracefleet: 400 .*durationSec/m);

    const unauthorized = await cli(['nodes'], { TRACEFLEET_TOKEN: 'wrong-token' });
    assert.equal(unauthorized.code, 1);
    assert.match(unauthorized.stderr, /^tracefleet: 401 /m);

    const down = await cli(['nodes'], { TRACEFLEET_URL: 'http://127.0.0.1:1' });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:1\/api\/v1\/nodes/);
  });

  it('login checks the token, writes a 0600 file, and later commands need neither env nor flag', async () => {
    const home = join(tmp, 'home');
    const cfg = join(tmp, 'xdg');
    const noEnv = { TRACEFLEET_URL: undefined, TRACEFLEET_TOKEN: undefined, HOME: home, XDG_CONFIG_HOME: cfg };
    const wrong = await cli(['login', '--url', url], noEnv, 'wrong-token\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401/);
    assert.equal(existsSync(join(cfg, 'tracefleet', 'config.json')), false, 'nothing saved for a refused token');

    const r = await cli(['login', '--url', url], noEnv, `${stack.apiToken}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.includes(stack.apiToken), false, 'never echoes the token');
    const file = join(cfg, 'tracefleet', 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(cfg, 'tracefleet')).mode & 0o777, 0o700);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { url, token: stack.apiToken });
    const later = await cli(['nodes', '--json'], noEnv);
    assert.equal(later.code, 0, later.stderr);
    assert.ok(JSON.parse(later.stdout).some((n: { name: string }) => n.name === stack.nodeName));
  });

  it('Ctrl-C on jobs wait without a terminal detaches: exit 130, the job keeps running', async () => {
    const hot = spinner();
    const id = await startRunningJob(stack, { type: 'cpu-profile', durationSec: 120, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    jobsToStop.push(id);
    const w = startCli(['jobs', 'wait', id]);
    // The first progress line means the wait (and its SIGINT handler) is up.
    await waitFor(async () => w.stderr().includes(`${stack.nodeName}: running`), 20_000, 'jobs wait to show progress');
    w.child.kill('SIGINT');
    const r = await w.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`detaching without stopping it.*tracefleet jobs wait ${id}`));
    const job = (await stack.api('GET', `/jobs/${id}`)).json;
    assert.equal(job.status, 'running');
    assert.equal((await stack.api('POST', `/jobs/${id}/stop`)).status, 202);
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.status === 'stopped', 30_000, `job ${id} to stop`);
    hot.kill('SIGKILL');
  });

  it('diff writes a differential flame graph of two jobs', async () => {
    assert.ok(completedJob);
    const out = join(tmp, 'diff.svg');
    const r = await cli(['diff', completedJob, completedJob, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(out, 'utf8'), /<svg/);
  });

  it('ssl tail starts a capture with the capture token and prints each event as NDJSON; the api token is refused with the reason', async () => {
    const refused = await cli(['ssl', 'tail', '--comm', 'curl', '--duration', '2s']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^tracefleet: 403 .*capture token/m);

    const certDir = mkdtempSync(join(tmp, 'tls-'));
    const { cert, key } = selfSignedCert(certDir);
    const port = await freePort();
    const server = spawn('openssl', ['s_server', '-accept', String(port), '-cert', cert, '-key', key, '-www', '-quiet'], { stdio: 'ignore' });
    children.push(server);
    const tail = startCli(['ssl', 'tail', '--comm', 'curl', '--duration', '6s', '--node', stack.nodeName, '--json'], { TRACEFLEET_CAPTURE_TOKEN: stack.captureToken });
    let id = '';
    await waitFor(async () => Boolean((id = /job (\S+) \(ssl-capture\)/.exec(tail.stderr())?.[1] ?? '')), 20_000, 'ssl tail to create its job');
    jobsToStop.push(id);
    await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json.runs[0].status === 'running', 20_000, `ssl job ${id} to run`);
    await sleep(500);
    const curl = spawn('curl', ['-sk', '-o', '/dev/null', `https://127.0.0.1:${port}/cli-e2e-path`], { stdio: 'ignore' });
    children.push(curl);
    const r = await tail.done;
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(events.some((e) => e.comm === 'curl' && e.direction === 'write' && String(e.text).includes('GET /cli-e2e-path')), r.stdout.slice(0, 1000));
    assert.match(r.stderr, new RegExp(`job ${id}: completed`));
    server.kill('SIGKILL');
  });

  it('incident create --bundle starts the jobs together and waits for them', async () => {
    const bundle = join(tmp, 'bundle.json');
    writeFileSync(bundle, JSON.stringify([{ type: 'cpu-profile', durationSec: 1, target: { all: true } }]));
    const r = await cli(['incident', 'create', '--bundle', bundle, '--node', stack.nodeName, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const inc = JSON.parse(r.stdout);
    assert.equal(inc.status, 'completed');
    assert.deepEqual(inc.jobs.map((j: { runs: { node: string }[] }) => j.runs.map((x) => x.node)), [[stack.nodeName]]);
  });
});

/**
 * The agent-only install (infra/install-agent.sh) on a "second host": a network namespace joined to this
 * machine by a veth pair and a mount namespace of its own in which /opt, /etc/tracefleet and
 * /var/lib/tracefleet are empty tmpfs (so nothing is installed on this machine). The bundle is the one
 * `node infra/bundle.mjs agent --tar` makes; the agent it installs enrolls with a bootstrap token, shows up
 * `connected` on a controller that listens on the veth's host address, and profiles a process of this
 * machine. Hostile installer input (addresses that would add lines to the env file, a CA file with a key, a
 * token with a newline, a controller bundle) is refused before anything starts. Real kernel, PostgreSQL,
 * Redis, gRPC with mutual TLS.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLink } from './faults';
import { buildC, freePort, parseFolded, samplesUnder, ROOT, sleep, startStack, waitFor, waitJob, WORK, type Stack, raceTimeout } from './harness';

const INSTALLER = join(ROOT, 'infra', 'install-agent.sh');

/** A shell line run in the namespace: a private mount namespace with the install paths on empty tmpfs. */
function inHostNamespaces(ns: string, script: string): string[] {
  const mounts = 'mount --make-rprivate / && for d in /opt /etc/tracefleet /var/lib/tracefleet; do mkdir -p $d 2>/dev/null; mount -t tmpfs -o mode=0755 tmpfs $d; done';
  return ['ip', 'netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'bash', '-c', `${mounts} && ${script}`];
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('infra/install-agent.sh on a second host (netns + mount namespace, veth to the controller)', () => {
  const tag = randomBytes(3).toString('hex');
  const link = new NetnsLink(tag);
  const dir = join(WORK, `install-${tag}`);
  const bundle = join(dir, 'tracefleet-agent.tar.gz');
  const tokenFile = join(dir, 'token');
  const nodeName = `installed-${tag}`;
  let stack: Stack;
  let grpc = '';
  let enroll = '';
  let agent: ChildProcess | undefined;
  let agentLog = '';
  let hot: ChildProcess | undefined;

  before(async () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made = spawnSync(process.execPath, [join(ROOT, 'infra', 'bundle.mjs'), 'agent', '--out', join(dir, 'out'), '--tar', bundle], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(made.status, 0, `bundle.mjs failed: ${made.stdout}${made.stderr}`);
    console.log(`# ${made.stdout.trim().split('\n').join(' / ')}; tarball ${(statSync(bundle).size / 2 ** 20).toFixed(1)} MiB`);
    link.create();
    grpc = `${link.hostIp}:${await freePort()}`;
    enroll = `${link.hostIp}:${await freePort()}`;
    stack = await startStack({ agent: false, env: { TRACEFLEET_GRPC_ADDR: grpc, TRACEFLEET_ENROLL_ADDR: enroll } });
    writeFileSync(tokenFile, `${stack.enrollmentToken}\n`, { mode: 0o600 });
  });

  after(async () => {
    if (hot && hot.exitCode === null) hot.kill('SIGKILL');
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      await Promise.race([new Promise((r) => agent!.once('exit', r)), raceTimeout(12_000)]);
      if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    }
    await stack?.stop();
    link.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  function install(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
    const argv = inHostNamespaces(link.ns, [INSTALLER, ...args].map(q).join(' '));
    const r = spawnSync(argv[0], argv.slice(1), {
      encoding: 'utf8',
      timeout: 120_000,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  }

  const good = (): string[] => ['--bundle', bundle, '--ca-cert', stack.caCertFile, '--controller', grpc, '--enroll', enroll, '--token-file', tokenFile, '--node-name', nodeName];

  it('refuses hostile or wrong input before it writes or starts anything', () => {
    const cases: [string, string[], RegExp][] = [
      ['an address that would add a line to the env file', [...good().slice(0, 4), '--controller', `${grpc}\nTRACEFLEET_AGENT_POLICY=/tmp/x`, ...good().slice(6)], /--controller must be host:port/],
      ['a node name with a shell quote', [...good().slice(0, -2), '--node-name', "web'1"], /--node-name must be/],
      ['labels with a newline', [...good(), '--labels', 'a=b\nX=1'], /--labels must be/],
      ['an unknown option', [...good(), '--contoller', grpc], /unknown option --contoller/],
      ['no bundle', good().slice(2), /--bundle FILE\.tar\.gz is required/],
    ];
    for (const [what, args, want] of cases) {
      const r = install(args);
      assert.equal(r.status, 1, `${what}: exit ${r.status}\n${r.out}`);
      assert.match(r.out, want, what);
    }
    // A CA file that carries a private key: the agent must get the certificate only.
    const keyed = join(dir, 'ca-with-key.pem');
    writeFileSync(keyed, `${readFileSync(stack.caCertFile, 'utf8')}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`);
    const k = install([...good().slice(0, 2), '--ca-cert', keyed, ...good().slice(4)]);
    assert.equal(k.status, 1, k.out);
    assert.match(k.out, /holds a private key/);
    // A token with a newline would add a line to the env file.
    const badToken = join(dir, 'bad-token');
    writeFileSync(badToken, `${stack.enrollmentToken}\nTRACEFLEET_AGENT_POLICY=/tmp/x\n`, { mode: 0o600 });
    const t = install([...good().slice(0, 8), '--token-file', badToken, ...good().slice(10)]);
    assert.equal(t.status, 1, t.out);
    assert.match(t.out, /characters a token does not have/);
    // A controller bundle is not an agent bundle.
    const ctlDir = join(dir, 'ctl');
    mkdirSync(join(ctlDir, 'agent'), { recursive: true });
    writeFileSync(join(ctlDir, 'agent', 'main.js'), '');
    writeFileSync(join(ctlDir, 'agent', 'BUNDLE.json'), '{ "component": "controller" }\n');
    const fake = join(dir, 'not-agent.tar.gz');
    assert.equal(spawnSync('tar', ['-C', ctlDir, '-czf', fake, 'agent']).status, 0);
    const c = install(['--bundle', fake, ...good().slice(2)]);
    assert.equal(c.status, 1, c.out);
    assert.match(c.out, /a bundle of another component/);
    // Where systemd is not running, the default mode says so and how to start the agent instead.
    const s = install(good());
    assert.equal(s.status, 1, s.out);
    assert.match(s.out, /systemd is not running on this host: start the agent with --foreground/);
    // None of it touched this machine's /opt.
    assert.equal(existsSync('/opt/tracefleet'), false, 'the installer wrote /opt/tracefleet on this machine');
  });

  it('installs the bundle, enrolls over the veth, shows up connected and profiles a process of this machine', async () => {
    const argv = inHostNamespaces(link.ns, [INSTALLER, ...good(), '--labels', 'role=installed', '--foreground'].map(q).join(' '));
    const started = Date.now();
    agent = spawn(argv[0], argv.slice(1), { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exitOnCrash = (): void => void (agent && agent.exitCode === null && agent.kill('SIGKILL'));
    process.once('exit', exitOnCrash);
    agent.once('exit', () => process.removeListener('exit', exitOnCrash));
    agent.stdout!.on('data', (d) => (agentLog += d));
    agent.stderr!.on('data', (d) => (agentLog += d));
    try {
      await waitFor(async () => {
        const nodes = await stack.api('GET', '/nodes');
        return nodes.json.some((n: { name: string; status: string }) => n.name === nodeName && n.status === 'connected');
      }, 60_000, `${nodeName} to be connected`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- installer and agent output:\n${agentLog}`);
    }
    console.log(`# installed and connected ${Date.now() - started} ms after the installer started`);
    const node = (await stack.api('GET', `/nodes/${nodeName}`)).json;
    assert.deepEqual(node.labels, { role: 'installed' });
    assert.match(agentLog, /unpacking .*tracefleet-agent\.tar\.gz into \/opt\/tracefleet/);

    // What it installed, seen through the installer's own mount namespace (the agent's /proc/PID/root).
    const nsRoot = `/proc/${agent.pid}/root`;
    const envFile = `${nsRoot}/etc/tracefleet/agent.env`;
    assert.equal(statSync(envFile).mode & 0o777, 0o600, 'agent.env is 0600');
    const env = readFileSync(envFile, 'utf8');
    assert.match(env, new RegExp(`^TRACEFLEET_CONTROLLER_GRPC=${grpc.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(env, /^TRACEFLEET_CA_CERT=\/etc\/tracefleet\/pki\/ca\.pem$/m);
    assert.equal(statSync(`${nsRoot}/var/lib/tracefleet/agent`).mode & 0o777, 0o700, 'the state directory is 0700');
    const manifest = JSON.parse(readFileSync(`${nsRoot}/opt/tracefleet/agent/BUNDLE.json`, 'utf8'));
    assert.equal(manifest.component, 'agent');
    assert.ok(existsSync(`${nsRoot}/opt/tracefleet/node/bin/node`));
    assert.equal(existsSync('/opt/tracefleet'), false, 'nothing was installed on this machine');

    // It works: a process of this machine (the same kernel, another network) profiled by the installed agent.
    hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 3, frequencyHz: 99, target: { pid: hot.pid }, nodes: { names: [nodeName] } });
    assert.equal(created.status, 201, created.text);
    const job = await waitJob(stack, created.json.id, 60_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const folded = parseFolded((await stack.api('GET', `/jobs/${created.json.id}/flamegraph.folded`)).text);
    const { under: inHot, total } = samplesUnder(folded, ['main', 'work', 'hot_spin']);
    console.log(`# ${inHot} of ${total} samples under main → work → hot_spin`);
    assert.ok(total > 0 && inHot / total >= 0.8, `only ${inHot} of ${total} samples under main → work → hot_spin`);
  });
});

/**
 * The container images (issue 19), end to end: infra/images/build.mjs builds (or, same bundle content,
 * reuses) tracefleet/controller and tracefleet/agent; the controller image's `migrate` applies the migrations
 * to the e2e database; the controller container (uid 10001) serves with a fleet CA made here; the agent
 * container (root, --pid=host, BPF capabilities without CAP_SYS_ADMIN) enrolls with the bootstrap token and
 * connects over mutual TLS; a cpu-profile job on it samples a busy C program running on the host, and the
 * flame graph shows its hot function. Host networking: the containers reach PostgreSQL and Redis on 127.0.0.1.
 * Every container started here is removed in `after`, whatever happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa } from '@tracefleet/pki';
import { ROOT, WORK, buildC, e2eDatabaseUrl, freePort, parseFolded, samplesUnder, readAnswer, requireServices, serviceUrl, sleep, waitFor, type Api } from './harness';
import { docker, requireDocker } from './containers';

const CONTROLLER_UID = 10001;
const CAP_BIT: Record<string, number> = { DAC_READ_SEARCH: 2, SYS_PTRACE: 19, SYS_ADMIN: 21, SYS_RESOURCE: 24, SYSLOG: 34, PERFMON: 38, BPF: 39 };
const CAP_SYS_ADMIN = CAP_BIT.SYS_ADMIN;
/**
 * CAP_SYS_RESOURCE only lifts RLIMIT_MEMLOCK, which kernels since 5.11 no longer charge BPF maps to (memcg
 * accounting; libbpf >= 1.0 copes): given where this machine has it to give. This VM's bounding set lacks it
 * (runc: "unable to apply caps"), so here the agent runs without it, which also shows it is not needed.
 */
const hostHasSysResource = ((BigInt(`0x${readFileSync('/proc/self/status', 'utf8').match(/^CapBnd:\s+([0-9a-f]+)/m)![1]}`) >> 24n) & 1n) === 1n;
const MAYBE_SYS_RESOURCE = hostHasSysResource ? ['SYS_RESOURCE'] : [];
/** What the agent container gets (infra/images/README.md): no CAP_SYS_ADMIN. SYSLOG: kernel frames named (/proc/kallsyms). */
const AGENT_CAPS = ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG', ...MAYBE_SYS_RESOURCE];
/**
 * Engines that predate CAP_BPF and CAP_PERFMON (Debian 12's docker.io 20.10 refuses them as "unknown
 * capability", and its seccomp profile admits bpf(2) and perf_event_open(2) only with CAP_SYS_ADMIN): there
 * CAP_SYS_ADMIN stands in for both, as the kernel allows (bpf_capable, perfmon_capable).
 */
const AGENT_CAPS_OLD_ENGINE = ['SYS_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG', ...MAYBE_SYS_RESOURCE];
const HZ = 99;

interface Built {
  image: string;
  versionTag: string;
  contentTag: string;
  version: string;
  commit: string;
  built: boolean;
  seconds: number;
  sizeBytes: number;
}

/** Runs infra/images/build.mjs (a cold build takes minutes, a warm one seconds); its JSON answer. */
function buildImages(): { controller: Built; agent: Built; seconds: number } {
  const r = spawnSync(process.execPath, [join(ROOT, 'infra/images/build.mjs'), '--json'], { encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `infra/images/build.mjs failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}\n${r.stderr.slice(-6000)}`);
  process.stderr.write(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** The effective capability set of a host process, as bit numbers. */
function capEff(pid: number): Set<number> {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
  assert.ok(line, `no CapEff in /proc/${pid}/status`);
  const mask = BigInt(`0x${line.split(/\s+/)[1]}`);
  const bits = new Set<number>();
  for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) bits.add(i);
  return bits;
}

describe('the controller and agent container images', () => {
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const ctlName = `tf-e2e-img-controller-${tag}`;
  const agentName = `tf-e2e-img-agent-${tag}`;
  const nodeName = `img-${randomBytes(3).toString('hex')}`;
  const dir = join(WORK, `images-${tag}`);
  const containers: string[] = [];
  let hot: ChildProcess | undefined;
  let images: ReturnType<typeof buildImages>;
  let api: Api;
  let base = '';
  let hotBin = '';
  let agentCaps = AGENT_CAPS;

  /** The capabilities this engine can grant the agent: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN on an engine that predates them. */
  function capsForEngine(image: string): string[] {
    const probe = spawnSync('docker', ['run', '--rm', '--network', 'none', '--cap-drop', 'ALL', ...AGENT_CAPS.flatMap((c) => ['--cap-add', c]), '--entrypoint', 'true', image], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return AGENT_CAPS;
    assert.match(probe.stderr, /unknown capability: "CAP_(BPF|PERFMON)"/, `docker run --cap-add BPF failed otherwise (${probe.status}): ${probe.stderr}`);
    const version = docker(['version', '--format', '{{.Server.Version}}']);
    console.log(`# docker engine ${version} does not know CAP_BPF/CAP_PERFMON: the agent container gets CAP_SYS_ADMIN in their place (${AGENT_CAPS_OLD_ENGINE.join(' ')})`);
    return AGENT_CAPS_OLD_ENGINE;
  }

  /** Both containers' logs (the tail), for an assertion's message. */
  function logs(): string {
    return containers
      .map((c) => {
        const r = spawnSync('docker', ['logs', '--tail', '80', c], { encoding: 'utf8', timeout: 30_000 });
        return `--- docker logs ${c} ---\n${r.stdout}${r.stderr}`;
      })
      .join('\n');
  }

  /** A test run that dies without its `after` (an uncaught error, process.exit) still removes its containers. */
  const removeOnExit = (): void => {
    for (const c of containers) spawnSync('docker', ['rm', '-f', c], { stdio: 'ignore', timeout: 60_000 });
  };

  function run(name: string, args: string[]): string {
    if (containers.length === 0) process.once('exit', removeOnExit);
    containers.push(name);
    return docker(['run', '-d', '--name', name, '--label', 'io.tracefleet.e2e=images', ...args]);
  }

  before(async () => {
    requireDocker();
    if (!hostHasSysResource) console.log('# this machine\'s capability bounding set has no CAP_SYS_RESOURCE: the agent container runs without it');
    await requireServices();
    hotBin = buildC('hot');
    const started = Date.now();
    images = buildImages();
    console.log(`# images ready in ${((Date.now() - started) / 1000).toFixed(1)} s: controller ${images.controller.contentTag} (${images.controller.built ? 'built' : 'reused'}, ${(images.controller.sizeBytes / 1e6).toFixed(0)} MB), agent ${images.agent.contentTag} (${images.agent.built ? 'built' : 'reused'}, ${(images.agent.sizeBytes / 1e6).toFixed(0)} MB)`);

    // Files the containers read: the fleet CA (the controller, uid 10001, must read its key; the agent only
    // the certificate), env files (secrets stay off docker's command line), the agent's state directory.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pki = join(dir, 'pki');
    mkdirSync(pki, { mode: 0o700 });
    const ca = await createCa(`e2e images fleet CA ${tag}`, 2);
    writeFileSync(join(pki, 'ca.pem'), ca.certPem, { mode: 0o644 });
    writeFileSync(join(pki, 'ca.key'), ca.keyPem, { mode: 0o600 });
    for (const f of ['', 'ca.pem', 'ca.key']) chownSync(join(pki, f), CONTROLLER_UID, CONTROLLER_UID);
    const agentCa = join(dir, 'agent-ca.pem');
    writeFileSync(agentCa, ca.certPem, { mode: 0o644 });
    const stateDir = join(dir, 'agent-state');
    mkdirSync(stateDir, { mode: 0o700 });

    const port = await freePort();
    const grpcAddr = `127.0.0.1:${await freePort()}`;
    const enrollAddr = `127.0.0.1:${await freePort()}`;
    const apiToken = randomBytes(24).toString('hex');
    const enrollmentToken = randomBytes(24).toString('hex');
    const databaseUrl = e2eDatabaseUrl();
    const envFile = (name: string, env: Record<string, string>): string => {
      const file = join(dir, name);
      writeFileSync(file, Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
      return file;
    };

    // Migrations through the image (as an operator would before starting a new version).
    const migrate = spawnSync('docker', ['run', '--rm', '--network', 'host', '--read-only', '--tmpfs', '/tmp', '--env-file', envFile('migrate.env', { DATABASE_URL: databaseUrl }), images.controller.image, 'migrate'], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(migrate.status, 0, `docker run ${images.controller.image} migrate failed (${migrate.status ?? migrate.signal}):\n${migrate.stdout}\n${migrate.stderr}`);
    assert.match(migrate.stdout + migrate.stderr, /All migrations have been successfully applied|No pending migrations to apply/);

    // The controller: host network, its listeners on loopback ports of its own, its own queue prefix.
    // Read-only root filesystems with a /tmp, as infra/k8s runs both (readOnlyRootFilesystem).
    run(ctlName, [
      '--network', 'host',
      '--read-only', '--tmpfs', '/tmp',
      '--env-file', envFile('controller.env', {
        DATABASE_URL: databaseUrl,
        REDIS_URL: serviceUrl('REDIS_URL'),
        TRACEFLEET_API_TOKEN: apiToken,
        TRACEFLEET_CAPTURE_TOKEN: randomBytes(24).toString('hex'),
        TRACEFLEET_ENROLLMENT_TOKEN: enrollmentToken,
        HOST: '127.0.0.1',
        PORT: String(port),
        TRACEFLEET_GRPC_ADDR: grpcAddr,
        TRACEFLEET_ENROLL_ADDR: enrollAddr,
        TRACEFLEET_CA_CERT: '/etc/tracefleet/pki/ca.pem',
        TRACEFLEET_CA_KEY: '/etc/tracefleet/pki/ca.key',
        TRACEFLEET_QUEUE_PREFIX: `tf-e2e-img-${port}`,
        TRACEFLEET_HEARTBEAT_MS: '1000',
        TRACEFLEET_RESULT_GRACE_SEC: '10',
      }),
      '-v', `${pki}:/etc/tracefleet/pki:ro`,
      images.controller.image,
    ]);
    base = `http://127.0.0.1:${port}/api/v1`;
    api = async (method, path, body, token) => {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token ?? apiToken}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      return readAnswer(await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
    };
    await waitFor(async () => {
      const state = docker(['inspect', '--format', '{{.State.Status}}', ctlName]);
      if (state !== 'running') throw new Error(`the controller container is ${state}:\n${logs()}`);
      try {
        return (await fetch(`${base}/health/ready`)).status === 200;
      } catch {
        return false;
      }
    }, 60_000, `the controller container to be ready (${base}/health/ready)`);

    // The agent: root, the host's pid namespace, BPF capabilities only, the kernel's BTF and tracefs read-only.
    // An experiment (infra/images/README.md): TRACEFLEET_E2E_AGENT_CAPS=A,B runs the agent with that set instead.
    agentCaps = process.env.TRACEFLEET_E2E_AGENT_CAPS ? process.env.TRACEFLEET_E2E_AGENT_CAPS.split(',') : capsForEngine(images.agent.image);
    if (process.env.TRACEFLEET_E2E_AGENT_CAPS) console.log(`# experiment: agent capabilities ${agentCaps.join(',')} (TRACEFLEET_E2E_AGENT_CAPS)`);
    run(agentName, [
      '--network', 'host',
      '--pid', 'host',
      '--read-only', '--tmpfs', '/tmp',
      '--cap-drop', 'ALL',
      ...agentCaps.flatMap((c) => ['--cap-add', c]),
      '-v', '/sys/kernel/btf:/sys/kernel/btf:ro',
      '-v', '/sys/kernel/tracing:/sys/kernel/tracing:ro',
      '-v', `${stateDir}:/var/lib/tracefleet/agent`,
      '-v', `${agentCa}:/etc/tracefleet/ca.pem:ro`,
      '--env-file', envFile('agent.env', {
        TRACEFLEET_CA_CERT: '/etc/tracefleet/ca.pem',
        TRACEFLEET_CONTROLLER_GRPC: grpcAddr,
        TRACEFLEET_ENROLL_ADDR: enrollAddr,
        TRACEFLEET_ENROLLMENT_TOKEN: enrollmentToken,
        TRACEFLEET_NODE_NAME: nodeName,
        TRACEFLEET_NODE_LABELS: 'role=e2e-image',
      }),
      images.agent.image,
    ]);
    await waitFor(async () => {
      const state = docker(['inspect', '--format', '{{.State.Status}}', agentName]);
      if (state !== 'running') throw new Error(`the agent container is ${state}:\n${logs()}`);
      const nodes = await api('GET', '/nodes');
      return nodes.json?.some?.((n: { name: string; connected: boolean }) => n.name === nodeName && n.connected) ?? false;
    }, 60_000, `node ${nodeName} (the agent container) to connect`);
  });

  after(async () => {
    if (hot && hot.exitCode === null && hot.signalCode === null) hot.kill('SIGKILL');
    for (const c of containers.splice(0)) spawnSync('docker', ['rm', '-f', c], { stdio: 'ignore', timeout: 60_000 });
    process.removeListener('exit', removeOnExit);
    const left = spawnSync('docker', ['ps', '-a', '--filter', `name=${tag}`, '--format', '{{.Names}}'], { encoding: 'utf8' }).stdout.trim();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(left, '', `containers left behind: ${left}`);
  });

  it('labels the images with the bundle version, commit and content hash', () => {
    for (const [component, b] of [['controller', images.controller], ['agent', images.agent]] as const) {
      const labels = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', b.versionTag]));
      assert.equal(labels['org.opencontainers.image.version'], b.version);
      assert.equal(labels['org.opencontainers.image.revision'], b.commit);
      assert.equal(labels['io.tracefleet.component'], component);
      assert.equal(b.contentTag, `tracefleet/${component}:bundle-${labels['io.tracefleet.bundle-hash']}`);
      assert.equal(docker(['image', 'inspect', '--format', '{{.Id}}', b.versionTag]), docker(['image', 'inspect', '--format', '{{.Id}}', b.contentTag]));
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(images.controller.versionTag, `tracefleet/controller:${pkg.version}`);
    assert.equal(images.agent.versionTag, `tracefleet/agent:${pkg.version}`);
  });

  it('runs the controller as uid 10001 and the agent as root with only its capabilities (no CAP_SYS_ADMIN where the engine knows CAP_BPF)', () => {
    assert.equal(docker(['exec', ctlName, 'id', '-u']), String(CONTROLLER_UID));
    const ctlPid = Number(docker(['inspect', '--format', '{{.State.Pid}}', ctlName]));
    assert.match(readFileSync(`/proc/${ctlPid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${CONTROLLER_UID}\\s+${CONTROLLER_UID}\\s`, 'm'));
    assert.equal(capEff(ctlPid).size, 0, 'the controller (non-root) has no effective capabilities');

    const agentPid = Number(docker(['inspect', '--format', '{{.State.Pid}}', agentName]));
    assert.match(readFileSync(`/proc/${agentPid}/status`, 'utf8'), /^Uid:\s+0\s+0\s/m);
    const caps = capEff(agentPid);
    if (!agentCaps.includes('SYS_ADMIN')) assert.ok(!caps.has(CAP_SYS_ADMIN), `the agent has CAP_SYS_ADMIN: ${[...caps].join(',')}`);
    // Exactly what it was given: nothing of docker's default set (CAP_CHOWN, CAP_NET_RAW, ...).
    assert.deepEqual([...caps].sort((a, b) => a - b), agentCaps.map((c) => CAP_BIT[c]).sort((a, b) => a - b));
    assert.equal(docker(['inspect', '--format', '{{.HostConfig.Privileged}} {{.HostConfig.PidMode}}', agentName]), 'false host');
  });

  it('profiles a busy program on the host from the agent container: its hot function in the flame graph', async () => {
    hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    await sleep(300);
    const created = await api('POST', '/jobs', { type: 'cpu-profile', durationSec: 4, frequencyHz: HZ, target: { pid: hot.pid }, nodes: { names: [nodeName] } });
    assert.equal(created.status, 201, created.text);
    let job: any;
    await waitFor(async () => {
      job = (await api('GET', `/jobs/${created.json.id}`)).json;
      return ['completed', 'partial', 'failed'].includes(job?.status);
    }, 60_000, `job ${created.json.id} to end`);
    hot.kill('SIGKILL');
    assert.equal(job.status, 'completed', `${JSON.stringify(job)}\n${logs()}`);
    assert.equal(job.runs[0].node, nodeName);

    const folded = await api('GET', `/jobs/${job.id}/flamegraph.folded`);
    assert.equal(folded.status, 200, folded.text);
    const stacks = parseFolded(folded.text);
    const { under: inHot, total } = samplesUnder(stacks, ['main', 'work', 'hot_spin']);
    const kernelFrames = [...new Set(stacks.flatMap((s) => s.frames.filter((f) => f.endsWith('_[k]'))))];
    console.log(`# ${total} samples from the agent container, ${((inHot / Math.max(1, total)) * 100).toFixed(1)} % under main → work → hot_spin; kernel frames seen: ${kernelFrames.slice(0, 4).join(' ') || 'none'}`);
    // Samples come only while the program is on a CPU: a loaded machine gives fewer than hz × seconds.
    assert.ok(total >= HZ * 4 * 0.25, `only ${total} samples:\n${folded.text.slice(0, 2000)}`);
    assert.ok(inHot / total >= 0.8, `only ${inHot} of ${total} samples under main → work → hot_spin:\n${folded.text.slice(0, 2000)}`);
  });
});

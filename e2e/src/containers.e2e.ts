/**
 * Containers and cgroups (issue 16), end to end on the real kernel with Docker's engine: a Python and a Node
 * service each in its own container; `{"container": id}` profiles only that one, with its frames named (Python
 * functions read from the interpreter, JIT-compiled JS from the perf map inside the container) and pprof
 * samples labelled with the container; a process started in the container after the job began is followed;
 * a whole-host profile filters and groups by container; `{"cgroup": path}` profiles a process put in a cgroup
 * the test made (cgroup v2: the kernel compares cgroup ids; cgroup v1: the agent's pid set) and nothing else;
 * targets that name nothing are refused naming the field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePprof, pprofStacks } from '@tracefleet/controller/dist/profiles/pprof/pprof-decode';
import { buildC, freePort, parseFolded, sleep, startRunningJob, startStack, waitFor, waitForLibc, waitJob, type Stack as StackApi } from './harness';
import { chainShare, topStacks, type Stack } from './unwind-support';
import { selfSignedCert } from './processes';
import { containerPid, docker, ensureImage, removeAll, requireDocker, runContainer } from './containers';

const PY_MAIN = /^(main|Py_BytesMain|Py_RunMain)$/;
const G = /^g \(app\.py:\d+\)$/;
const F = /^f \(app\.py:\d+\)$/;
const JS_FN = 'tracefleetBurnCpuInJs';
const V1_CPU = '/sys/fs/cgroup/cpu';

const total = (stacks: Stack[]): number => stacks.reduce((a, s) => a + s.count, 0);
const share = (stacks: Stack[], pred: (s: Stack) => boolean): number => stacks.filter(pred).reduce((a, s) => a + s.count, 0) / Math.max(1, total(stacks));

/** The mount point of the cgroup v2 hierarchy (this host mounts it beside the v1 ones), from mountinfo. */
function cgroup2Mount(): string {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
  assert.ok(line, 'no cgroup2 hierarchy is mounted: this test needs one (mount -t cgroup2 none DIR)');
  return line.split(' ')[4];
}

describe('containers and cgroups as targets, and the labels of samples', () => {
  let stack: StackApi;
  let py = '';
  let js = '';
  const children: ChildProcess[] = [];
  const cgroups: string[] = [];
  const tag = `${process.pid}-${Date.now().toString(36)}`;

  before(async () => {
    requireDocker();
    ensureImage();
    stack = await startStack();
    py = runContainer(`tf-e2e-py-${tag}`, ['python3', '/fx/python/app.py', '0']);
    js = runContainer(`tf-e2e-js-${tag}`, ['node', '--perf-basic-prof', '/fx/burn.js', '0']);
    await sleep(1500); // V8 compiles the hot function and writes /tmp/perf-1.map inside its container
  });

  after(async () => {
    removeAll();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sleep(200);
    for (const dir of cgroups.reverse()) if (existsSync(dir)) rmdirSync(dir);
    await stack?.stop();
  });

  async function profile(target: object, durationSec: number, whileRunning?: () => Promise<void>): Promise<any> {
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec, frequencyHz: 99, target, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    await whileRunning?.();
    const job = await waitJob(stack, created.json.id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    return job;
  }

  async function folded(jobId: string, query = ''): Promise<Stack[]> {
    const res = await stack.api('GET', `/jobs/${jobId}/flamegraph.folded${query}`);
    assert.equal(res.status, 200, res.text);
    return parseFolded(res.text);
  }

  async function pprofSamples(jobId: string, query = ''): Promise<ReturnType<typeof pprofStacks>> {
    const res = await fetch(`${stack.base}/jobs/${jobId}/profile.pprof${query}`, { headers: { authorization: `Bearer ${stack.apiToken}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return pprofStacks(decodePprof(new Uint8Array(await res.arrayBuffer())));
  }

  it('{"container": id} profiles only the Python service, its functions by name, and pprof labels the container', async () => {
    const job = await profile({ container: py.slice(0, 12) }, 4);
    const stacks = await folded(job.id);
    assert.ok(total(stacks) > 150, `only ${total(stacks)} samples:\n${topStacks(stacks)}`);
    assert.equal(share(stacks, (s) => s.frames[0] === 'python3'), 1, `a process other than the container's python3:\n${topStacks(stacks)}`);
    const named = chainShare(stacks, [PY_MAIN, G, F]);
    assert.ok(named >= 0.9, `main → g → f in ${(named * 100).toFixed(1)} % of samples:\n${topStacks(stacks)}`);
    const samples = await pprofSamples(job.id);
    for (const s of samples) {
      assert.equal(s.labels.container, py, `a sample without the container label: ${JSON.stringify(s.labels)}`);
      assert.match(s.labels.cgroup ?? '', new RegExp(py), JSON.stringify(s.labels));
    }
    console.log(`# container ${py.slice(0, 12)}: ${total(stacks)} samples, ${(named * 100).toFixed(1)} % main → g → f; labels ${JSON.stringify(samples[0].labels)}; run notes: ${job.runs[0].reason}`);
  });

  it('{"container": id} of a Node service names its JIT-compiled JS function from the perf map inside the container', async () => {
    const job = await profile({ container: js }, 4);
    const stacks = await folded(job.id);
    assert.equal(share(stacks, (s) => s.frames[0] === 'node'), 1, `a process other than the container's node:\n${topStacks(stacks)}`);
    const named = share(stacks, (s) => s.frames.some((f) => f.includes(JS_FN)));
    assert.ok(named > 0.5, `${JS_FN} in only ${(named * 100).toFixed(1)} % of samples:\n${topStacks(stacks)}`);
    for (const s of await pprofSamples(job.id)) assert.equal(s.labels.container, js, JSON.stringify(s.labels));
  });

  it('follows a process started in the container after the job began', async () => {
    const late = 'def late_work():\n  while True: sum(range(1000))\nlate_work()\n';
    const job = await profile({ container: py }, 5, async () => {
      await sleep(1500);
      docker(['exec', '-d', py, 'python3', '-c', late]);
    });
    const stacks = await folded(job.id);
    const lateShare = share(stacks, (s) => s.frames.some((f) => /^late_work \(<string>:\d+\)$/.test(f)));
    assert.ok(lateShare > 0.1, `the late process is in ${(lateShare * 100).toFixed(1)} % of samples:\n${topStacks(stacks)}`);
    // docker exec's runc init runs in the container's cgroup before it becomes python3: it may be sampled too.
    const others = [...new Set(stacks.map((s) => s.frames[0]))].filter((r) => r !== 'python3' && !/^runc/.test(r));
    assert.deepEqual(others, [], `processes outside the container:\n${topStacks(stacks.filter((s) => others.includes(s.frames[0])))}`);
  });

  it('filters and groups a whole-host profile by container (?container=, ?groupBy=container)', async () => {
    // A process exec'd into the container meanwhile is labelled with it (not with the runtime it was forked from).
    const late = 'import time\ndef late_whole_host():\n  end = time.time() + 3\n  while time.time() < end: sum(range(1000))\nlate_whole_host()\n';
    const job = await profile({ all: true }, 5, async () => {
      await sleep(1000);
      docker(['exec', '-d', py, 'python3', '-c', late]);
    });
    const byContainer = await folded(job.id, '?groupBy=container');
    const lateStacks = byContainer.filter((s) => s.frames.some((f) => f.startsWith('late_whole_host (')));
    const viaString = byContainer.filter((s) => s.frames.includes('PyRun_SimpleStringFlags'));
    assert.ok(total(lateStacks) > 10, `the exec'd process: ${total(lateStacks)} samples; python -c stacks:\n${topStacks(viaString, 5)}\nrun: ${job.runs[0].reason}`);
    assert.deepEqual([...new Set(lateStacks.map((s) => s.frames[0]))], [`container ${py.slice(0, 12)}`]);
    const onlyPy = await folded(job.id, `?container=${py.slice(0, 8)}`);
    assert.ok(total(onlyPy) > 50, topStacks(onlyPy));
    // docker exec's runc init runs in the container's cgroup before it becomes python3.
    assert.equal(share(onlyPy, (s) => s.frames[0] === 'python3' || /^runc/.test(s.frames[0])), 1, topStacks(onlyPy));
    const grouped = await folded(job.id, '?groupBy=container');
    const roots = new Set(grouped.map((s) => s.frames[0]));
    for (const id of [py, js]) assert.ok(roots.has(`container ${id.slice(0, 12)}`), `no root for ${id.slice(0, 12)}: ${[...roots].join(', ')}`);
    assert.ok(roots.has('[no container]'), [...roots].join(', '));
    const jsOnly = grouped.filter((s) => s.frames[0] === `container ${js.slice(0, 12)}`);
    assert.ok(jsOnly.every((s) => s.frames[1] === 'node'), topStacks(jsOnly));
    const bad = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded?container=XYZ`);
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /container must be/);
  });

  /** A busy C process and a busy Python one; `place` puts the C one's pid into a cgroup the test made. */
  async function cgroupCase(dir: string, cgroupPath: string, expectNote: RegExp): Promise<void> {
    const hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
    const other = spawn('python3.11', [join(__dirname, '..', 'fixtures', 'python', 'app.py'), '0'], { stdio: 'ignore' });
    children.push(hot, other);
    mkdirSync(dir);
    cgroups.push(dir);
    writeFileSync(join(dir, 'cgroup.procs'), String(hot.pid));
    await waitFor(async () => readFileSync(`/proc/${hot.pid}/cgroup`, 'utf8').includes(cgroupPath), 5000, 'the process to join the cgroup');
    const job = await profile({ cgroup: cgroupPath }, 3);
    hot.kill('SIGKILL');
    other.kill('SIGKILL');
    const stacks = await folded(job.id);
    assert.ok(total(stacks) > 30, `only ${total(stacks)} samples:\n${topStacks(stacks)}`);
    assert.equal(share(stacks, (s) => s.frames[0] === 'hot'), 1, `a process outside ${cgroupPath}:\n${topStacks(stacks)}`);
    assert.match(job.runs[0].reason ?? '', expectNote, JSON.stringify(job.runs[0]));
    for (const s of await pprofSamples(job.id)) assert.equal(s.labels.cgroup, cgroupPath, JSON.stringify(s.labels));
    const byCgroup = await folded(job.id, `?cgroup=${encodeURIComponent(cgroupPath)}`);
    assert.equal(total(byCgroup), total(stacks));
    console.log(`# cgroup ${cgroupPath}: ${total(stacks)} samples, all of it; run notes: ${job.runs[0].reason}`);
  }

  it('{"cgroup": path} of a cgroup v2 cgroup the test made: that process and nothing else, filtered in the kernel', async () => {
    const name = `tf-e2e-${tag}`;
    await cgroupCase(join(cgroup2Mount(), name), `/${name}`, /filtered in the kernel by its cgroup id/);
  });

  it('{"cgroup": path} of a cgroup v1 cgroup: followed by the agent\'s pid set', async () => {
    const name = `tf-e2e-v1-${tag}`;
    await cgroupCase(join(V1_CPU, name), `/${name}`, /cgroup v1 cgroup: its processes are followed by a \/proc scan/);
  });

  it('usdt, syscount and memleak take a container target too: only its processes count', async () => {
    const K = 5;
    // python-gc USDT: K collections in the container and K in a twin on the host, both through a python3.11 with
    // the same probes; the job on the container counts K.
    const gcC = runContainer(`tf-e2e-gc-${tag}`, ['python3.11', '/fx/gc_loop.py', String(K), '/tmp/go']);
    const hostGo = join(__dirname, '..', '.work', `gc-${tag}.go`);
    const twin = spawn('python3.11', [join(__dirname, '..', 'fixtures', 'gc_loop.py'), String(K), hostGo], { stdio: 'ignore' });
    children.push(twin);
    await sleep(1000);
    const usdt = await startRunningJob(stack, { type: 'usdt', durationSec: 4, target: { container: gcC }, binary: '/usr/bin/python3.11', preset: 'python-gc', nodes: { names: [stack.nodeName] } });
    docker(['exec', gcC, 'touch', '/tmp/go']);
    writeFileSync(hostGo, '');
    const usdtJob = await waitJob(stack, usdt);
    twin.kill('SIGKILL');
    assert.equal(usdtJob.status, 'completed', JSON.stringify(usdtJob));
    const gc = (await stack.api('GET', `/jobs/${usdt}/usdt`)).json.pairs.find((p: { label: string }) => p.label === 'gc');
    assert.equal(gc?.count, K, `the container's ${K} collections, not the host twin's: ${JSON.stringify(gc)}; ${usdtJob.runs[0].reason}`);
    const starts = (await stack.api('GET', `/jobs/${usdt}/usdt/events?probe=python:gc__start&limit=100`)).json.events as { container: string; cgroup: string }[];
    assert.equal(starts.length, K);
    for (const e of starts) assert.equal(e.container, gcC, `an event without its container: ${JSON.stringify(e)}`);
    const byContainer = (c: string) => stack.api('GET', `/jobs/${usdt}/usdt/events?probe=python:gc__start&limit=100&container=${c}`);
    assert.equal((await byContainer(gcC.slice(0, 12))).json.events.length, K);
    assert.equal((await byContainer(py.slice(0, 12))).json.events.length, 0, 'no event of another container');
    assert.equal((await byContainer('XYZ')).status, 400);

    // syscount: every counted process is one of the Python service's container.
    // A process started in the container meanwhile makes 1000 getppid calls (the busy service makes almost none:
    // its clock reads go through the vDSO); the host's own getppid callers are not counted.
    const sc = await profileLike({ type: 'syscount', durationSec: 3, target: { container: py } }, async () => {
      await sleep(1000);
      docker(['exec', py, 'python3', '-c', 'import os, time\nfor _ in range(1000): os.getppid()\ntime.sleep(0.5)']);
    });
    const r = (await stack.api('GET', `/jobs/${sc.id}/syscount?top=50`)).json;
    const getppid = r.bySyscall.find((x: { name: string }) => x.name === 'getppid');
    assert.ok(getppid && Number(getppid.count) >= 1000 && Number(getppid.count) < 1100, JSON.stringify(r.bySyscall.slice(0, 5)));
    const procs = r.byProcess as { pid: number; comm: string }[];
    for (const p of procs) {
      const cg = existsSync(`/proc/${p.pid}/cgroup`) ? readFileSync(`/proc/${p.pid}/cgroup`, 'utf8') : py; // the exec'd one has exited
      assert.match(cg, new RegExp(py), `pid ${p.pid} (${p.comm}) is not in the container`);
    }

    // memleak: the container's one process, a C program built here (same glibc as the image's).
    const leak = buildC('leak');
    const leakC = runContainer(`tf-e2e-leak-${tag}`, ['/work/leak', 'basic', String(K), '/tmp/go'], [[leak, '/work/leak']]);
    await waitForLibc(containerPid(leakC));
    const ml = await startRunningJob(stack, { type: 'memleak', durationSec: 4, intervalSec: 1, target: { container: leakC.slice(0, 12) }, nodes: { names: [stack.nodeName] } });
    docker(['exec', leakC, 'touch', '/tmp/go']);
    const mlJob = await waitJob(stack, ml);
    assert.equal(mlJob.status, 'completed', JSON.stringify(mlJob));
    const top = (await stack.api('GET', `/jobs/${ml}/memleak`)).json.merged.top as { frames: string[]; bytes: string }[];
    const leaked = top.filter((s) => s.frames.includes('leak_here')).reduce((a, s) => a + Number(s.bytes), 0);
    assert.equal(leaked, K * 4096, JSON.stringify(top.slice(0, 3)));
    // Its stacks carry the container: the flame graph filtered by it holds them all.
    const all = await folded(ml);
    assert.ok(total(all) > 0);
    assert.equal(total(await folded(ml, `?container=${leakC.slice(0, 12)}`)), total(all));
    // Two processes in the container: memleak follows one, so it asks which.
    docker(['exec', '-d', leakC, 'sleep', '30']);
    await sleep(300);
    const two = await stack.api('POST', '/jobs', { type: 'memleak', durationSec: 2, intervalSec: 1, target: { container: leakC }, nodes: { names: [stack.nodeName] } });
    assert.equal(two.status, 201, two.text);
    const refused = await waitJob(stack, two.json.id);
    assert.equal(refused.status, 'failed');
    assert.match(refused.runs[0].reason, /holds 2 processes .* a memleak run traces one process; give target\.pid/);
  });

  it('ssl-capture takes a container target: the container\'s TLS plaintext, not the host\'s', async () => {
    const K = 4;
    const certDir = mkdtempSync(join(__dirname, '..', '.work', 'tls-'));
    chmodSync(certDir, 0o755);
    const { cert, key } = selfSignedCert(certDir);
    chmodSync(key, 0o644); // read by the container's root only; the directory is removed after the test
    const tlsC = runContainer(`tf-e2e-tls-${tag}`, ['python3', '/fx/tls_pair.py', '/c/cert.pem', '/c/key.pem', '8443', 'in-container', String(K), '/tmp/go'], [[certDir, '/c']]);
    const hostGo = join(certDir, 'go');
    const twin = spawn('python3.11', [join(__dirname, '..', 'fixtures', 'tls_pair.py'), cert, key, String(await freePort()), 'on-host', String(K), hostGo], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(twin);
    let twinOut = '';
    twin.stdout!.on('data', (d) => (twinOut += d));
    await sleep(1000);
    const id = await startRunningJob(stack, { type: 'ssl-capture', durationSec: 4, maxDataBytes: 4096, target: { container: tlsC }, nodes: { names: [stack.nodeName] } }, stack.captureToken);
    docker(['exec', tlsC, 'touch', '/tmp/go']);
    writeFileSync(hostGo, '');
    const job = await waitJob(stack, id);
    twin.kill('SIGKILL');
    rmSync(certDir, { recursive: true, force: true });
    assert.match(twinOut, /done/, 'the host twin made its requests while the job ran');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const res = await stack.api('GET', `/jobs/${id}/ssl-events?order=oldest&limit=1000`, undefined, stack.captureToken);
    assert.equal(res.status, 200, res.text);
    for (const e of res.json.events as { container: string }[]) assert.equal(e.container, tlsC, 'an event without its container label');
    const texts = (res.json.events as { dataBase64: string; direction: string }[]).map((e) => `${e.direction} ${Buffer.from(e.dataBase64, 'base64').toString('latin1')}`);
    const requests = texts.filter((t) => /^write GET \/in-container-\d+ /.test(t));
    assert.equal(requests.length, K, texts.slice(0, 10).join('\n---\n'));
    assert.equal(texts.filter((t) => t.includes('/on-host-')).length, 0, 'the host twin\'s traffic was captured');
    const filtered = async (q: string) => (await stack.api('GET', `/jobs/${id}/ssl-events?limit=1000&${q}`, undefined, stack.captureToken)).json.events.length;
    assert.equal(await filtered(`container=${tlsC.slice(0, 12)}`), res.json.events.length);
    assert.equal(await filtered(`container=${py.slice(0, 12)}`), 0);
    assert.equal(await filtered(`cgroup=${encodeURIComponent('/docker')}`), res.json.events.length);
  });

  async function profileLike(body: Record<string, unknown>, whileRunning?: () => Promise<void>): Promise<any> {
    const created = await stack.api('POST', '/jobs', { ...body, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    await whileRunning?.();
    const job = await waitJob(stack, created.json.id);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    return job;
  }

  it('refuses targets that name nothing here, or are malformed, naming the field', async () => {
    const post = (target: object) => stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 2, target, nodes: { names: [stack.nodeName] } });
    const cases: [object, RegExp][] = [
      [{ container: 'deadbeef0000' }, /target\.container container deadbeef0000 was not found.*no running container has an id starting with deadbeef0000/],
      [{ cgroup: `/tf-e2e-missing-${tag}` }, /target\.cgroup cgroup \/tf-e2e-missing-.* was not found.*no cgroup/],
      [{ container: 'XYZ' }, /container must be a container id or a prefix/],
      [{ cgroup: '/a/../b' }, /target\.cgroup must not hold empty/],
      [{ cgroup: 'relative' }, /target\.cgroup must be an absolute cgroup path/],
      [{ cgroup: '/x', pid: 1 }, /target must have exactly one of pid, comm, all, cgroup or container/],
    ];
    for (const [target, msg] of cases) {
      const res = await post(target);
      assert.equal(res.status, 400, `${JSON.stringify(target)}: ${res.text}`);
      assert.match(res.text, msg, JSON.stringify(target));
    }
    assert.equal(containerPid(py) > 0, true);
  });
});

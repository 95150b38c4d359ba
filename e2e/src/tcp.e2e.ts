// tcp jobs end to end on the real kernel: a loopback server and client (e2e/fixtures/tcp_pair.c) whose connect
// takes ~1 s by construction (the server's accept queue is full, the kernel drops the SYN, the client sends it
// again after the initial RTO of 1 s: this kernel has no netem to delay lo), traced by two agents on this host;
// connections, bytes, lifetimes and the connect-latency histogram merged and per node; filters and pages;
// an incident bundle; a schedule whose label selector picks one node; hostile requests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfFds, buildC, startStack, waitFor, waitJob, type Stack } from './harness';

const SECOND = 'tcp-n2';
const COMM = 'tcp_pair';
const CLIENT_BYTES = 50_000;
const SERVER_BYTES = 30_000;
const HOLD_MS = 500;

interface Hist { count: string; meanUs: number; slots: { lowUs: number; highUs: number | null; count: string }[] }
interface Conn { id: string; node: string; pid: number; comm: string; family: number; saddr: string; sport: number; daddr: string; dport: number; active: boolean; pidSource: string; lifetimeMs: number; connectUs: number | null; rxBytes: string; txBytes: string }
interface Results {
  connectLatency: { merged: Hist; nodes: { node: string; reported: boolean; counters: Record<string, string>; histogram: Hist }[] };
  lifetimes: { count: number; meanMs: number; minMs: number; maxMs: number; rxBytes: string; txBytes: string };
  connections: Conn[];
  next: string | null;
}

/** Connects of at least 512 ms (the log2 slot [2^19, 2^20) µs holds ~1 s). */
const slowConnects = (h: Hist): number => h.slots.filter((s) => s.lowUs >= 2 ** 19).reduce((n, s) => n + Number(s.count), 0);

describe('tcp jobs, end to end on the real kernel, merged across two nodes', () => {
  let stack: Stack;
  let pairBin: string;
  const children: ChildProcess[] = [];
  const schedules: string[] = [];
  const go = join(tmpdir(), `tf-tcp-go-${process.pid}`);

  before(async () => {
    pairBin = buildC(COMM);
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=e2e,tier=tcp2');
  });
  after(async () => {
    for (const id of schedules) await stack?.api('DELETE', `/schedules/${id}`).catch(() => undefined);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(go, { force: true });
    await stack?.stop();
  });

  /** Runs the fixture once (it waits for the go file) and resolves with its ports, connect time and pid. */
  async function runPair(): Promise<{ pid: number; clientPort: number; serverPort: number; connectUs: number; fillerPort: number }> {
    rmSync(go, { force: true });
    const child = spawn(pairBin, [String(CLIENT_BYTES), String(SERVER_BYTES), String(HOLD_MS), go], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    writeFileSync(go, '');
    assert.equal(await exited, 0, `tcp_pair failed: ${out}`);
    const [, clientPort, serverPort, connectUs, fillerPort] = out.trim().split(' ').map(Number);
    return { pid: child.pid!, clientPort, serverPort, connectUs, fillerPort };
  }

  async function results(id: string, query = ''): Promise<Results> {
    const res = await stack.api('GET', `/jobs/${id}/tcp${query}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }

  it('a ~1 s connect and a held connection: rows with pid, comm, addresses, ports, bytes and lifetime; histogram merged and per node; filters and pages', async () => {
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);
    // A schedule whose label selector picks the second node only, ticking while the job below runs.
    const sched = await stack.api('POST', '/schedules', { everyMs: 5000, nodes: { labels: { tier: 'tcp2' } }, job: { type: 'tcp', durationSec: 1, target: { comm: COMM } } });
    assert.equal(sched.status, 201, sched.text);
    schedules.push(sched.json.id);

    const res = await stack.api('POST', '/jobs', { type: 'tcp', durationSec: 4, target: { comm: COMM }, nodes: 'all', maxEvents: 1000 });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    await waitFor(async () => {
      const job = (await stack.api('GET', `/jobs/${id}`)).json;
      if (job.runs.some((r: { status: string }) => r.status === 'failed')) throw new Error(JSON.stringify(job.runs));
      return job.runs.length === 2 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 20_000, 'both runs to attach');
    const pair = await runPair();
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.links.tcp, `/api/v1/jobs/${id}/tcp`);
    console.log(`fixture: connect ${pair.connectUs} us (user space), client port ${pair.clientPort}, server port ${pair.serverPort}`);
    assert.ok(pair.connectUs >= 900_000 && pair.connectUs < 2_000_000, `the fixture's connect took ${pair.connectUs} us`);

    const nodes = [stack.nodeName, SECOND].sort();
    const r = await results(id);
    // Both agents trace the same host: each node has the four sockets (filler and measured, both ends).
    assert.equal(r.connections.length, 8, JSON.stringify(r.connections));
    assert.equal(r.lifetimes.count, 8);
    for (const node of nodes) {
      const rows = r.connections.filter((c) => c.node === node);
      assert.ok(rows.every((c) => c.pid === pair.pid && c.comm === COMM && c.family === 4 && c.saddr === '127.0.0.1' && c.daddr === '127.0.0.1'), JSON.stringify(rows));
      const client = rows.find((c) => c.active && c.sport === pair.clientPort)!;
      const server = rows.find((c) => !c.active && c.dport === pair.clientPort)!;
      assert.ok(client && server, `${node}: ${JSON.stringify(rows)}`);
      assert.equal(client.dport, pair.serverPort);
      assert.equal(server.sport, pair.serverPort);
      assert.equal(client.pidSource, 'connect');
      assert.equal(server.pidSource, 'close', 'the accepted socket is named by the task that closed it');
      // bytes_acked / bytes_received count sequence space: the data and the FIN.
      assert.ok(Number(client.txBytes) >= CLIENT_BYTES && Number(client.txBytes) <= CLIENT_BYTES + 2, `client tx ${client.txBytes}`);
      assert.ok(Number(client.rxBytes) >= SERVER_BYTES && Number(client.rxBytes) <= SERVER_BYTES + 2, `client rx ${client.rxBytes}`);
      assert.ok(Number(server.rxBytes) >= CLIENT_BYTES && Number(server.rxBytes) <= CLIENT_BYTES + 2, `server rx ${server.rxBytes}`);
      // The client's life: the ~1 s connect, the exchange and the hold.
      assert.ok(client.lifetimeMs >= 1000 + HOLD_MS && client.lifetimeMs < 3000, `client lifetime ${client.lifetimeMs} ms`);
      assert.ok(client.connectUs! >= 950_000 && client.connectUs! <= Math.max(1_300_000, pair.connectUs), `connect ${client.connectUs} us in the kernel vs ${pair.connectUs} us in user space`);
      assert.ok(client.connectUs! <= pair.connectUs, 'the kernel sees ESTABLISHED before the process wakes');
      assert.equal(server.connectUs, null);
      const filler = rows.find((c) => c.active && c.sport === pair.fillerPort)!;
      assert.ok(filler.connectUs! < 50_000, `filler connect ${filler.connectUs} us`);
    }
    // The histogram: each node measured the filler's fast connect and the ~1 s one; merged is their sum.
    assert.deepEqual(r.connectLatency.nodes.map((n) => n.node), nodes);
    for (const n of r.connectLatency.nodes) {
      assert.ok(n.reported, `${n.node} sent its report`);
      assert.equal(n.histogram.count, '2', `${n.node}: ${JSON.stringify(n.histogram)}`);
      assert.equal(slowConnects(n.histogram), 1);
      assert.equal(n.counters.closed, '4');
      assert.equal(n.counters.streamed, '4');
      assert.equal(n.counters.dropped, '0');
    }
    assert.equal(r.connectLatency.merged.count, '4');
    assert.equal(slowConnects(r.connectLatency.merged), 2);

    // Filters and pages.
    const byNode = await results(id, `?node=${SECOND}`);
    assert.ok(byNode.connections.length === 4 && byNode.connections.every((c) => c.node === SECOND));
    assert.deepEqual(byNode.connectLatency.nodes.map((n) => n.node), [SECOND]);
    assert.equal((await results(id, `?port=${pair.clientPort}`)).connections.length, 4, 'the client port: both ends on both nodes');
    assert.equal((await results(id, `?pid=${pair.pid}&comm=${COMM}`)).lifetimes.count, 8);
    assert.equal((await results(id, '?comm=other')).lifetimes.count, 0);
    assert.equal((await results(id, '?family=6')).lifetimes.count, 0);
    const seen = new Set<string>();
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const p: Results = await results(id, `?limit=3${after ? `&after=${after}` : ''}`);
      p.connections.forEach((c) => seen.add(c.id));
      after = p.next;
      if (!after) break;
    }
    assert.equal(seen.size, 8, 'pages of 3 cover every connection once');

    const text = await stack.api('GET', `/jobs/${id}/tcp.txt?node=${stack.nodeName}`);
    assert.equal(text.status, 200);
    assert.match(text.text, /^NODE\s+PID\s+COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+TX_KB\s+RX_KB\s+MS\s+LAT\(ms\)/);
    assert.match(text.text, new RegExp(`${COMM}\\s+127\\.0\\.0\\.1\\s+${pair.clientPort}\\s+127\\.0\\.0\\.1\\s+${pair.serverPort}\\s+48\\s+29\\s`));
    assert.match(text.text, /usecs\s+: count\s+distribution/);
    console.log(text.text);
    // The merged connect-latency histogram as SVG: the fast connects and the ~1 s one (524288 – 1048575 µs).
    const svg = await stack.api('GET', `/jobs/${id}/tcp.svg`);
    assert.equal(svg.status, 200, svg.text);
    assert.match(svg.text, /^<\?xml[^]*<svg /);
    assert.match(svg.text, /<title>524288 – 1048575 µs: [1-9]\d*<\/title>/, svg.text.slice(0, 3000));
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/tcp.svg')).status, 404);

    // The schedule's ticks ran on the second node only.
    let schedJob: { id: string; runs: { node: string; status: string }[]; status: string } | undefined;
    await waitFor(async () => {
      const reports = (await stack.api('GET', `/schedules/${sched.json.id}/reports`)).json.reports ?? [];
      for (const rep of reports) {
        if (!rep.incidentId) continue;
        const inc = (await stack.api('GET', `/incidents/${rep.incidentId}`)).json;
        const j = inc.jobs?.find((x: { type: string; status: string }) => x.type === 'tcp' && x.status === 'completed');
        if (j) schedJob = (await stack.api('GET', `/jobs/${j.id}`)).json;
      }
      return schedJob !== undefined;
    }, 20_000, 'a completed tcp job of the schedule');
    assert.deepEqual(schedJob!.runs.map((x) => x.node), [SECOND]);
    assert.deepEqual((await results(schedJob!.id)).connectLatency.nodes.map((n) => [n.node, n.reported]), [[SECOND, true]]);
    await stack.api('DELETE', `/schedules/${sched.json.id}`);

    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 15_000, "the agents to close the jobs' BPF fds");
  });

  it('runs in an incident bundle beside another type; a bad template is a 400 naming it', async () => {
    const res = await stack.api('POST', '/incidents', {
      name: 'tcp e2e',
      nodes: 'all',
      bundle: [
        { type: 'tcp', durationSec: 1, target: { all: true }, ports: [1] },
        { type: 'syscount', durationSec: 1, target: { all: true } },
      ],
    });
    assert.equal(res.status, 201, res.text);
    let inc: { status: string; jobs: { id: string; type: string }[] } = res.json;
    await waitFor(async () => {
      inc = (await stack.api('GET', `/incidents/${res.json.id}`)).json;
      return ['completed', 'partial', 'failed'].includes(inc.status);
    }, 30_000, 'the incident to end');
    assert.equal(inc.status, 'completed', JSON.stringify(inc));
    const job = inc.jobs.find((j) => j.type === 'tcp')!;
    const r = await results(job.id);
    assert.deepEqual(r.connectLatency.nodes.map((n) => [n.node, n.reported]), [[stack.nodeName, true], [SECOND, true]].sort());

    const bad = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [{ type: 'tcp', durationSec: 1, target: { all: true }, ports: [70000] }] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /bundle\[0\]\.each value in ports must not be greater than 65535/);
  });

  it('refuses hostile requests and queries with a 400 naming the field', async () => {
    const base = { type: 'tcp', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, ports: [0] }, /ports/],
      [{ ...base, ports: [80, 'x'] }, /ports/],
      [{ ...base, ports: Array.from({ length: 9 }, (_, i) => i + 1) }, /ports must contain no more than 8/],
      [{ ...base, family: 5 }, /family must be one of/],
      [{ ...base, maxSockets: 1 }, /maxSockets must not be less than 64/],
      [{ ...base, maxEvents: -1 }, /maxEvents must not be less than 0/],
      [{ ...base, bogusField: 1 }, /bogusField should not exist/],
      [{ ...base, type: 'runqlat', ports: [80] }, /ports applies only to tcp jobs/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.text, re);
    }
    const created = await stack.api('POST', '/jobs', { ...base, durationSec: 1, ports: [1] });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    for (const [q, re] of [['?pid=0', /pid must be/], ['?port=70000', /port must be/], ['?family=5', /family must be 4 or 6/], ['?limit=0', /limit must be/], ['?after=x', /after must be/], ['?comm=0123456789abcdefg', /comm must be/], ['?bogus=1', /bogus is not a parameter/], ['?pid=1&pid=2', /pid must be given once/]] as const) {
      const res = await stack.api('GET', `/jobs/${id}/tcp${q}`);
      assert.equal(res.status, 400, `${q}: ${res.text}`);
      assert.match(res.text, re);
    }
    await waitJob(stack, id, 20_000);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/tcp')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/tcp.txt')).status, 404);
    assert.equal((await stack.api('GET', `/jobs/${id}/tcp`, undefined, null)).status, 401);
  });
});

// exec-open jobs end to end on the real kernel: a shell script (in a fresh directory, whose name the results are
// filtered on) execs known programs with known arguments (one through a symlink, one that fails, one missing:
// ENOENT) and opens known files (one present, one missing, one with a control byte in its name) in a known
// order, traced by two agents on this host; the events appear in that order on each node with argv, paths and
// return codes; filters, pages and the text view; a schedule whose label selector picks one node; an incident
// bundle; hostile requests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfFds, startStack, waitFor, waitJob, type Stack } from './harness';

const SECOND = 'eo-n2';

interface Ev { id: string; node: string; kind: string; syscall: string; pid: number; ppid: number; comm: string; ret: number; path: string; args: string[] | null; flags: string | null; truncated: boolean }
interface Results {
  counters: Record<string, string>;
  nodes: { node: string; reported: boolean; counters: Record<string, string> }[];
  matching: number;
  events: Ev[];
  next: string | null;
}

describe('exec-open jobs, end to end on the real kernel, on two nodes', () => {
  let stack: Stack;
  const schedules: string[] = [];
  const dir = join(tmpdir(), `tf-eo-${process.pid}`);

  before(async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'present'), 'x');
    symlinkSync('/bin/true', join(dir, 'tftrue'));
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=e2e,tier=eo2');
  });
  after(async () => {
    for (const id of schedules) await stack?.api('DELETE', `/schedules/${id}`).catch(() => undefined);
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The script: three execs, then three opens; resolves with the shell's pid once it exited. */
  async function runScript(): Promise<number> {
    const script = [
      `${dir}/tftrue a 'b c' "$(printf 'x\\001y')"`,
      `/bin/false ${dir}/arg`,
      `${dir}/missing-bin x 2>/dev/null`,
      `true < ${dir}/present`,
      `true < ${dir}/absent 2>/dev/null`,
      `true < "${dir}/$(printf 'bad\\001name')" 2>/dev/null`,
      'exit 0',
    ].join('\n');
    const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0);
    return child.pid!;
  }

  async function results(id: string, query = ''): Promise<Results> {
    const res = await stack.api('GET', `/jobs/${id}/exec-open${query}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }

  it("a script's execs and opens appear in order on each node, with argv, paths and return codes; filters, pages, text; a schedule on one node", async () => {
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);
    const sched = await stack.api('POST', '/schedules', { everyMs: 5000, nodes: { labels: { tier: 'eo2' } }, job: { type: 'exec-open', durationSec: 1, target: { all: true }, events: ['open'] } });
    assert.equal(sched.status, 201, sched.text);
    schedules.push(sched.json.id);

    const res = await stack.api('POST', '/jobs', { type: 'exec-open', durationSec: 3, target: { all: true }, nodes: 'all' });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    await waitFor(async () => {
      const job = (await stack.api('GET', `/jobs/${id}`)).json;
      if (job.runs.some((r: { status: string }) => r.status === 'failed')) throw new Error(JSON.stringify(job.runs));
      return job.runs.length === 2 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 20_000, 'both runs to attach');
    const sh = await runScript();
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.links.execOpen, `/api/v1/jobs/${id}/exec-open`);

    const nodes = [stack.nodeName, SECOND].sort();
    const mine = `?path=${encodeURIComponent(dir)}&limit=1000`;
    const r = await results(id, mine);
    for (const node of nodes) {
      const rows = r.events.filter((e) => e.node === node);
      assert.deepEqual(
        rows.map((e) => [e.kind, e.path, e.ret < 0 ? e.ret : 'fd']),
        [
          ['exec', `${dir}/tftrue`, 'fd'],
          ['exec', `${dir}/missing-bin`, -2],
          ['open', `${dir}/present`, 'fd'],
          ['open', `${dir}/absent`, -2],
          ['open', `${dir}/bad\\x01name`, -2],
        ],
        `${node}: ${JSON.stringify(rows)}`,
      );
    }
    // /bin/false's path does not contain the directory: its argument does. Ask by pid instead.
    for (const node of nodes) {
      const rows = (await results(id, `?node=${node}&kind=exec&limit=1000`)).events.filter((e) => e.ppid === sh);
      assert.deepEqual(rows.map((e) => [e.path, e.args, e.ret, e.comm]), [
        [`${dir}/tftrue`, [`${dir}/tftrue`, 'a', 'b c', 'x\\x01y'], 0, 'tftrue'],
        ['/bin/false', ['/bin/false', `${dir}/arg`], 0, 'false'],
        [`${dir}/missing-bin`, [`${dir}/missing-bin`, 'x'], -2, 'sh'],
      ], `${node}: ${JSON.stringify(rows)}`);
      const opens = (await results(id, `?node=${node}&kind=open&pid=${sh}${mine.replace('?', '&')}`)).events;
      assert.equal(opens.length, 3);
      assert.ok(opens[0].ret >= 0 && opens[0].syscall === 'openat' && opens[0].comm === 'sh' && (Number(opens[0].flags) & 3) === 0, JSON.stringify(opens[0]));
    }
    for (const n of r.nodes) {
      assert.ok(n.reported, `${n.node} sent its counters`);
      assert.equal(n.counters.dropped, '0');
      assert.ok(Number(n.counters.execs) >= 3 && Number(n.counters.opens) >= 3, JSON.stringify(n.counters));
    }
    assert.deepEqual(r.nodes.map((n) => n.node), nodes);

    // Filters and pages.
    assert.equal((await results(id, `${mine}&failed=true`)).matching, 6, 'three failures on each node');
    assert.equal((await results(id, `${mine}&failed=false&kind=open`)).matching, 2);
    assert.equal((await results(id, `${mine}&node=${SECOND}`)).matching, 5);
    assert.equal((await results(id, `${mine}&comm=tftrue`)).matching, 2);
    const seen = new Set<string>();
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const p: Results = await results(id, `?path=${encodeURIComponent(dir)}&limit=3${after ? `&after=${after}` : ''}`);
      p.events.forEach((e) => seen.add(e.id));
      after = p.next;
      if (!after) break;
    }
    assert.equal(seen.size, 10, 'pages of 3 cover every event once');

    const text = await stack.api('GET', `/jobs/${id}/exec-open.txt?node=${stack.nodeName}&path=${encodeURIComponent(dir)}`);
    assert.equal(text.status, 200);
    assert.match(text.text, /^NODE\s+PCOMM\s+PID\s+PPID\s+RET\s+ARGS/);
    assert.match(text.text, new RegExp(`tftrue\\s+\\d+\\s+${sh}\\s+0 ${dir}/tftrue a "b c" x\\\\x01y`));
    assert.match(text.text, /\nNODE\s+PID\s+COMM\s+FD\s+ERR\s+PATH\n/);
    assert.match(text.text, new RegExp(`${sh}\\s+sh\\s+-1\\s+2 ${dir}/absent`));
    console.log(text.text);

    // The schedule's ticks ran on the second node only, opens only.
    let schedJob: { id: string; runs: { node: string }[] } | undefined;
    await waitFor(async () => {
      for (const rep of (await stack.api('GET', `/schedules/${sched.json.id}/reports`)).json.reports ?? []) {
        if (!rep.incidentId) continue;
        const inc = (await stack.api('GET', `/incidents/${rep.incidentId}`)).json;
        const j = inc.jobs?.find((x: { type: string; status: string }) => x.type === 'exec-open' && x.status === 'completed');
        if (j) schedJob = (await stack.api('GET', `/jobs/${j.id}`)).json;
      }
      return schedJob !== undefined;
    }, 20_000, 'a completed exec-open job of the schedule');
    assert.deepEqual(schedJob!.runs.map((x) => x.node), [SECOND]);
    const sr = await results(schedJob!.id, '?limit=1000');
    assert.deepEqual(sr.nodes.map((n) => [n.node, n.reported, n.counters.execs]), [[SECOND, true, '0']]);
    assert.ok(sr.events.every((e) => e.kind === 'open'));
    await stack.api('DELETE', `/schedules/${sched.json.id}`);

    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 15_000, "the agents to close the jobs' BPF fds");
  });

  it('runs in an incident bundle beside another type; a bad template is a 400 naming it', async () => {
    const res = await stack.api('POST', '/incidents', {
      name: 'exec-open e2e',
      nodes: 'all',
      bundle: [
        { type: 'exec-open', durationSec: 1, target: { all: true }, failedOnly: true },
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
    const r = await results(inc.jobs.find((j) => j.type === 'exec-open')!.id, '?limit=1000');
    assert.deepEqual(r.nodes.map((n) => [n.node, n.reported]), [[stack.nodeName, true], [SECOND, true]].sort());
    assert.ok(r.events.every((e) => e.ret < 0), 'failedOnly keeps errors only');

    const bad = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [{ type: 'exec-open', durationSec: 1, target: { all: true }, events: ['fork'] }] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /bundle\[0\]\.each value in events must be one of the following values: exec, open/);
  });

  it('refuses hostile requests and queries with a 400 naming the field', async () => {
    const base = { type: 'exec-open', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, events: [] }, /events must contain at least 1 elements/],
      [{ ...base, events: ['exec', 'x'] }, /each value in events must be one of the following values: exec, open/],
      [{ ...base, events: 'exec' }, /events must be an array/],
      [{ ...base, events: ['exec', 'open', 'exec'] }, /events must contain no more than 2 elements/],
      [{ ...base, failedOnly: 'yes' }, /failedOnly must be a boolean value/],
      [{ ...base, maxEvents: -1 }, /maxEvents must not be less than 0/],
      [{ ...base, bogusField: 1 }, /bogusField should not exist/],
      [{ ...base, type: 'runqlat', failedOnly: true }, /failedOnly applies only to exec-open jobs/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.text, re);
    }
    const created = await stack.api('POST', '/jobs', { ...base, durationSec: 1, events: ['exec'] });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    for (const [q, re] of [['?pid=0', /pid must be/], ['?kind=fork', /kind must be exec or open/], ['?failed=1', /failed must be true or false/], ['?path=', /path must be/], [`?path=${'p'.repeat(1025)}`, /path must be/], ['?path=%00', /path must be/], ['?limit=0', /limit must be/], ['?after=x', /after must be/], ['?comm=0123456789abcdefg', /comm must be/], ['?bogus=1', /bogus is not a parameter/], ['?kind=exec&kind=open', /kind must be given once/]] as const) {
      const res = await stack.api('GET', `/jobs/${id}/exec-open${q}`);
      assert.equal(res.status, 400, `${q}: ${res.text}`);
      assert.match(res.text, re);
    }
    await waitJob(stack, id, 20_000);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/exec-open')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/exec-open.txt')).status, 404);
    assert.equal((await stack.api('GET', `/jobs/${id}/exec-open`, undefined, null)).status, 401);
  });
});

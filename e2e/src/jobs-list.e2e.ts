/**
 * GET /jobs and POST /jobs/:id/stop on a real stack (controller, two agents, PostgreSQL, Redis): real jobs that complete, fail
 * on their node, or belong to an incident, found again by filters and paged one at a time. The e2e
 * database outlives runs, so every assertion is scoped to this stack's node names or its jobs' ids.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { startStack, waitJob, type Stack } from './harness';

describe('GET /jobs: filters and cursor pages over real jobs', () => {
  let stack: Stack;
  let n1 = '';
  let n2 = '';
  let since = '';
  const ids = { profile: '', usdt: '', incident: '', incidentJob: '' };

  before(async () => {
    stack = await startStack();
    n1 = stack.nodeName;
    n2 = `${stack.nodeName}-b`;
    await stack.startAgent(n2, 'role=e2e');
    // Created-after bound for this file's jobs, a second early against clock rounding.
    since = new Date(Date.now() - 1000).toISOString();
  });
  after(async () => {
    await stack?.stop();
  });

  /** Every page of `query` with limit=1, following nextCursor. */
  async function walk(query: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '';
    for (let i = 0; i < 50; i++) {
      const res = await stack.api('GET', `/jobs?limit=1&${query}${cursor ? `&before=${cursor}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.jobs.length <= 1);
      out.push(...res.json.jobs.map((j: { id: string }) => j.id));
      if (res.json.nextCursor === null) return out;
      assert.equal(res.json.nextCursor, res.json.jobs[0].id);
      cursor = res.json.nextCursor;
    }
    assert.fail(`${query}: nextCursor never became null`);
  }

  const list = async (query: string, token?: string): Promise<any> => {
    const res = await stack.api('GET', `/jobs?${query}`, undefined, token);
    assert.equal(res.status, 200, `${query}: ${res.text}`);
    return res.json;
  };

  it('lists a completed job, a job its node failed and an incident\'s job, newest first, with their summaries', async () => {
    const comm = `tf-none-${randomBytes(3).toString('hex')}`;
    const profile = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 1, target: { comm }, nodes: { names: [n1] } });
    assert.equal(profile.status, 201, profile.text);
    ids.profile = profile.json.id;
    // Fails on the node: the binary does not exist there.
    const usdt = await stack.api('POST', '/jobs', { type: 'usdt', durationSec: 1, target: { all: true }, binary: '/no/such/bin', probes: ['a:b'], nodes: { names: [n2] } });
    assert.equal(usdt.status, 201, usdt.text);
    ids.usdt = usdt.json.id;
    const incident = await stack.api('POST', '/incidents', { nodes: { names: [n1, n2] }, bundle: [{ type: 'cpu-profile', durationSec: 1, target: { comm } }], leadMs: 200 });
    assert.equal(incident.status, 201, incident.text);
    ids.incident = incident.json.id;
    ids.incidentJob = incident.json.jobs[0].id;

    assert.equal((await waitJob(stack, ids.profile, 30_000)).status, 'completed');
    const failed = await waitJob(stack, ids.usdt, 30_000);
    assert.equal(failed.status, 'failed');
    assert.match(failed.runs[0].reason, /binary \/no\/such\/bin does not exist/);
    assert.equal((await waitJob(stack, ids.incidentJob, 30_000)).status, 'completed');

    const page = await list(`createdAfter=${encodeURIComponent(since)}&limit=100`);
    const mine = page.jobs.filter((j: { id: string }) => Object.values(ids).includes(j.id));
    assert.deepEqual(mine.map((j: { id: string }) => j.id), [ids.incidentJob, ids.usdt, ids.profile], 'newest first');
    const times = page.jobs.map((j: { createdAt: string }) => Date.parse(j.createdAt));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    const [inc, us, prof] = mine;
    assert.deepEqual(
      { type: prof.type, status: prof.status, nodes: prof.nodes, runs: prof.runs, durationSec: prof.durationSec, incidentId: prof.incidentId, links: prof.links },
      { type: 'cpu-profile', status: 'completed', nodes: [n1], runs: { pending: 0, dispatched: 0, running: 0, completed: 1, failed: 0 }, durationSec: 1, incidentId: null, links: { self: `/api/v1/jobs/${ids.profile}` } },
    );
    assert.deepEqual([us.type, us.status, us.nodes, us.runs.failed], ['usdt', 'failed', [n2], 1]);
    assert.match(us.reason ?? '', /./, 'a failed job says why');
    assert.deepEqual([inc.type, inc.incidentId, inc.nodes, inc.runs.completed], ['cpu-profile', ids.incident, [n1, n2].sort(), 2]);
    for (const j of mine) {
      assert.equal(j.params, undefined, 'no params in a summary');
      assert.ok(j.finishedAt, JSON.stringify(j));
    }
    // The job's own route still answers beside the list, for either token; so does the list.
    assert.equal((await stack.api('GET', `/jobs/${ids.profile}`)).json.id, ids.profile);
    assert.equal((await stack.api('GET', `/jobs/${randomUUID()}`)).status, 404);
    assert.ok((await list(`node=${n1}`, stack.captureToken)).jobs.some((j: { id: string }) => j.id === ids.profile));
  });

  it('pages one job at a time through nextCursor, and filters by node, type, status, incident and time', async () => {
    assert.deepEqual(await walk(`node=${n1}`), [ids.incidentJob, ids.profile]);
    assert.deepEqual(await walk(`node=${n2}`), [ids.incidentJob, ids.usdt]);
    const walked = await walk(`createdAfter=${encodeURIComponent(since)}`);
    assert.equal(new Set(walked).size, walked.length, 'no job twice');
    assert.deepEqual(walked.filter((id) => Object.values(ids).includes(id)), [ids.incidentJob, ids.usdt, ids.profile]);

    const idsOf = async (query: string): Promise<string[]> => (await list(query)).jobs.map((j: { id: string }) => j.id);
    assert.deepEqual(await idsOf(`node=${n2}&type=usdt`), [ids.usdt]);
    assert.deepEqual(await idsOf(`node=${n2}&type=cpu-profile`), [ids.incidentJob]);
    assert.deepEqual(await idsOf(`node=${n1}&type=memleak`), []);
    assert.deepEqual(await idsOf(`node=${n2}&status=failed`), [ids.usdt]);
    assert.deepEqual(await idsOf(`node=${n1}&status=completed`), [ids.incidentJob, ids.profile]);
    assert.deepEqual(await idsOf(`node=${n1}&status=running`), []);
    assert.deepEqual(await idsOf(`incident=${ids.incident}`), [ids.incidentJob]);
    assert.deepEqual(await idsOf(`node=${n1}&createdBefore=${encodeURIComponent(since)}`), []);
    assert.deepEqual(await idsOf(`node=${stack.nodeName}-none`), []);
    // The last page of a full walk has no cursor; a cursor of this page continues under another filter.
    assert.equal((await list(`node=${n1}&limit=2`)).nextCursor, null);
    assert.deepEqual(await idsOf(`node=${n1}&before=${ids.incidentJob}`), [ids.profile]);
  });

  it('POST /jobs/:id/stop ends a running cpu-profile `stopped` with what it captured, names the token, and refuses what cannot stop', async () => {
    const busy: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    try {
      const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 60, frequencyHz: 99, target: { pid: busy.pid }, nodes: { names: [n1] } });
      assert.equal(created.status, 201, created.text);
      const id: string = created.json.id;
      // Running, with samples stored (the agent flushes about every second).
      let before = 0;
      for (let i = 0; i < 100 && before === 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const j = (await stack.api('GET', `/jobs/${id}`)).json;
        before = j.status === 'running' ? j.totals.samplesStored : 0;
      }
      assert.ok(before > 0, 'the job ran and stored samples before the stop');
      const t0 = Date.now();
      const stop = await stack.api('POST', `/jobs/${id}/stop`);
      assert.equal(stop.status, 202, stop.text);
      assert.equal(stop.json.id, id);
      let job = stop.json;
      while (job.status !== 'stopped' && Date.now() - t0 < 20_000) {
        await new Promise((r) => setTimeout(r, 50));
        job = (await stack.api('GET', `/jobs/${id}`)).json;
      }
      console.log(`# stop: the job ended ${job.status} ${Date.now() - t0} ms after POST /stop, ${job.totals.samplesStored} samples stored (${before} before)`);
      assert.equal(job.status, 'stopped', JSON.stringify(job));
      assert.equal(job.stoppedBy, 'api');
      assert.match(job.reason ?? '', /^stopped by the api token/);
      assert.equal(job.runs[0].status, 'completed', 'the run ended normally, with its results');
      assert.match(job.runs[0].reason ?? '', /stopped early: stopped by the api token/);
      assert.ok(job.totals.samplesStored >= before, `${job.totals.samplesStored} samples stored after the stop, ${before} before`);
      const folded = await stack.api('GET', `/jobs/${id}/flamegraph.folded`);
      assert.equal(folded.status, 200, folded.text);
      assert.ok(folded.text.trim().length > 0, 'the flame graph holds what was captured');
      assert.ok((await list(`status=stopped&node=${n1}`)).jobs.some((j: { id: string }) => j.id === id));
      // An ended job cannot be stopped again; unknown ids and no token are refused.
      const again = await stack.api('POST', `/jobs/${id}/stop`);
      assert.equal(again.status, 409, again.text);
      assert.match(again.text, /has already ended \(stopped\)/);
      assert.equal((await stack.api('POST', `/jobs/${ids.profile}/stop`)).status, 409);
      assert.equal((await stack.api('POST', `/jobs/${randomUUID()}/stop`)).status, 404);
      assert.equal((await stack.api('POST', '/jobs/not-a-job/stop')).status, 404);
      assert.equal((await stack.api('POST', `/jobs/${id}/stop`, undefined, null)).status, 401);
    } finally {
      busy.kill('SIGKILL');
    }
  });

  it('answers hostile queries with a 400 naming the field, an unknown cursor with a 404, and no token with a 401', async () => {
    for (const [query, re] of [
      ['status=done', /status must be one of: queued, running, completed, partial, failed, stopped/],
      ['type=x', /type must be one of: cpu-profile, usdt, memleak, ssl-capture, syscount/],
      ['type=cpu_profile', /type must be one of/],
      ['limit=0', /limit must not be less than 1/],
      ['limit=101', /limit must not be greater than 100/],
      ['limit=5x', /limit must be an integer number/],
      ['createdAfter=yesterday', /createdAfter must be an ISO 8601 date or date-time/],
      ['createdBefore=2026-02-30', /createdBefore must be an ISO 8601/],
      ['incident=not-a-uuid', /incident must be an incident id \(UUID\)/],
      ['schedule=1%20OR%201%3D1', /schedule must be a schedule id \(UUID\)/],
      [`node=${encodeURIComponent('../etc/passwd')}`, /node must be a node name/],
      ['before=not-a-cursor', /before must be the nextCursor of a previous page/],
      ['status=failed&status=completed', /status must be one of/],
      ['bogus=1', /property bogus should not exist/],
    ] as const) {
      const res = await stack.api('GET', `/jobs?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.match(res.text, re, query);
    }
    const unknown = await stack.api('GET', `/jobs?before=${randomUUID()}`);
    assert.equal(unknown.status, 404, unknown.text);
    assert.match(unknown.text, /before: job [0-9a-f-]{36} not found/);
    assert.equal((await stack.api('GET', '/jobs', undefined, null)).status, 401);
    assert.equal((await stack.api('GET', '/jobs', undefined, 'x'.repeat(48))).status, 401);
  });
});

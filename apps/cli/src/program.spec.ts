import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './program';
import { fakeFetch, recordingIo, sse, type Call } from './testing';

const ID = '3f1c2a9e-7b4d-4c1e-9a2b-1d2e3f4a5b6c';
const env = { TRACEFLEET_URL: 'http://127.0.0.1:8080', TRACEFLEET_TOKEN: 'tok', XDG_CONFIG_HOME: '/nonexistent-tf-cli' };
const argv = (...a: string[]): string[] => ['node', 'tracefleet', ...a];

function job(status: string, runs: { node: string; status: string; reason?: string | null }[] = [{ node: 'n1', status: 'completed' }]): Record<string, unknown> {
  return {
    id: ID,
    type: 'cpu-profile',
    status,
    reason: status === 'partial' ? 'n2: failed' : null,
    params: { durationSec: 3 },
    createdAt: '2026-12-05T10:00:00.000Z',
    startedAt: '2026-12-05T10:00:01.000Z',
    finishedAt: ['queued', 'running'].includes(status) ? null : '2026-12-05T10:00:04.000Z',
    selection: { selected: runs.map((r) => r.node), skipped: [] },
    runs: runs.map((r) => ({ samplesStored: 10, samplesDroppedKernel: 0, samplesDroppedAgent: 0, samplesLostTransit: 0, reason: null, ...r })),
  };
}

function progress(status: string, nodes: { node: string; status: string }[]): unknown {
  return { id: ID, type: 'cpu-profile', status, reason: null, elapsedSec: 1, remainingSec: 2, nodes: nodes.map((n) => ({ ...n, reason: null, samplesTaken: 5, samplesStored: 5, dropped: 0, batchesReceived: 1, startedAt: null, finishedAt: null })) };
}

describe('tracefleet (fake API)', () => {
  it('nodes: passes the selector through, prints a table with names cleaned of escape sequences', async () => {
    const calls: Call[] = [];
    const io = recordingIo();
    const fetch = fakeFetch({ 'GET /api/v1/nodes': { json: [{ name: 'evil\x1b]0;owned\x07', status: 'connected', labels: { env: 'prod' }, kernelRelease: '6.1', cpus: 4, lastSeenAt: '2026-12-05T10:00:00Z', capabilities: ['cpu-profile'] }] } }, calls);
    assert.equal(await run(argv('nodes', '--selector', 'env=prod,zone in (a,b)'), { fetch, env, io }), 0);
    assert.equal(calls[0].url.searchParams.get('labelSelector'), 'env=prod,zone in (a,b)');
    assert.equal(io.stdout.includes('\x1b'), false);
    assert.match(io.stdout, /^NAME +STATUS/);
    assert.match(io.stdout, /evil\ufffd\]0;owned\ufffd +connected +env=prod/);
    const json = recordingIo();
    assert.equal(await run(argv('nodes', '--json'), { fetch, env, io: json }), 0);
    assert.equal(JSON.parse(json.stdout)[0].name, 'evil\x1b]0;owned\x07', 'JSON keeps the value exact (escaped by JSON itself)');
  });

  it('profile: the job body, a progress stream followed to the end, the output written, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-cli-'));
    try {
      const calls: Call[] = [];
      const io = recordingIo();
      const fetch = fakeFetch(
        {
          'POST /api/v1/jobs': { status: 201, json: job('queued', [{ node: 'n1', status: 'pending' }]) },
          [`GET /api/v1/jobs/${ID}/progress`]: { text: sse([{ event: 'progress', data: progress('running', [{ node: 'n1', status: 'running' }]) }, { event: 'progress', data: progress('completed', [{ node: 'n1', status: 'completed' }]) }, { event: 'status', data: { status: 'completed', reason: null } }]), contentType: 'text/event-stream' },
          [`GET /api/v1/jobs/${ID}`]: { json: job('completed') },
          [`GET /api/v1/jobs/${ID}/flamegraph.folded`]: { text: 'main;work;hot_spin 10\n' },
        },
        calls,
      );
      const out = join(dir, 'out.folded');
      const code = await run(argv('profile', '--pid', '42', '--duration', '3s', '--hz', '49', '--nodes', 'env=prod,zone in (a,b)', '-o', out), { fetch, env, io });
      assert.equal(code, 0, io.stderr);
      assert.deepEqual(calls[0].body, { type: 'cpu-profile', durationSec: 3, target: { pid: 42 }, nodes: { selector: 'env=prod,zone in (a,b)' }, frequencyHz: 49 });
      assert.equal(readFileSync(out, 'utf8'), 'main;work;hot_spin 10\n');
      // Not a terminal: one line per change, on stderr; the summary on stdout.
      assert.match(io.stderr, /job 3f1c2a9e-.*: running\n {2}n1: running, 5 samples\njob .*: completed\n {2}n1: completed, 5 samples\n/);
      assert.match(io.stdout, /^job 3f1c2a9e-\S+ cpu-profile: completed in 3\.0s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('jobs wait: exit 2 for partial, 1 for failed, 0 for completed; --json prints the job only on stdout', async () => {
    for (const [status, code] of [['partial', 2], ['failed', 1], ['completed', 0], ['stopped', 2]] as const) {
      const io = recordingIo();
      const fetch = fakeFetch({
        [`GET /api/v1/jobs/${ID}`]: { json: job(status) },
      });
      assert.equal(await run(argv('jobs', 'wait', ID, '--json'), { fetch, env, io }), code, status);
      assert.equal(JSON.parse(io.stdout).status, status);
    }
  });

  it("refusals: the API's status and message on stderr, exit 1", async () => {
    const io = recordingIo();
    const fetch = fakeFetch({ 'POST /api/v1/jobs': { status: 400, json: { statusCode: 400, message: ['durationSec must not be greater than 86400'], error: 'Bad Request' } } });
    assert.equal(await run(argv('profile', '--all', '--duration', '999999s'), { fetch, env, io }), 1);
    assert.equal(io.stderr, 'tracefleet: 400 durationSec must not be greater than 86400\n');
    assert.equal(io.stdout, '');
    const io401 = recordingIo();
    assert.equal(await run(argv('jobs', 'ls'), { fetch: fakeFetch({ 'GET /api/v1/jobs': { status: 401, json: { statusCode: 401, message: 'Unauthorized' } } }), env, io: io401 }), 1);
    assert.equal(io401.stderr, 'tracefleet: 401 Unauthorized\n');
  });

  it('usage errors name the flag and exit 1; a token over plain http elsewhere is refused', async () => {
    const io = recordingIo();
    assert.equal(await run(argv('profile', '--hzz', '5'), { fetch: fakeFetch({}), env, io }), 1);
    assert.match(io.stderr, /error: unknown option '--hzz'/);
    const io2 = recordingIo();
    assert.equal(await run(argv('nodes', '--url', 'http://tf.example:8080'), { fetch: fakeFetch({}), env, io: io2 }), 1);
    assert.match(io2.stderr, /refusing to send the token over plain http to tf\.example:8080/);
    const io3 = recordingIo();
    assert.equal(await run(argv('profile', '--pid', '1', '--duration', '500ms'), { fetch: fakeFetch({}), env, io: io3 }), 1);
    assert.match(io3.stderr, /--duration <duration>' argument '500ms' is invalid.*under a second/);
  });

  it('jobs ls: filters and cursor as the query, the next page on stderr', async () => {
    const calls: Call[] = [];
    const io = recordingIo();
    const fetch = fakeFetch({ 'GET /api/v1/jobs': { json: { jobs: [{ id: ID, type: 'cpu-profile', status: 'completed', createdAt: '2026-12-05T10:00:00Z', durationSec: 3, nodes: ['n1'] }], nextCursor: ID } } }, calls);
    assert.equal(await run(argv('jobs', 'ls', '--status', 'completed', '--limit', '1', '--before', ID), { fetch, env, io }), 0);
    assert.equal(calls[0].url.search, `?status=completed&limit=1&before=${ID}`);
    assert.match(io.stdout, /cpu-profile +completed +2026-12-05 10:00:00 +3s +n1/);
    assert.equal(io.stderr, `more: tracefleet jobs ls --before ${ID} --limit 1\n`);
  });
});

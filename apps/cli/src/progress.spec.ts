import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient } from './api';
import { sslLine } from './commands/ssl';
import { followJob, jobAsProgress, plainView, type JobProgress } from './progress';
import { fakeFetch, recordingIo, sse } from './testing';

const ID = '3f1c2a9e-7b4d-4c1e-9a2b-1d2e3f4a5b6c';
const p = (status: string, nodes: [string, string, number][], reason: string | null = null): JobProgress => ({
  id: ID,
  type: 'cpu-profile',
  status,
  reason,
  elapsedSec: 1,
  remainingSec: 1,
  nodes: nodes.map(([node, s, n]) => ({ node, status: s, reason: null, samplesTaken: n, samplesStored: n, dropped: 0, batchesReceived: 1, startedAt: null, finishedAt: null })),
});

describe('plain progress (not a terminal)', () => {
  it('prints a line per change of state, not per tick, with names and reasons cleaned', () => {
    const io = recordingIo();
    const v = plainView(io, ID);
    const evil = 'n\x1b]0;pwned\x07';
    v.update(p('running', [[evil, 'running', 1]]));
    v.update(p('running', [[evil, 'running', 50]]));
    v.update(p('running', [[evil, 'running', 99]]));
    v.update(p('partial', [[evil, 'failed', 99]], 'n: bad\x1b[2J'));
    assert.equal(io.stderr.includes('\x1b'), false);
    assert.equal(io.stderr.split('\n').filter(Boolean).length, 4, io.stderr);
    assert.match(io.stderr, /: partial \(n: bad\ufffd\[2J\)/);
  });

  it('cleans an ssl event line: escapes from captured text and process names never reach the terminal', () => {
    const line = sslLine({ at: '2026-12-05T10:00:00.000Z', node: 'n1', comm: 'cu\x1brl', pid: 7, direction: 'write', function: 'SSL_write', length: 20, text: 'GET / HTTP/1.1\r\n\x1b]52;c;Zm9v\x07' });
    assert.equal(/[\x00-\x1f\x7f-\x9f]/.test(line), false, JSON.stringify(line));
    assert.match(line, /^10:00:00 n1 cu\ufffdrl\[7\] write SSL_write 20B: GET \/ HTTP\/1\.1\\r\\n\ufffd\]52/);
  });
});

describe('followJob', () => {
  it('follows the stream to `event: status`, and reconnects when it ends early', async () => {
    let calls = 0;
    const api = new ApiClient(
      'http://h',
      't',
      fakeFetch({
        [`GET /api/v1/jobs/${ID}/progress`]: () =>
          ++calls === 1
            ? { text: sse([{ event: 'progress', data: p('running', [['n1', 'running', 1]]) }]), contentType: 'text/event-stream' }
            : { text: sse([{ event: 'progress', data: p('completed', [['n1', 'completed', 9]]) }, { event: 'status', data: { status: 'completed', reason: null } }]), contentType: 'text/event-stream' },
      }),
    );
    const seen: string[] = [];
    const end = await followJob(api, ID, (x) => seen.push(x.status), new AbortController().signal);
    assert.deepEqual(end, { status: 'completed', reason: null });
    assert.deepEqual(seen, ['running', 'completed']);
    assert.equal(calls, 2);
  });

  it('polls GET /jobs/:id when the token has too many streams (429)', async () => {
    const api = new ApiClient(
      'http://h',
      't',
      fakeFetch({
        [`GET /api/v1/jobs/${ID}/progress`]: { status: 429, json: { statusCode: 429, message: 'too many streams' } },
        [`GET /api/v1/jobs/${ID}`]: { json: { id: ID, type: 'cpu-profile', status: 'stopped', reason: 'stopped by the api token', finishedAt: null, runs: [{ node: 'n1', status: 'completed', samplesStored: 3 }] } },
      }),
    );
    const seen: JobProgress[] = [];
    assert.equal((await followJob(api, ID, (x) => seen.push(x), new AbortController().signal)).status, 'stopped');
    assert.equal(seen[0].nodes[0].samplesStored, 3);
    assert.equal(jobAsProgress({ id: ID, status: 'queued', runs: [] }).nodes.length, 0);
  });
});

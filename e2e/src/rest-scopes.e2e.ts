/**
 * REST scopes on a real stack (controller + agent, PostgreSQL, Redis): who may delete ssl-capture
 * schedules, who sees redactPatterns, how many event streams one token may hold, and the audit log
 * that records it all without ever holding a token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startStack, waitFor, type Stack } from './harness';

const STREAMS = 2;
const fp = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);

describe('REST scopes, secret fields, event stream limits and the audit log', () => {
  let stack: Stack;
  const schedules: string[] = [];
  const streams: AbortController[] = [];
  // A secret-looking literal inside a pattern: exactly what must not reach the jobs-only token.
  const secret = `sk_live_${randomBytes(12).toString('hex')}`;
  const sslJob = (durationSec: number) => ({
    type: 'ssl-capture',
    durationSec,
    target: { comm: `tf-none-${randomBytes(3).toString('hex')}` },
    redactPatterns: [`${secret}|token=[A-Za-z0-9]+`],
  });

  before(async () => {
    stack = await startStack({ env: { TRACEFLEET_SSE_STREAMS_PER_TOKEN: String(STREAMS) } });
  });

  after(async () => {
    for (const ac of streams) ac.abort();
    // The e2e database is shared and every controller registers every stored schedule: leave none behind.
    for (const id of schedules) await stack?.api('DELETE', `/schedules/${id}`, undefined, stack.captureToken).catch(() => undefined);
    await stack?.stop();
  });

  /** Opens an ssl-events stream; resolves with the status (and keeps a 200 stream open until aborted). */
  async function openStream(jobId: string, token: string): Promise<{ status: number; text?: string; ac: AbortController }> {
    const ac = new AbortController();
    const res = await fetch(`${stack.base}/jobs/${jobId}/ssl-events/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    if (res.status !== 200) return { status: res.status, text: await res.text(), ac };
    streams.push(ac);
    // Read the body so the socket stays alive and the close is seen when aborted.
    void (async () => {
      try {
        for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>) {
          // discard
        }
      } catch {
        // aborted
      }
    })();
    return { status: 200, ac };
  }

  let scheduleId = '';
  let jobId = '';
  let deniedRequestId = '';

  it('refuses DELETE /schedules/:id of an ssl-capture schedule to the jobs-only token, naming the scope; the capture token deletes it', async () => {
    // Yearly: it never ticks during the test (and never in another engineer's stack that loads it meanwhile).
    const created = await stack.api('POST', '/schedules', { name: 'rest-scopes', cron: '0 0 1 1 *', nodes: { names: [stack.nodeName] }, job: sslJob(5) }, stack.captureToken);
    assert.equal(created.status, 201, created.text);
    scheduleId = created.json.id;
    schedules.push(scheduleId);

    // The bundle's redactPatterns: capture token only.
    const asApi = await stack.api('GET', `/schedules/${scheduleId}`);
    assert.equal(asApi.status, 200);
    assert.ok(!asApi.text.includes(secret), 'the jobs-only token must not see redactPatterns');
    assert.equal(asApi.json.bundle[0].redactPatternsHidden, 1);
    assert.equal(asApi.json.bundle[0].redactPatterns, undefined);
    const listed = await stack.api('GET', '/schedules');
    assert.ok(!listed.text.includes(secret), 'nor in the list');
    const asCapture = await stack.api('GET', `/schedules/${scheduleId}`, undefined, stack.captureToken);
    assert.deepEqual(asCapture.json.bundle[0].redactPatterns, [`${secret}|token=[A-Za-z0-9]+`]);

    const denied = await fetch(`${stack.base}/schedules/${scheduleId}`, { method: 'DELETE', headers: { authorization: `Bearer ${stack.apiToken}` } });
    const deniedText = await denied.text();
    assert.equal(denied.status, 403, deniedText);
    assert.match(deniedText, /needs the ssl-capture scope \(TRACEFLEET_CAPTURE_TOKEN\); this token has: jobs/);
    deniedRequestId = denied.headers.get('x-request-id') ?? '';
    assert.match(deniedRequestId, /^[0-9a-f-]{36}$/);
    assert.equal((await stack.api('GET', `/schedules/${scheduleId}`)).status, 200, 'still there after the 403');

    const deleted = await stack.api('DELETE', `/schedules/${scheduleId}`, undefined, stack.captureToken);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.json.deleted, true);
    assert.equal((await stack.api('GET', `/schedules/${scheduleId}`)).status, 404);
  });

  it('shows redactPatterns of an ssl-capture job only to the capture token', async () => {
    const created = await stack.api('POST', '/jobs', { ...sslJob(90), nodes: { names: [stack.nodeName] } }, stack.captureToken);
    assert.equal(created.status, 201, created.text);
    jobId = created.json.id;
    const asApi = await stack.api('GET', `/jobs/${jobId}`);
    assert.equal(asApi.status, 200);
    assert.ok(!asApi.text.includes(secret), 'the jobs-only token must not see redactPatterns');
    assert.equal(asApi.json.params.redactPatterns, undefined);
    assert.equal(asApi.json.params.redactPatternsHidden, 1);
    // A query asking for more changes nothing.
    const escalate = await stack.api('GET', `/jobs/${jobId}?scope=ssl-capture&redactPatterns=1`);
    assert.ok(!escalate.text.includes(secret));
    const asCapture = await stack.api('GET', `/jobs/${jobId}`, undefined, stack.captureToken);
    assert.deepEqual(asCapture.json.params.redactPatterns, [`${secret}|token=[A-Za-z0-9]+`]);
    assert.equal(asCapture.json.params.redactPatternsHidden, undefined);
  });

  it(`refuses stream number ${STREAMS + 1} (one over the limit) of one token with 429, and takes new ones once streams close`, async () => {
    const open = [];
    for (let i = 0; i < STREAMS; i++) {
      const s = await openStream(jobId, stack.captureToken);
      assert.equal(s.status, 200, s.text);
      open.push(s);
    }
    const over = await openStream(jobId, stack.captureToken);
    assert.equal(over.status, 429, over.text);
    assert.match(over.text ?? '', /already has 2 open event stream\(s\).*TRACEFLEET_SSE_STREAMS_PER_TOKEN=2/);
    // The other token is judged on its own: refused for its scope (403), not counted against the capture token (429).
    const other = await openStream(jobId, stack.apiToken);
    assert.equal(other.status, 403, other.text);

    // Closing one frees one slot; the count is released on the controller when the socket closes.
    open[0].ac.abort();
    let again: Awaited<ReturnType<typeof openStream>> | undefined;
    await waitFor(async () => {
      again = await openStream(jobId, stack.captureToken);
      return again.status === 200;
    }, 10_000, 'a new stream after closing one');
    const over2 = await openStream(jobId, stack.captureToken);
    assert.equal(over2.status, 429);

    // Closing all of them gives every slot back.
    open[1].ac.abort();
    again!.ac.abort();
    await waitFor(async () => {
      const a = await openStream(jobId, stack.captureToken);
      if (a.status !== 200) return false;
      const b = await openStream(jobId, stack.captureToken);
      a.ac.abort();
      b.ac.abort();
      return b.status === 200;
    }, 10_000, `${STREAMS} new streams after closing all`);
  });

  it('lists these actions in the audit log with the right token fingerprints and no token text; the jobs-only token gets 403', async () => {
    const forbidden = await stack.api('GET', '/audit');
    assert.equal(forbidden.status, 403, forbidden.text);
    assert.match(forbidden.text, /ssl-capture scope/);
    assert.equal((await stack.api('GET', '/audit?scope=ssl-capture')).status, 403, 'no scope through the query');
    assert.equal((await stack.api('GET', '/audit?limit=1000000', undefined, stack.captureToken)).status, 400);
    assert.equal((await stack.api('GET', `/audit?token=${stack.captureToken}`, undefined, stack.captureToken)).status, 400, 'a token where a fingerprint goes');

    const api = fp(stack.apiToken);
    const capture = fp(stack.captureToken);
    const del = await stack.api('GET', `/audit?action=schedule.delete&target=schedule:${scheduleId}`, undefined, stack.captureToken);
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(
      del.json.entries.map((e: any) => [e.outcome, e.status, e.token.name, e.token.fingerprint]),
      [
        ['ok', 200, 'capture', capture],
        ['denied', 403, 'api', api],
      ],
      'newest first',
    );
    assert.equal(del.json.entries[1].requestId, deniedRequestId, 'the entry carries the X-Request-Id the client saw');
    assert.match(del.json.entries[1].reason, /ssl-capture scope/);
    assert.ok(del.json.entries[1].remoteAddr);

    const all = await stack.api('GET', `/audit?limit=500&since=${new Date(Date.now() - 10 * 60_000).toISOString()}`, undefined, stack.captureToken);
    assert.equal(all.status, 200);
    const mine = all.json.entries.filter((e: any) => [api, capture].includes(e.token.fingerprint));
    const has = (action: string, outcome: string, fingerprint: string, target?: string): boolean =>
      mine.some((e: any) => e.action === action && e.outcome === outcome && e.token.fingerprint === fingerprint && (target === undefined || e.target.id === target));
    assert.ok(has('schedule.create', 'ok', capture, scheduleId), 'schedule.create');
    assert.ok(has('job.create', 'ok', capture, jobId), 'job.create');
    assert.ok(mine.some((e: any) => e.action === 'ssl.stream' && e.status === 429 && e.outcome === 'refused' && e.token.fingerprint === capture), 'the 429 stream');
    assert.ok(mine.some((e: any) => e.action === 'ssl.stream' && e.status === 403 && e.token.fingerprint === api), 'the 403 stream');
    assert.ok(has('audit.read', 'denied', api), 'the 403 on /audit');
    const times = mine.map((e: any) => Date.parse(e.at));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    for (const text of [all.text, del.text]) {
      assert.ok(!text.includes(stack.apiToken) && !text.includes(stack.captureToken) && !text.includes(stack.enrollmentToken), 'no token text in the audit log');
      assert.ok(!text.includes(secret), 'no redactPatterns in the audit log');
    }
    // Pages: limit and the cursor.
    const p1 = await stack.api('GET', `/audit?limit=1&token=${capture}`, undefined, stack.captureToken);
    assert.equal(p1.json.entries.length, 1);
    const p2 = await stack.api('GET', `/audit?limit=1&token=${capture}&before=${p1.json.nextCursor}`, undefined, stack.captureToken);
    assert.notEqual(p2.json.entries[0].id, p1.json.entries[0].id);
    assert.ok(Date.parse(p2.json.entries[0].at) <= Date.parse(p1.json.entries[0].at), 'the next page is older');
  });
});

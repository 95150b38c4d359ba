/**
 * Web console sessions on a real stack (controller + agent, PostgreSQL, Redis): sign-in with a token for an
 * HttpOnly cookie, the cookie in place of the bearer token, CSRF on state changes, a session's scopes being
 * its token's, sign-out ending it on the server, and hostile Cookie headers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readAnswer, startStack, type Stack } from './harness';

const fp = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);

interface Answer {
  status: number;
  json: any;
  text: string;
  setCookie: string | null;
}

describe('web console sessions', () => {
  let stack: Stack;
  const comm = `tf-none-${randomBytes(3).toString('hex')}`;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  async function call(method: string, path: string, o: { cookie?: string; csrf?: string; body?: unknown; origin?: string; bearer?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (o.cookie !== undefined) headers.cookie = o.cookie;
    if (o.csrf !== undefined) headers['x-csrf-token'] = o.csrf;
    if (o.origin !== undefined) headers.origin = o.origin;
    if (o.bearer !== undefined) headers.authorization = `Bearer ${o.bearer}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${stack.base}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    return { ...(await readAnswer(res)), setCookie: res.headers.get('set-cookie') };
  }

  /** Signs in; returns the cookie pair (`tf_session=…`), its value and the answer. */
  async function signIn(token: string): Promise<{ cookie: string; value: string; csrf: string; res: Answer }> {
    const res = await call('POST', '/session', { body: { token } });
    assert.equal(res.status, 201, res.text);
    const m = /^tf_session=([A-Za-z0-9_-]{43});/.exec(res.setCookie ?? '');
    assert.ok(m, `Set-Cookie: ${res.setCookie}`);
    return { cookie: `tf_session=${m[1]}`, value: m[1], csrf: res.json.csrfToken, res };
  }

  const cpuJob = () => ({ type: 'cpu-profile', durationSec: 30, target: { comm }, nodes: { names: [stack.nodeName] } });
  const sslJob = () => ({ type: 'ssl-capture', durationSec: 1, target: { comm }, nodes: { names: [stack.nodeName] } });

  it('refuses a wrong token with 401 and no cookie; a malformed body is a 400 naming the field', async () => {
    for (const token of ['x'.repeat(48), `${stack.apiToken}x`, stack.enrollmentToken]) {
      const res = await call('POST', '/session', { body: { token } });
      assert.equal(res.status, 401, res.text);
      assert.equal(res.setCookie, null);
      assert.ok(!res.text.includes(token));
    }
    const extra = await call('POST', '/session', { body: { token: stack.apiToken, scopes: ['ssl-capture'] } });
    assert.equal(extra.status, 400, extra.text);
    assert.equal(extra.setCookie, null);
    const long = await call('POST', '/session', { body: { token: 'y'.repeat(4096) } });
    assert.equal(long.status, 400, long.text);
    assert.match(long.text, /token/);
    assert.equal((await call('POST', '/session', { body: { token: 12 } })).status, 400);
  });

  it('signs in with a token: HttpOnly, SameSite=Strict, Path=/ and, over plain HTTP, no Secure', async () => {
    const { res, csrf } = await signIn(stack.apiToken);
    const flags = (res.setCookie ?? '').split(';').map((s) => s.trim());
    assert.ok(flags.includes('HttpOnly'), res.setCookie!);
    assert.ok(flags.includes('SameSite=Strict'));
    assert.ok(flags.includes('Path=/'));
    assert.ok(flags.some((f) => /^Max-Age=\d+$/.test(f) && Number(f.slice(8)) > 3600));
    assert.ok(!flags.some((f) => /^secure$/i.test(f)), 'no Secure over plain HTTP');
    assert.equal(res.json.token, 'api');
    assert.deepEqual(res.json.scopes, ['jobs']);
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(res.json.expiresAt) > Date.now());
    assert.ok(!res.text.includes(stack.apiToken));
  });

  it('reads with the cookie alone; state changes need the CSRF token (403 without or with a wrong one, or from another origin)', async () => {
    const { cookie, csrf } = await signIn(stack.apiToken);
    const list = await call('GET', '/jobs?limit=1', { cookie });
    assert.equal(list.status, 200, list.text);
    const again = await call('GET', '/session', { cookie });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.csrfToken, csrf, 'a reloaded page gets its CSRF token back');
    assert.equal(again.json.token, 'api');

    const none = await call('POST', '/jobs', { cookie, body: cpuJob() });
    assert.equal(none.status, 403, none.text);
    assert.match(none.text, /missing or wrong X-CSRF-Token/);
    const wrong = await call('POST', '/jobs', { cookie, csrf: `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}`, body: cpuJob() });
    assert.equal(wrong.status, 403, wrong.text);
    const other = await signIn(stack.apiToken);
    assert.equal((await call('POST', '/jobs', { cookie, csrf: other.csrf, body: cpuJob() })).status, 403, "another session's CSRF token");
    const cross = await call('POST', '/jobs', { cookie, csrf, origin: 'http://evil.example', body: cpuJob() });
    assert.equal(cross.status, 403, cross.text);
    assert.match(cross.text, /Origin/);

    const created = await call('POST', '/jobs', { cookie, csrf, origin: new URL(stack.base).origin, body: cpuJob() });
    assert.equal(created.status, 201, created.text);
    const stop = await call('POST', `/jobs/${created.json.id}/stop`, { cookie, csrf });
    assert.equal(stop.status, 202, stop.text);

    // A bearer token needs no CSRF token; a bad bearer token is a 401 whatever cookie comes with it.
    assert.equal((await call('GET', '/jobs?limit=1', { bearer: stack.apiToken })).status, 200);
    assert.equal((await call('GET', '/jobs?limit=1', { cookie, bearer: 'z'.repeat(48) })).status, 401);
    assert.equal((await call('GET', '/session', { bearer: stack.apiToken })).status, 401, 'a bearer token has no session');
  });

  it('gives a session its token\'s scopes: an api session gets the ssl-capture 403s, a capture session does not', async () => {
    const api = await signIn(stack.apiToken);
    const ssl = await call('POST', '/jobs', { cookie: api.cookie, csrf: api.csrf, body: sslJob() });
    assert.equal(ssl.status, 403, ssl.text);
    assert.match(ssl.text, /needs the ssl-capture scope/);
    assert.equal((await call('GET', '/audit', { cookie: api.cookie })).status, 403);

    const capture = await signIn(stack.captureToken);
    assert.deepEqual(capture.res.json.scopes, ['jobs', 'ssl-capture']);
    const allowed = await call('POST', '/jobs', { cookie: capture.cookie, csrf: capture.csrf, body: sslJob() });
    assert.equal(allowed.status, 201, allowed.text);
    const audit = await call('GET', '/audit?limit=200', { cookie: capture.cookie });
    assert.equal(audit.status, 200, audit.text);
    const entries: any[] = audit.json.entries;
    const signIns = entries.filter((e) => e.action === 'session.create');
    assert.ok(signIns.some((e) => e.token.name === 'capture' && e.token.fingerprint === fp(stack.captureToken)));
    assert.ok(signIns.some((e) => e.token.name === 'api' && e.token.fingerprint === fp(stack.apiToken)));
    const denied = entries.find((e) => e.action === 'job.create' && e.outcome === 'denied');
    assert.equal(denied?.token.name, 'api', 'the 403 of the api session names its token');
    assert.ok(entries.some((e) => e.action === 'job.create' && e.outcome === 'ok' && e.target.id === allowed.json.id && e.token.name === 'capture'));
    for (const secret of [stack.apiToken, stack.captureToken, api.value, capture.value, api.csrf, capture.csrf]) assert.ok(!audit.text.includes(secret), 'no token, cookie or CSRF token in the audit log');
  });

  it('signs out on the server: DELETE /session needs the CSRF token, clears the cookie, and the old cookie is a 401 everywhere', async () => {
    const { cookie, csrf } = await signIn(stack.captureToken);
    assert.equal((await call('DELETE', '/session', { cookie })).status, 403);
    const out = await call('DELETE', '/session', { cookie, csrf });
    assert.equal(out.status, 200, out.text);
    assert.deepEqual(out.json, { ended: true });
    assert.match(out.setCookie ?? '', /^tf_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    for (const [method, path] of [['GET', '/jobs?limit=1'], ['GET', '/session'], ['GET', '/audit'], ['DELETE', '/session']]) {
      assert.equal((await call(method, path, { cookie, csrf })).status, 401, `${method} ${path} after sign-out`);
    }
    const res = await call('POST', '/jobs', { cookie, csrf, body: cpuJob() });
    assert.equal(res.status, 401, res.text);
  });

  it('answers hostile Cookie headers with 401, never 500', async () => {
    const { cookie, value } = await signIn(stack.apiToken);
    const hostile = [
      `tf_session=${'A'.repeat(10_000)}`,
      `${Array.from({ length: 900 }, (_, i) => `c${i}=v`).join('; ')}; tf_session=${'B'.repeat(43)}`,
      `${'x=1; '.repeat(2000)}${cookie}`,
      `tf_session=${value.slice(0, 20)};${value.slice(20)}`,
      `tf_session=${value}; tf_session=${value}`,
      `${cookie}; tf_session=${'C'.repeat(43)}`,
      `tf_session="${value}"`,
      `tf_session=${value}%00`,
      'tf_session=%E0%A4%A',
      'tf_session',
      ';;;===;;;',
      `tf_session=${value.slice(0, 42)}\u00e9`.replace(/[^\x20-\x7e]/g, '?'),
    ];
    for (const h of hostile) {
      const res = await call('GET', '/jobs?limit=1', { cookie: h });
      assert.equal(res.status, 401, `${h.slice(0, 60)}… → ${res.status} ${res.text.slice(0, 200)}`);
    }
    assert.equal((await call('GET', '/jobs?limit=1', { cookie })).status, 200, 'the real session still works');
    assert.ok(!stack.logs.join('').match(/ERROR[^\n]*(tf_session|cookie)/i), 'nothing logged as an error');
  });

  it('refuses an address after 10 failed sign-ins with 429, right token or not', async () => {
    let saw429 = false;
    for (let i = 0; i < 12; i++) {
      const res = await call('POST', '/session', { body: { token: randomBytes(24).toString('hex') } });
      if (res.status === 429) {
        saw429 = true;
        assert.match(res.text, /too many failed sign-ins/);
        break;
      }
      assert.equal(res.status, 401);
    }
    assert.ok(saw429, 'no 429 after 12 failures');
    const right = await call('POST', '/session', { body: { token: stack.apiToken } });
    assert.equal(right.status, 429, right.text);
    assert.equal(right.setCookie, null);
    assert.equal((await call('GET', '/jobs?limit=1', { bearer: stack.apiToken })).status, 200, 'bearer requests are not held up');
  });
});

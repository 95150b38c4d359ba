import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rawHttp } from '../testing/raw-http';
import { MetricsPortError, MetricsServer, PROMETHEUS_CONTENT_TYPE } from './metrics-server';

const TOKEN = 't'.repeat(40);

const raw = (port: number, request: string | Buffer): Promise<string> => rawHttp(port, request);

describe('agent metrics server', () => {
  let ready: string | undefined = 'controller link to 127.0.0.1:50051 down: UNAVAILABLE';
  let scrapes = 0;
  const open = new MetricsServer({ host: '127.0.0.1', port: 0, scrape: async () => (scrapes++, 'x_total 1\n'), notReady: () => ready });
  const guarded = new MetricsServer({ host: '127.0.0.1', port: 0, token: TOKEN, scrape: async () => 'x_total 2\n', notReady: () => 'down: secret.example:50051' });
  let openUrl = '';
  let guardedUrl = '';
  let guardedPort = 0;

  before(async () => {
    openUrl = `http://127.0.0.1:${(await open.start()).port}`;
    guardedPort = (await guarded.start()).port;
    guardedUrl = `http://127.0.0.1:${guardedPort}`;
  });
  after(async () => {
    await open.close();
    await guarded.close();
  });

  it('serves /metrics as Prometheus text, liveness, and readiness with the reason', async () => {
    const m = await fetch(`${openUrl}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await m.text(), 'x_total 1\n');
    assert.equal((await fetch(`${openUrl}/health/live`)).status, 200);
    const notReady = await fetch(`${openUrl}/health/ready`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /not ready: controller link to 127\.0\.0\.1:50051 down/);
    ready = undefined;
    assert.equal((await fetch(`${openUrl}/health/ready`)).status, 200);
    const head = await fetch(`${openUrl}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('answers 404 to other paths (no normalization) and 405 to other methods, without reading a body', async () => {
    for (const p of ['/', '/metrics/', '/%2e%2e/etc/passwd', '/health', '/health/ready/x']) {
      assert.equal((await fetch(`${openUrl}${p}`)).status, 404, p);
    }
    // fetch would normalize these: sent as they are.
    const port = Number(new URL(openUrl).port);
    for (const p of ['/metrics/../health/live', '/../../etc/passwd', 'http://evil/metrics']) {
      assert.match(await raw(port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 404 /, p);
    }
    const before = scrapes;
    const post = await fetch(`${openUrl}/metrics`, { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal(scrapes, before, 'a POST is not a scrape');
  });

  it('needs the bearer token on /metrics when one is configured, and keeps the readiness reason from strangers', async () => {
    assert.equal((await fetch(`${guardedUrl}/metrics`)).status, 401);
    assert.equal((await fetch(`${guardedUrl}/metrics`, { headers: { authorization: `Bearer ${'t'.repeat(39)}u` } })).status, 401);
    assert.equal((await fetch(`${guardedUrl}/metrics`, { headers: { authorization: TOKEN } })).status, 401);
    const ok = await fetch(`${guardedUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'x_total 2\n');
    assert.equal((await fetch(`${guardedUrl}/health/live`)).status, 200);
    const stranger = await fetch(`${guardedUrl}/health/ready`);
    assert.equal(stranger.status, 503);
    assert.doesNotMatch(await stranger.text(), /secret/);
  });

  it('refuses oversized headers and garbage with one 4xx, and goes on serving', async () => {
    const big = await raw(guardedPort, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
    assert.equal(big.match(/HTTP\/1\.1/g)?.length, 1, 'one answer');
    assert.match(await raw(guardedPort, 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.equal((await fetch(`${guardedUrl}/health/live`)).status, 200);
  });

  it('fails to start with the variable named when the port is taken', async () => {
    const port = Number(new URL(openUrl).port);
    const clash = new MetricsServer({ host: '127.0.0.1', port, scrape: async () => '', notReady: () => undefined });
    await assert.rejects(clash.start(), (e: Error) => e instanceof MetricsPortError && /TRACEFLEET_AGENT_METRICS_ADDR.*EADDRINUSE/.test(e.message));
  });
});

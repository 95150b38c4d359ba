import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { ControllerMetrics } from './controller-metrics';
import { isLoopbackHost, metricsAccess, mountMetrics } from './metrics-route';

const TOKEN = 'm'.repeat(32);

describe('metrics access', () => {
  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'example.com', '127.0.0.1.example.com', '']) assert.ok(!isLoopbackHost(h), h);
  });

  it('lets anyone scrape a loopback-only controller without a metrics token', () => {
    assert.deepEqual(metricsAccess({ host: '127.0.0.1' }, undefined), { ok: true });
    assert.deepEqual(metricsAccess({ host: '::1' }, 'Bearer whatever'), { ok: true });
  });

  it('refuses every scrape of a controller on another address until a metrics token is set', () => {
    const r = metricsAccess({ host: '0.0.0.0' }, `Bearer ${TOKEN}`);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.status, 403);
    assert.match(!r.ok ? r.message : '', /TRACEFLEET_METRICS_TOKEN/);
  });

  it('wants the metrics token once one is set, on loopback too', () => {
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      assert.deepEqual(metricsAccess({ host, metricsToken: TOKEN }, `Bearer ${TOKEN}`), { ok: true });
      for (const h of [undefined, '', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN, `Bearer ${'x'.repeat(10_000)}`]) {
        const r = metricsAccess({ host, metricsToken: TOKEN }, h);
        assert.equal(!r.ok && r.status, 401, String(h).slice(0, 40));
      }
    }
  });
});

describe('GET /metrics', () => {
  let server: Server;
  let base: string;
  let open: Server;
  let openBase: string;
  /** Configured as listening on every address (it listens on loopback here), without a metrics token. */
  let wide: Server;
  let wideBase: string;

  before(async () => {
    const listen = async (env: { host: string; metricsToken?: string }): Promise<[Server, string]> => {
      const app = express();
      const m = new ControllerMetrics();
      m.gauge('agents_connected', 'agents', [], () => [{ value: 1 }]);
      mountMetrics(app, m, env);
      const s = await new Promise<Server>((resolve) => {
        const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
      });
      return [s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`];
    };
    [server, base] = await listen({ host: '127.0.0.1', metricsToken: TOKEN });
    [open, openBase] = await listen({ host: '127.0.0.1' });
    [wide, wideBase] = await listen({ host: '0.0.0.0' });
  });
  after(() => {
    server.close();
    open.close();
    wide.close();
  });

  it('answers in the Prometheus text format to the metrics token', async () => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await res.text(), /^tracefleet_controller_agents_connected 1$/m);
  });

  it('answers 401 to a wrong, missing or hostile Authorization header, never 5xx', async () => {
    for (const authorization of [undefined, 'Bearer nope', `Bearer ${'a'.repeat(8000)}`, 'Bearer \u00ff\u00fe', 'Bearer a b c', '   ']) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const res = await fetch(`${base}/metrics`, { headers });
      assert.equal(res.status, 401, String(authorization).slice(0, 30));
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="tracefleet-metrics"');
      assert.doesNotMatch(await res.text(), /tracefleet_controller_/);
    }
  });

  it('answers without a token on loopback when no metrics token is set', async () => {
    const res = await fetch(`${openBase}/metrics`);
    assert.equal(res.status, 200);
  });

  it('answers 403 naming TRACEFLEET_METRICS_TOKEN beyond loopback without one, whatever token comes', async () => {
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
      const res = await fetch(`${wideBase}/metrics`, { headers });
      assert.equal(res.status, 403);
      assert.match(await res.text(), /TRACEFLEET_METRICS_TOKEN/);
    }
  });
});

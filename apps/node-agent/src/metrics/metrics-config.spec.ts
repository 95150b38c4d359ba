import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, isLoopback, loadConfig, metricsConfig } from '../config';

const BASE = { TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_NODE_NAME: 'n1' };
const TOKEN = 'm'.repeat(32);

describe('agent metrics config', () => {
  it('is off unless TRACEFLEET_AGENT_METRICS_ADDR is set', () => {
    assert.equal(loadConfig(BASE).metrics, undefined);
    assert.deepEqual(loadConfig({ ...BASE, TRACEFLEET_AGENT_METRICS_ADDR: '127.0.0.1:9464' }).metrics, { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(metricsConfig({ TRACEFLEET_AGENT_METRICS_ADDR: '[::1]:9000' }), { host: '::1', port: 9000 });
  });

  it('names the variable when the address is not host:port', () => {
    for (const bad of ['9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'http://127.0.0.1:9464', '127.0.0.1:94a', ' 127.0.0.1:9464']) {
      assert.throws(() => metricsConfig({ TRACEFLEET_AGENT_METRICS_ADDR: bad }), (e: Error) => e instanceof ConfigError && /^TRACEFLEET_AGENT_METRICS_ADDR: /.test(e.message), bad);
    }
  });

  it('refuses a non-loopback address without a token, naming both variables', () => {
    for (const wide of ['0.0.0.0:9464', '10.1.2.3:9464', '[::]:9464', 'localhost:9464', 'metrics.example:9464']) {
      assert.throws(() => loadConfig({ ...BASE, TRACEFLEET_AGENT_METRICS_ADDR: wide }), /TRACEFLEET_AGENT_METRICS_ADDR: .* not a loopback address and TRACEFLEET_AGENT_METRICS_TOKEN is not set/, wide);
    }
    assert.deepEqual(metricsConfig({ TRACEFLEET_AGENT_METRICS_ADDR: '0.0.0.0:9464', TRACEFLEET_AGENT_METRICS_TOKEN: TOKEN }), { host: '0.0.0.0', port: 9464, token: TOKEN });
  });

  it('takes a token of 24-256 printable characters only', () => {
    for (const bad of ['short', 'x'.repeat(23), 'x'.repeat(257), `${'x'.repeat(24)} y`]) {
      assert.throws(() => metricsConfig({ TRACEFLEET_AGENT_METRICS_ADDR: '127.0.0.1:9464', TRACEFLEET_AGENT_METRICS_TOKEN: bad }), /TRACEFLEET_AGENT_METRICS_TOKEN: not 24-256/);
    }
  });

  it('knows loopback literals', () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('127.8.9.10') && isLoopback('::1'));
    assert.ok(!isLoopback('0.0.0.0') && !isLoopback('128.0.0.1') && !isLoopback('localhost') && !isLoopback('::'));
  });
});

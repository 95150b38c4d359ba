import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EnvError, loadEnv } from './env';
import { GOOD_ENV } from '../testing/env-fixture';

const good = GOOD_ENV;

describe('loadEnv', () => {
  it('applies defaults', () => {
    const env = loadEnv(good);
    assert.equal(env.port, 8080);
    assert.equal(env.grpcAddr, '127.0.0.1:50051');
    assert.equal(env.maxDurationSec, 3600);
    assert.equal(env.enrollAddr, '127.0.0.1:50052');
    assert.equal(env.pki.serverCertFile, undefined, 'the server certificate is issued at boot');
    assert.deepEqual(env.pki.serverNames.slice(0, 2), ['127.0.0.1', 'localhost']);
    assert.equal(env.nodeCertLifetimeSec, 86_400);
    assert.equal(env.enrollmentTokenUses, 10);
    assert.equal(env.retentionSweepSec, 300);
    assert.equal(env.captureToken, 'c'.repeat(32));
    assert.equal(env.nodeUnreachableMs, 15_000);
    assert.equal(env.nodeGoneMs, 600_000);
    assert.equal(env.nodeSweepMs, 5000);
    assert.match(env.replicaId, /^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{8}$/, 'a generated replica id');
    assert.notEqual(loadEnv(good).replicaId, env.replicaId, 'each boot gets its own');
  });
  it('takes replica id and node thresholds from the environment', () => {
    const env = loadEnv({ ...good, TRACEFLEET_REPLICA_ID: 'ctl-a', TRACEFLEET_HEARTBEAT_MS: '1000', TRACEFLEET_NODE_UNREACHABLE_MS: '3000', TRACEFLEET_NODE_GONE_MS: '8000' });
    assert.equal(env.replicaId, 'ctl-a');
    assert.equal(env.nodeUnreachableMs, 3000);
    assert.equal(env.nodeGoneMs, 8000);
    assert.equal(env.nodeSweepMs, 1000);
  });
  it('puts the listen hosts and extra names in the server certificate, never a wildcard address', () => {
    const env = loadEnv({ ...good, TRACEFLEET_GRPC_ADDR: '0.0.0.0:7000', TRACEFLEET_ENROLL_ADDR: '10.1.2.3:7001', TRACEFLEET_GRPC_TLS_SANS: 'ctl.example, 192.168.1.9' });
    for (const n of ['10.1.2.3', 'ctl.example', '192.168.1.9']) assert.ok(env.pki.serverNames.includes(n), n);
    assert.ok(!env.pki.serverNames.includes('0.0.0.0'));
  });
  it('names the variable that is wrong', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...good, DATABASE_URL: '' }, /DATABASE_URL is not set/],
      [{ ...good, DATABASE_URL: 'mysql://x' }, /DATABASE_URL must be/],
      [{ ...good, DATABASE_URL: 'postgresql://tracefleet:p@ss@127.0.0.1:5432:x/db' }, /DATABASE_URL is not a valid URL \(a password/],
      [{ ...good, REDIS_URL: '' }, /REDIS_URL is not set/],
      [{ ...good, REDIS_URL: 'http://127.0.0.1:6380' }, /REDIS_URL must be a redis:\/\/ URL/],
      [{ ...good, TRACEFLEET_API_TOKEN: 'short' }, /TRACEFLEET_API_TOKEN is shorter/],
      [{ ...good, TRACEFLEET_ENROLLMENT_TOKEN: 'a'.repeat(32) }, /must differ/],
      [{ ...good, PORT: 'eighty' }, /PORT="eighty"/],
      [{ ...good, TRACEFLEET_MAX_DURATION_SEC: '0' }, /TRACEFLEET_MAX_DURATION_SEC/],
      [{ ...good, TRACEFLEET_GRPC_TLS_CERT: '/x.pem' }, /go together/],
      [{ ...good, TRACEFLEET_CA_CERT: '' }, /TRACEFLEET_CA_CERT is not set/],
      [{ ...good, TRACEFLEET_CA_KEY: '' }, /TRACEFLEET_CA_KEY is not set/],
      [{ ...good, TRACEFLEET_ENROLL_ADDR: '127.0.0.1:50051' }, /TRACEFLEET_ENROLL_ADDR must differ/],
      [{ ...good, TRACEFLEET_GRPC_TLS_SANS: 'a b' }, /TRACEFLEET_GRPC_TLS_SANS: "a b"/],
      [{ ...good, TRACEFLEET_NODE_CERT_LIFETIME_SEC: '5' }, /TRACEFLEET_NODE_CERT_LIFETIME_SEC/],
      [{ ...good, TRACEFLEET_ENROLLMENT_TOKEN_USES: '0' }, /TRACEFLEET_ENROLLMENT_TOKEN_USES/],
      [{ ...good, TRACEFLEET_CAPTURE_TOKEN: '' }, /TRACEFLEET_CAPTURE_TOKEN is not set/],
      [{ ...good, TRACEFLEET_CAPTURE_TOKEN: 'short' }, /TRACEFLEET_CAPTURE_TOKEN is shorter/],
      [{ ...good, TRACEFLEET_CAPTURE_TOKEN: 'a'.repeat(32) }, /TRACEFLEET_CAPTURE_TOKEN must differ from TRACEFLEET_API_TOKEN/],
      [{ ...good, TRACEFLEET_CAPTURE_TOKEN: 'b'.repeat(32) }, /TRACEFLEET_CAPTURE_TOKEN and TRACEFLEET_ENROLLMENT_TOKEN must differ/],
      [{ ...good, TRACEFLEET_RETENTION_SWEEP_SEC: '0' }, /TRACEFLEET_RETENTION_SWEEP_SEC="0"/],
      [{ ...good, TRACEFLEET_REPLICA_ID: 'a:b' }, /TRACEFLEET_REPLICA_ID="a:b"/],
      [{ ...good, TRACEFLEET_NODE_UNREACHABLE_MS: '4000' }, /TRACEFLEET_NODE_UNREACHABLE_MS=4000 must be longer than TRACEFLEET_HEARTBEAT_MS=5000/],
      [{ ...good, TRACEFLEET_NODE_UNREACHABLE_MS: '20000', TRACEFLEET_NODE_GONE_MS: '20000' }, /TRACEFLEET_NODE_GONE_MS=20000 must be longer/],
      [{ ...good, TRACEFLEET_NODE_SWEEP_MS: '10' }, /TRACEFLEET_NODE_SWEEP_MS/],
    ];
    for (const [env, re] of cases) assert.throws(() => loadEnv(env), (e: Error) => e instanceof EnvError && re.test(e.message));
  });
  it('takes the result writes at once apart from the pool: 3 by default, a whole number from 1', () => {
    assert.deepEqual([loadEnv(good).dbPoolSize, loadEnv(good).storeSlots, loadEnv(good).stackStoreSlots], [12, undefined, 3]);
    assert.equal(loadEnv({ ...good, TRACEFLEET_STACK_STORE_SLOTS: '6' }).stackStoreSlots, 6);
    for (const bad of ['0', '2.5', '197']) assert.throws(() => loadEnv({ ...good, TRACEFLEET_STACK_STORE_SLOTS: bad }), /TRACEFLEET_STACK_STORE_SLOTS/, bad);
    assert.equal(loadEnv({ ...good, TRACEFLEET_STORE_SLOTS: '8' }).storeSlots, 8);
    for (const bad of ['0', '-1', '2.5', 'three', '197']) assert.throws(() => loadEnv({ ...good, TRACEFLEET_STORE_SLOTS: bad }), /TRACEFLEET_STORE_SLOTS/, bad);
  });
  it('takes an optional metrics token of its own', () => {
    assert.equal(loadEnv(good).metricsToken, undefined);
    assert.equal(loadEnv({ ...good, TRACEFLEET_METRICS_TOKEN: 'm'.repeat(24) }).metricsToken, 'm'.repeat(24));
    assert.throws(() => loadEnv({ ...good, TRACEFLEET_METRICS_TOKEN: 'short' }), /TRACEFLEET_METRICS_TOKEN is shorter than 24/);
    assert.throws(() => loadEnv({ ...good, TRACEFLEET_METRICS_TOKEN: 'a'.repeat(32) }), /TRACEFLEET_METRICS_TOKEN must differ/);
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { EnrollmentService, type EnrollRequest, type EnrollResponse } from '@tracefleet/proto';
import { BACKDATE_MS, checkCsr, createCa, issueNodeCert, issueServerCert, loadCa, nodeIdentity, type FleetCa } from '@tracefleet/pki';
import { IdentityError, NodeCredentials, renewAt, untrustedServer } from './identity';
import { linkFailure } from './link';

describe('renewal time', () => {
  it('is two thirds into the life counted from issuance (not from the backdated notBefore)', () => {
    const issued = Date.parse('2026-12-03T12:00:00Z');
    const at = renewAt(new Date(issued - BACKDATE_MS), new Date(issued + 90_000));
    assert.equal(at, issued + 60_000);
    assert.equal(renewAt(new Date(issued - BACKDATE_MS), new Date(issued + 86_400_000)), issued + 57_600_000);
    const shortLived = renewAt(new Date(issued), new Date(issued + 1000));
    assert.ok(shortLived <= issued + 1000, 'never after expiry');
  });
});

describe('link failures', () => {
  it('names a controller whose certificate does not chain to the fleet CA', () => {
    const e = { code: status.UNAVAILABLE, details: 'No connection established. Last error: Error: self-signed certificate in certificate chain', message: '' };
    assert.ok(untrustedServer(e));
    assert.match(linkFailure('127.0.0.1:7000', e), /refused the controller at 127\.0\.0\.1:7000: the TLS handshake failed.*nothing was sent or started/);
    assert.match(linkFailure('h:1', { code: status.PERMISSION_DENIED, details: 'node x was revoked', message: '' }), /revoked.*new bootstrap token/);
    assert.equal(untrustedServer({ details: 'connect ECONNREFUSED 127.0.0.1:1' }), false, 'a controller that is down is not a rogue');
  });
});

/** A real gRPC enrollment server: issues from `ca` (as the controller does) and counts the calls it sees. */
async function enrollServer(serverCa: FleetCa, issuingCa: FleetCa): Promise<{ addr: string; calls: EnrollRequest[]; tokens: string[]; close(): void }> {
  const calls: EnrollRequest[] = [];
  const tokens: string[] = [];
  const server = new Server();
  server.addService(EnrollmentService, {
    enroll: (call: ServerUnaryCall<EnrollRequest, EnrollResponse>, cb: sendUnaryData<EnrollResponse>) => {
      calls.push(call.request);
      tokens.push(String(call.metadata.get('authorization')[0] ?? ''));
      void checkCsr(call.request.csrPem, call.request.nodeName)
        .then((pub) => issueNodeCert(issuingCa, call.request.nodeName, pub, 3_600_000))
        .then(
          (c) => cb(null, { certificate: { certificatePem: c.certPem, caPem: issuingCa.certPem, notAfterUnixMs: BigInt(c.notAfter.getTime()) } }),
          (e: Error) => cb({ code: status.INVALID_ARGUMENT, details: e.message }),
        );
    },
  });
  const srv = await issueServerCert(serverCa, ['127.0.0.1']);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(srv.certPem), private_key: Buffer.from(srv.keyPem) }]), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { addr: `127.0.0.1:${port}`, calls, tokens, close: () => server.forceShutdown() };
}

describe('node credentials', () => {
  let dir: string;
  let caFile: string;
  let fleet: FleetCa;
  let rogue: FleetCa;
  const servers: { close(): void }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'identity-spec-'));
    const f = await createCa('spec fleet', 1);
    fleet = await loadCa(f.certPem, f.keyPem);
    const r = await createCa('spec rogue', 1);
    rogue = await loadCa(r.certPem, r.keyPem);
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, f.certPem);
  });
  after(() => servers.forEach((s) => s.close()));

  const creds = (stateDir: string, enrollAddrs: string[], token?: string, logs: string[] = []) =>
    new NodeCredentials({ caCertFile: caFile, stateDir, enrollAddrs, enrollmentToken: token }, 'spec-node', (m) => logs.push(m), () => '127.0.0.1:1');

  it('enrolls once, keeps the key 0600 and reuses the certificate at the next start', async () => {
    const srv = await enrollServer(fleet, fleet);
    servers.push(srv);
    const state = join(dir, 'ok');
    const logs: string[] = [];
    const a = creds(state, [srv.addr], 'tfb_spec-token-0123456789', logs);
    await a.ensure();
    a.close();
    assert.equal(srv.calls.length, 1);
    assert.equal(srv.tokens[0], 'Bearer tfb_spec-token-0123456789');
    assert.equal(statSync(join(state, 'node.key')).mode & 0o777, 0o600);
    assert.equal(statSync(state).mode & 0o777, 0o700);
    assert.equal(nodeIdentity(readFileSync(join(state, 'node.crt'), 'utf8')).nodeName, 'spec-node');
    assert.ok(a.credentials());
    const b = creds(state, [srv.addr], undefined, logs);
    await b.ensure();
    b.close();
    assert.equal(srv.calls.length, 1, 'no second enrollment, and no token needed');
    assert.match(logs.join('\n'), /using certificate [0-9a-f]+ for node spec-node/);
  });

  it('does not use a key others can read, nor a certificate of another CA; without a token it stops, saying why', async () => {
    const srv = await enrollServer(fleet, fleet);
    servers.push(srv);
    const state = join(dir, 'loose');
    await creds(state, [srv.addr], 'tfb_spec-token-0123456789').ensure().then(() => undefined);
    chmodSync(join(state, 'node.key'), 0o644);
    const logs: string[] = [];
    await assert.rejects(creds(state, [srv.addr], undefined, logs).ensure(), (e: Error) => e instanceof IdentityError && /no TRACEFLEET_ENROLLMENT_TOKEN/.test(e.message));
    assert.match(logs.join('\n'), /mode 644; a private key must be 0600/);

    const other = join(dir, 'other-ca');
    const wrong = await enrollServer(fleet, rogue); // a server that issues from another CA
    servers.push(wrong);
    await assert.rejects(creds(other, [wrong.addr], 'tfb_spec-token-0123456789').ensure(), (e: Error) => e instanceof IdentityError && /does not chain to the fleet CA/.test(e.message));
  });

  it('refuses an enrollment server whose certificate does not chain to the fleet CA, before sending the token', async () => {
    const evil = await enrollServer(rogue, rogue);
    servers.push(evil);
    const logs: string[] = [];
    const c = creds(join(dir, 'rogue'), [evil.addr], 'tfb_spec-token-0123456789', logs);
    const attempt = c.ensure();
    await new Promise((r) => setTimeout(r, 1500));
    c.close();
    await assert.rejects(attempt, /abandoned/);
    assert.equal(evil.calls.length, 0, 'the rogue never got a request, so never the token');
    assert.match(logs.join('\n'), new RegExp(`refused the controller at ${evil.addr.replace(/\./g, '\\.')}: its certificate does not chain to the fleet CA`));
  });
});

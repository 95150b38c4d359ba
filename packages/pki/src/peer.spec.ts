import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type TLSSocket, type PeerCertificate } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCa, loadCa, issueServerCert, type FleetCa, type PemPair } from './ca';
import { nodeIdentity, peerNodeIdentity } from './names';
import { certSignedBy } from './test-certs';
import { x509 } from './x509';

/**
 * The controller names the node of a connection from Node's certificate object (peerNodeIdentity); the agent
 * and the specs parse DER (nodeIdentity). Here both read the same certificates, as a real TLS handshake hands
 * them over, and must agree: the same identity, or both refuse.
 */
let caPem: PemPair;
let ca: FleetCa;
let server: Server;
let port: number;
/** Each accepted connection's certificate object, in order. */
const seen: PeerCertificate[] = [];
const waiting: ((c: PeerCertificate) => void)[] = [];

before(async () => {
  caPem = await createCa('peer spec CA', 1);
  ca = await loadCa(caPem.certPem, caPem.keyPem);
  const srv = await issueServerCert(ca, ['127.0.0.1']);
  // rejectUnauthorized off: every certificate reaches the readers, even one TLS itself would refuse.
  server = createServer({ key: srv.keyPem, cert: srv.certPem, ca: caPem.certPem, requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
    const c = s.getPeerCertificate();
    const w = waiting.shift();
    if (w) w(c);
    else seen.push(c);
    s.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((r) => server.close(() => r())));

/** A certificate the fleet CA signs with whatever subject and usages a test wants. */
const issue = (name: x509.Name, usages: string[], serialNumber?: string) => certSignedBy(ca, name, usages, serialNumber);

/** The certificate object the server side got for a client presenting `cert`. */
async function handshake(cert: { certPem: string; keyPem: string }): Promise<PeerCertificate> {
  const got = new Promise<PeerCertificate>((r) => (seen.length ? r(seen.shift()!) : waiting.push(r)));
  const sock = connect({ host: '127.0.0.1', port, ca: caPem.certPem, key: cert.keyPem, cert: cert.certPem, checkServerIdentity: () => undefined });
  sock.on('error', () => {});
  sock.resume();
  const c = await got;
  sock.destroy();
  return c;
}

type Verdict = { ok: true; id: unknown } | { ok: false };
const verdict = (f: () => unknown): Verdict => {
  try {
    return { ok: true, id: f() };
  } catch {
    return { ok: false };
  }
};

const N = (rdns: Record<string, string[]>[]) => new x509.Name(rdns);
const CLIENT = [x509.ExtendedKeyUsage.clientAuth];

describe('peerNodeIdentity (from the TLS certificate object) against nodeIdentity (from DER)', () => {
  it('agree on a node certificate and on every hostile subject or usage', async () => {
    const cases: [string, x509.Name, string[], boolean][] = [
      ['a node certificate', N([{ CN: ['node-1.zone_a/x'] }, { O: ['tracefleet-nodes'] }]), CLIENT, true],
      ['clientAuth among other usages', N([{ CN: ['n2'] }, { O: ['tracefleet-nodes'] }]), [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], true],
      ['no O', N([{ CN: ['n3'] }]), CLIENT, false],
      ['another O', N([{ CN: ['n4'] }, { O: ['tracefleet'] }]), CLIENT, false],
      ['O twice', N([{ CN: ['n5'] }, { O: ['tracefleet-nodes'] }, { O: ['tracefleet-nodes'] }]), CLIENT, false],
      ['CN twice', N([{ CN: ['a'] }, { CN: ['b'] }, { O: ['tracefleet-nodes'] }]), CLIENT, false],
      ['no CN', N([{ O: ['tracefleet-nodes'] }]), CLIENT, false],
      ['a CN with a space', N([{ CN: ['n 6'] }, { O: ['tracefleet-nodes'] }]), CLIENT, false],
      ['a CN smuggling a second attribute', N([{ CN: ['n7\nO=tracefleet-nodes'] }, { O: ['x'] }]), CLIENT, false],
      ['a CN of 64 characters', N([{ CN: ['x'.repeat(64)] }, { O: ['tracefleet-nodes'] }]), CLIENT, false],
      ['a non-ASCII CN', N([{ CN: ['nödé'] }, { O: ['tracefleet-nodes'] }]), CLIENT, false],
      ['CN and O in one multi-valued RDN', N([{ CN: ['n8'], O: ['tracefleet-nodes'] }]), CLIENT, true],
      ['an OU beside them', N([{ CN: ['n9'] }, { O: ['tracefleet-nodes'] }, { OU: ['ops'] }]), CLIENT, true],
      ['serverAuth only', N([{ CN: ['n10'] }, { O: ['tracefleet-nodes'] }]), [x509.ExtendedKeyUsage.serverAuth], false],
      ['no extended key usage at all', N([{ CN: ['n11'] }, { O: ['tracefleet-nodes'] }]), [], false],
    ];
    for (const [what, name, usages, accepted] of cases) {
      const cert = await issue(name, usages);
      const obj = await handshake(cert);
      const fromTls = verdict(() => peerNodeIdentity(obj));
      const fromDer = verdict(() => nodeIdentity(obj.raw));
      assert.equal(fromTls.ok, accepted, `${what}: peerNodeIdentity ${fromTls.ok ? 'accepted' : 'refused'} it`);
      assert.deepEqual(fromTls, fromDer, `${what}: the two readings disagree`);
    }
  });

  it('reads the serial without leading zeros and the validity to the second, as nodeIdentity does', async () => {
    const cert = await issue(N([{ CN: ['serial-node'] }, { O: ['tracefleet-nodes'] }]), CLIENT, '00ff01');
    const obj = await handshake(cert);
    const id = peerNodeIdentity(obj);
    assert.deepEqual(id, nodeIdentity(cert.certPem));
    assert.equal(id.serial, 'ff01');
  });

  it('refuses a made-up or damaged certificate object', () => {
    const good = { subject: { CN: 'n', O: 'tracefleet-nodes' }, ext_key_usage: ['1.3.6.1.5.5.7.3.2'], serialNumber: '0A', valid_from: 'Dec  7 10:45:44 2026 GMT', valid_to: 'Dec  8 10:45:44 2026 GMT' };
    assert.equal(peerNodeIdentity(good).serial, 'a');
    const bad: [string, object, RegExp][] = [
      ['no subject', { ...good, subject: undefined }, /no subject/],
      ['a null subject', { ...good, subject: null }, /no subject/],
      ['O from the prototype only', { ...good, subject: Object.assign(Object.create({ O: 'tracefleet-nodes' }), { CN: 'n' }) }, /0 O values/],
      ['a non-text O', { ...good, subject: { CN: 'n', O: [42] } }, /not text/],
      ['two CNs', { ...good, subject: { CN: ['a', 'b'], O: 'tracefleet-nodes' } }, /2 CN values/],
      ['no usages', { ...good, ext_key_usage: undefined }, /clientAuth/],
      ['usages not a list', { ...good, ext_key_usage: '1.3.6.1.5.5.7.3.2' }, /clientAuth/],
      ['an unreadable date', { ...good, valid_to: 'someday' }, /validity/],
      ['no serial', { ...good, serialNumber: undefined }, /serial/],
      ['a serial that is not hex', { ...good, serialNumber: '0x-1' }, /serial/],
    ];
    for (const [what, obj, re] of bad) assert.throws(() => peerNodeIdentity(obj as never), re, what);
  });
});

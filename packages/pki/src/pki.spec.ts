import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, symlinkSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createCa, loadCa, issueServerCert, issueNodeCert, chainsTo, type FleetCa, type PemPair } from './ca';
import { checkCsr, createNodeCsr, MAX_CSR_BYTES } from './csr';
import { CertificateError, nodeIdentity } from './names';
import { checkPrivateFile, writePrivateFile } from './files';
import { certSignedBy } from './test-certs';
import { generateKeys, KEY_ALG, subtle, x509 } from './x509';

let caPem: PemPair;
let ca: FleetCa;

before(async () => {
  caPem = await createCa('spec CA', 1);
  ca = await loadCa(caPem.certPem, caPem.keyPem);
});

async function csrWith(opts: { name: x509.Name; keys?: CryptoKeyPair; alg?: Algorithm | EcdsaParams | RsaHashedKeyGenParams }): Promise<string> {
  const keys = opts.keys ?? (await generateKeys());
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: opts.name, keys, signingAlgorithm: (opts.alg ?? KEY_ALG) as Algorithm });
  return csr.toString('pem');
}

describe('fleet CA', () => {
  it('is a CA whose key matches; a key of another CA is refused', async () => {
    const node = new X509Certificate(caPem.certPem);
    assert.equal(node.ca, true);
    const other = await createCa('other', 1);
    await assert.rejects(loadCa(caPem.certPem, other.keyPem), /does not belong/);
  });

  it('refuses a non-CA certificate as the CA', async () => {
    const server = await issueServerCert(ca, ['127.0.0.1']);
    await assert.rejects(loadCa(server.certPem, server.keyPem), /not a CA/);
  });

  it('issues a server certificate with IP and DNS SANs for TLS servers only', async () => {
    const s = await issueServerCert(ca, ['127.0.0.1', 'localhost', 'ctl.example', 'localhost']);
    const c = new X509Certificate(s.certPem);
    assert.equal(c.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost, DNS:ctl.example');
    assert.ok(c.checkIssued(new X509Certificate(caPem.certPem)));
    assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.throws(() => nodeIdentity(s.certPem), /not a node certificate/, 'a server certificate never names a node');
  });
});

describe('node certificates from CSRs', () => {
  it('issues CN=node, O=tracefleet-nodes, clientAuth, short-lived, chained to the CA and not to another', async () => {
    const { csrPem, keyPem } = await createNodeCsr('node-a.zone_1/x');
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const pub = await checkCsr(csrPem, 'node-a.zone_1/x');
    const issued = await issueNodeCert(ca, 'node-a.zone_1/x', pub, 3_600_000);
    const c = new X509Certificate(issued.certPem);
    assert.equal(c.subject, 'CN=node-a.zone_1/x\nO=tracefleet-nodes');
    assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    const life = issued.notAfter.getTime() - Date.now();
    assert.ok(life > 3_500_000 && life <= 3_600_000, `lifetime ${life}`);
    assert.equal(await chainsTo(issued.certPem, caPem.certPem), true);
    const other = await createCa('other', 1);
    assert.equal(await chainsTo(issued.certPem, other.certPem), false);
    assert.equal(await chainsTo(issued.certPem, caPem.certPem, new Date(Date.now() + 7_200_000)), false, 'expired is not valid');
    assert.deepEqual(nodeIdentity(issued.certPem), { nodeName: 'node-a.zone_1/x', serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter });
    assert.equal(nodeIdentity(new Uint8Array(c.raw)).serial, issued.serial, 'DER as TLS hands it over');
  });

  it('never outlives the CA', async () => {
    const pub = await checkCsr((await createNodeCsr('n1')).csrPem, 'n1');
    const issued = await issueNodeCert(ca, 'n1', pub, 365 * 86_400_000);
    assert.ok(issued.notAfter.getTime() <= ca.cert.notAfter.getTime());
  });

  it('serials are random and distinct', async () => {
    const pub = await checkCsr((await createNodeCsr('n1')).csrPem, 'n1');
    const serials = new Set<string>();
    for (let i = 0; i < 20; i++) serials.add((await issueNodeCert(ca, 'n1', pub, 60_000)).serial);
    assert.equal(serials.size, 20);
    for (const s of serials) assert.match(s, /^[4-7][0-9a-f]{31}$/);
  });

  it('refuses hostile CSRs, naming why', async () => {
    const good = (await createNodeCsr('node-a')).csrPem;
    const cases: [string, string, RegExp][] = [
      ['', 'node-a', /no CSR/],
      ['garbage', 'node-a', /not one PEM/],
      [`-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from('random bytes, not DER').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`, 'node-a', /does not parse/],
      [good + good, 'node-a', /not one PEM/],
      [`-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(MAX_CSR_BYTES)}\n-----END CERTIFICATE REQUEST-----\n`, 'node-a', /larger than 4096/],
      [good.replace('CERTIFICATE REQUEST', 'CERTIFICATE'), 'node-a', /not one PEM/],
      [good, 'node-b', /names "node-a", not node-b/],
      [good, 'node a', /node name "node a" is not valid/],
      [good, 'x'.repeat(64), /is not valid/],
      [good, '-lead', /is not valid/],
      [good, 'na\u00efve', /is not valid/],
      [good, 'a\u0000b', /is not valid/],
    ];
    for (const [csr, name, why] of cases) await assert.rejects(checkCsr(csr, name), why, `${JSON.stringify(csr.slice(0, 40))} as ${JSON.stringify(name)}`);
  });

  it('refuses a CSR whose signature was tampered with (the node must hold the key)', async () => {
    const { csrPem } = await createNodeCsr('node-a');
    const der = Buffer.from(x509.PemConverter.decode(csrPem)[0]);
    der[der.length - 5] ^= 0x55;
    await assert.rejects(checkCsr(x509.PemConverter.encode(der, 'CERTIFICATE REQUEST'), 'node-a'), /signature does not verify|does not parse/);
  });

  it('refuses a CSR for another key type, or with several CNs, or none', async () => {
    const rsaAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
    const rsaKeys = (await subtle.generateKey(rsaAlg, true, ['sign', 'verify'])) as CryptoKeyPair;
    await assert.rejects(checkCsr(await csrWith({ name: new x509.Name([{ CN: ['node-a'] }]), keys: rsaKeys, alg: rsaAlg }), 'node-a'), /RSASSA-PKCS1-v1_5; the fleet takes ECDSA P-256/);
    const p384 = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    const p384Keys = (await subtle.generateKey(p384, true, ['sign', 'verify'])) as CryptoKeyPair;
    await assert.rejects(checkCsr(await csrWith({ name: new x509.Name([{ CN: ['node-a'] }]), keys: p384Keys, alg: p384 }), 'node-a'), /ECDSA P-384/);
    await assert.rejects(checkCsr(await csrWith({ name: new x509.Name([{ CN: ['node-a'] }, { CN: ['node-b'] }]) }), 'node-a'), /2 CN values/);
    await assert.rejects(checkCsr(await csrWith({ name: new x509.Name([{ O: ['x'] }]) }), 'node-a'), /0 CN values/);
  });

  it('refuses to issue for an invalid node name even when asked directly', async () => {
    const pub = await checkCsr((await createNodeCsr('ok')).csrPem, 'ok');
    for (const bad of ['', 'a,b', 'CN=x', 'x'.repeat(200), 'é']) await assert.rejects(issueNodeCert(ca, bad, pub, 60_000), CertificateError);
  });
});

describe('node names from peer certificates', () => {
  const certWith = async (name: x509.Name, usages?: string[]): Promise<string> => (await certSignedBy(ca, name, usages)).certPem;

  it('takes the CN of a node certificate only', async () => {
    assert.equal(nodeIdentity(await certWith(new x509.Name([{ CN: ['n-1'] }, { O: ['tracefleet-nodes'] }]))).nodeName, 'n-1');
    assert.equal(nodeIdentity(await certWith(new x509.Name([{ CN: ['n-1'] }, { O: ['tracefleet-nodes'] }]))).serial, 'a', 'serial without leading zeros');
    await assert.rejects(async () => nodeIdentity(await certWith(new x509.Name([{ CN: ['n-1'] }]))), /0 O values/);
    await assert.rejects(async () => nodeIdentity(await certWith(new x509.Name([{ CN: ['n 1'] }, { O: ['tracefleet-nodes'] }]))), /not a valid node name/);
    await assert.rejects(async () => nodeIdentity(await certWith(new x509.Name([{ CN: ['a'] }, { CN: ['b'] }, { O: ['tracefleet-nodes'] }]))), /2 CN values/);
    await assert.rejects(async () => nodeIdentity(await certWith(new x509.Name([{ CN: ['n-1'] }, { O: ['tracefleet-nodes'] }]), [x509.ExtendedKeyUsage.serverAuth])), /clientAuth/);
    await assert.rejects(async () => nodeIdentity(await certWith(new x509.Name([{ CN: ['n-1'] }, { O: ['tracefleet-nodes'] }]), [])), /clientAuth/);
    assert.throws(() => nodeIdentity(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), /not an X.509 certificate/);
    assert.throws(() => nodeIdentity(new Uint8Array(0)), /not an X.509 certificate/);
  });
});

describe('private files', () => {
  it('writes keys 0600 in a 0700 directory, and refuses loose or foreign ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pki-spec-'));
    const p = join(dir, 'state', 'node.key');
    writePrivateFile(p, 'secret');
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
    assert.equal(readFileSync(p, 'utf8'), 'secret');
    writePrivateFile(p, 'again');
    assert.equal(readFileSync(p, 'utf8'), 'again', 'replaced atomically');
    checkPrivateFile(p);
    chmodSync(p, 0o640);
    assert.throws(() => checkPrivateFile(p), /mode 640; a private key must be 0600/);
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'x', { mode: 0o600 });
    symlinkSync(target, join(dir, 'link.key'));
    assert.throws(() => checkPrivateFile(join(dir, 'link.key')), /not a regular file/);
  });
});

import { isIP } from 'node:net';
import { generateKeys, importPrivateKey, KEY_ALG, privateKeyPem, randomSerial, subtle, x509 } from './x509';
import { CertificateError, NODE_NAME_RE, NODE_ORG } from './names';

/** Issued certificates start a little in the past: clocks of a fleet are never exactly together. */
export const BACKDATE_MS = 5 * 60_000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** The fleet CA as the controller holds it: its certificate and its signing key. */
export interface FleetCa {
  cert: x509.X509Certificate;
  certPem: string;
  key: CryptoKey;
}

/** A new self-signed fleet CA (ECDSA P-256), valid `days`. */
export async function createCa(commonName = 'Tracefleet fleet CA', days = 3650): Promise<PemPair> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: new x509.Name([{ CN: [commonName] }, { O: ['tracefleet'] }]),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * 86_400_000),
    signingAlgorithm: KEY_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Reads a CA from PEM; refuses a certificate that is not a CA or a key that does not match it. */
export async function loadCa(certPem: string, keyPem: string): Promise<FleetCa> {
  const cert = new x509.X509Certificate(certPem);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CertificateError('the CA certificate is not a CA (basicConstraints CA:TRUE missing)');
  const key = await importPrivateKey(keyPem);
  // Sign and verify a probe: a key of another CA would issue certificates nobody trusts.
  const probe = new TextEncoder().encode('tracefleet-ca-probe');
  const sig = await subtle.sign(KEY_ALG, key, probe);
  const pub = await cert.publicKey.export(KEY_ALG, ['verify']);
  if (!(await subtle.verify(KEY_ALG, pub, sig, probe))) throw new CertificateError('the CA key does not belong to the CA certificate');
  return { cert, certPem: cert.toString('pem'), key };
}

async function issue(
  ca: FleetCa,
  subject: x509.Name,
  publicKey: x509.PublicKey | CryptoKey,
  lifetimeMs: number,
  extensions: x509.Extension[],
): Promise<{ cert: x509.X509Certificate; serial: string }> {
  const serial = randomSerial();
  const now = Date.now();
  const notAfter = new Date(Math.min(now + lifetimeMs, ca.cert.notAfter.getTime()));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter,
    signingAlgorithm: KEY_ALG,
    publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
      ...extensions,
    ],
  });
  return { cert, serial };
}

/** The controller's server certificate and a fresh key: SANs are DNS names and IP addresses. */
export async function issueServerCert(ca: FleetCa, names: string[], days = 365): Promise<PemPair> {
  const keys = await generateKeys();
  const uniq = [...new Set(names.filter(Boolean))];
  if (uniq.length === 0) throw new CertificateError('a server certificate needs at least one name');
  const san = new x509.SubjectAlternativeNameExtension(uniq.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })));
  const { cert } = await issue(ca, new x509.Name([{ CN: [uniq[0]] }, { O: ['tracefleet-controllers'] }]), keys.publicKey, days * 86_400_000, [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    san,
  ]);
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

export interface IssuedNodeCert {
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A node's client certificate for a public key the node proved it holds (a checked CSR): subject
 * CN=<node name>, O=tracefleet-nodes, clientAuth only. The name comes from the caller (the bootstrap
 * token's check or the renewing peer's certificate), never from the CSR alone.
 */
export async function issueNodeCert(ca: FleetCa, nodeName: string, publicKey: x509.PublicKey, lifetimeMs: number): Promise<IssuedNodeCert> {
  if (!NODE_NAME_RE.test(nodeName)) throw new CertificateError(`node name ${JSON.stringify(nodeName.slice(0, 80))} is not valid`);
  const { cert, serial } = await issue(ca, new x509.Name([{ CN: [nodeName] }, { O: [NODE_ORG] }]), publicKey, lifetimeMs, [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
  ]);
  return { certPem: cert.toString('pem'), serial, notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/** Whether `certPem` was signed by `caPem`'s key and is valid at `at` (the agent checks what it keeps on disk). */
export async function chainsTo(certPem: string, caPem: string, at = new Date()): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  const ca = new x509.X509Certificate(caPem);
  return cert.verify({ publicKey: ca.publicKey, date: at });
}

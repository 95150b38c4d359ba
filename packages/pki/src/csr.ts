import { generateKeys, KEY_ALG, privateKeyPem, x509 } from './x509';
import { CertificateError, NODE_NAME_RE, singleField } from './names';

/** A CSR of a P-256 key with one short CN is ~400 bytes of PEM; anything far past that is not ours. */
export const MAX_CSR_BYTES = 4096;

/** A new node key and a CSR for it (CN = node name), signed by that key: proof that the node holds it. */
export async function createNodeCsr(nodeName: string): Promise<{ keyPem: string; csrPem: string }> {
  if (!NODE_NAME_RE.test(nodeName)) throw new CertificateError(`node name ${JSON.stringify(nodeName.slice(0, 80))} is not valid`);
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: new x509.Name([{ CN: [nodeName] }]),
    keys,
    signingAlgorithm: KEY_ALG,
  });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}

/**
 * Checks a node's CSR before anything is issued for it: bounded size, parses, its signature verifies
 * with its own key (the node holds the private key), the key is ECDSA P-256, and its CN is exactly the
 * node name asked for. Returns the public key to certify.
 */
export async function checkCsr(csrPem: string, nodeName: string): Promise<x509.PublicKey> {
  if (typeof csrPem !== 'string' || csrPem.length === 0) throw new CertificateError('no CSR');
  if (Buffer.byteLength(csrPem) > MAX_CSR_BYTES) throw new CertificateError(`the CSR is larger than ${MAX_CSR_BYTES} bytes`);
  if (!NODE_NAME_RE.test(nodeName)) throw new CertificateError(`node name ${JSON.stringify(nodeName.slice(0, 80))} is not valid`);
  if (!/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/.test(csrPem)) {
    throw new CertificateError('the CSR is not one PEM CERTIFICATE REQUEST block');
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CertificateError(`the CSR does not parse (${(err as Error).message.slice(0, 200)})`);
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new CertificateError(`the CSR's key is ${alg.name ?? 'unknown'}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}; the fleet takes ECDSA P-256 keys`);
  }
  let signed = false;
  try {
    signed = await csr.verify();
  } catch {
    signed = false;
  }
  if (!signed) throw new CertificateError('the CSR signature does not verify with its own key');
  const cn = singleField(new x509.Name(csr.subjectName.toJSON()), 'CN');
  if (cn !== nodeName) throw new CertificateError(`the CSR names ${JSON.stringify(cn.slice(0, 80))}, not ${nodeName}`);
  return csr.publicKey;
}

import type { FleetCa } from './ca';
import { generateKeys, KEY_ALG, privateKeyPem, x509 } from './x509';

/**
 * A certificate `ca` signs with any subject and extended key usages (an empty list: no extension at all),
 * valid from a minute ago for an hour: for specs that need certificates the fleet's own issuing refuses to
 * make. Not exported from the package.
 */
export async function certSignedBy(
  ca: FleetCa,
  subject: x509.Name,
  usages: string[] = [x509.ExtendedKeyUsage.clientAuth],
  serialNumber = '0a',
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeys();
  const c = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject,
    issuer: ca.cert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    signingAlgorithm: KEY_ALG,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: usages.length ? [new x509.ExtendedKeyUsageExtension(usages)] : [],
  });
  return { certPem: c.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

import { normalizeSerial, x509 } from './x509';

/** A node name, as the agent registers it and a certificate carries it in its CN: DNS-label-like plus . _ / */
export const NODE_NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;

/** Organization of every node certificate (kubelet's `system:nodes` habit): tells node certificates from others. */
export const NODE_ORG = 'tracefleet-nodes';

export class CertificateError extends Error {}

export interface NodeIdentity {
  nodeName: string;
  /** Lower-case hex, no leading zeros. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** The single value of a subject attribute; refuses zero or several (an ambiguous name is no name). */
export function singleField(name: x509.Name, field: string): string {
  const values = name.getField(field);
  if (values.length !== 1) throw new CertificateError(`the subject has ${values.length} ${field} values (want exactly one)`);
  return values[0];
}

/**
 * The node a client certificate speaks for. Only what the controller itself puts in node certificates
 * counts: O=tracefleet-nodes, a CN that is a valid node name, and the clientAuth usage. The chain to
 * the fleet CA is TLS's job (the server asks for and verifies client certificates); whether the serial
 * was issued and not revoked is the controller's (its database).
 */
export function nodeIdentity(der: Uint8Array | ArrayBuffer | string): NodeIdentity {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der as ArrayBuffer);
  } catch (err) {
    throw new CertificateError(`not an X.509 certificate (${(err as Error).message})`);
  }
  const subject = new x509.Name(cert.subjectName.toJSON());
  const org = singleField(subject, 'O');
  if (org !== NODE_ORG) throw new CertificateError(`not a node certificate (O=${JSON.stringify(org.slice(0, 80))}, want ${NODE_ORG})`);
  const nodeName = singleField(subject, 'CN');
  if (!NODE_NAME_RE.test(nodeName)) throw new CertificateError(`certificate CN ${JSON.stringify(nodeName.slice(0, 80))} is not a valid node name`);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.map(String).includes(CLIENT_AUTH)) throw new CertificateError('the certificate is not for client authentication (no clientAuth usage)');
  return { nodeName, serial: normalizeSerial(cert.serialNumber), notBefore: cert.notBefore, notAfter: cert.notAfter };
}

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

/** The single text value of a subject attribute; refuses zero, several (an ambiguous name is no name), or a non-string. */
function single(values: readonly unknown[], field: string): string {
  if (values.length !== 1) throw new CertificateError(`the subject has ${values.length} ${field} values (want exactly one)`);
  if (typeof values[0] !== 'string') throw new CertificateError(`the subject's ${field} is not text`);
  return values[0];
}

/** The single value of a subject attribute; refuses zero or several (an ambiguous name is no name). */
export function singleField(name: x509.Name, field: string): string {
  return single(name.getField(field), field);
}

/**
 * The node a certificate speaks for, by the rules of every node certificate: exactly one O, tracefleet-nodes;
 * exactly one CN, a valid node name; the clientAuth usage. `valuesOf` gives the subject's values of an
 * attribute; `usages` the extended key usages (OIDs), none without the extension. Both readings of a
 * certificate (nodeIdentity, peerNodeIdentity) go through here.
 */
function nodeNameOf(valuesOf: (field: string) => readonly unknown[], usages: readonly string[] | undefined): string {
  const org = single(valuesOf('O'), 'O');
  if (org !== NODE_ORG) throw new CertificateError(`not a node certificate (O=${JSON.stringify(org.slice(0, 80))}, want ${NODE_ORG})`);
  const nodeName = single(valuesOf('CN'), 'CN');
  if (!NODE_NAME_RE.test(nodeName)) throw new CertificateError(`certificate CN ${JSON.stringify(nodeName.slice(0, 80))} is not a valid node name`);
  if (!usages?.includes(CLIENT_AUTH)) throw new CertificateError('the certificate is not for client authentication (no clientAuth usage)');
  return nodeName;
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
  const nodeName = nodeNameOf((field) => subject.getField(field), cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String));
  return { nodeName, serial: normalizeSerial(cert.serialNumber), notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/**
 * The parts of Node's certificate object (tls.TLSSocket#getPeerCertificate, `PeerCertificate`) that name
 * a node; attribute values are strings, or arrays of them when the subject repeats the attribute.
 */
export interface PeerCertificateFields {
  subject?: object | null;
  ext_key_usage?: string[];
  serialNumber?: string;
  valid_from?: string;
  valid_to?: string;
}

/** An attribute's values in Node's subject object (own properties only): a string, or an array when repeated. */
function peerValues(subject: object, field: string): readonly unknown[] {
  const v: unknown = Object.prototype.hasOwnProperty.call(subject, field) ? (subject as Record<string, unknown>)[field] : undefined;
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * `nodeIdentity` with the same rules, read from the certificate object Node's TLS already made of the
 * client certificate (grpc-js's getAuthContext returns it) instead of parsing the DER again: the
 * controller does this for every agent that connects, and after a replica restart the whole fleet
 * connects at once. @peculiar/x509's parse took 0.74 ms a certificate, the time of a TLS handshake's
 * share on this 2-CPU machine. peer.spec.ts checks both readings agree on certificates from a real
 * handshake, hostile ones included.
 */
export function peerNodeIdentity(cert: PeerCertificateFields): NodeIdentity {
  const subject = cert.subject;
  if (!subject || typeof subject !== 'object') throw new CertificateError('the certificate has no subject');
  const nodeName = nodeNameOf((field) => peerValues(subject, field), Array.isArray(cert.ext_key_usage) ? cert.ext_key_usage : undefined);
  const notBefore = new Date(cert.valid_from ?? NaN);
  const notAfter = new Date(cert.valid_to ?? NaN);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) throw new CertificateError('the certificate validity is not readable');
  let serial: string;
  try {
    serial = normalizeSerial(cert.serialNumber ?? '');
  } catch (err) {
    throw new CertificateError((err as Error).message);
  }
  return { nodeName, serial, notBefore, notAfter };
}

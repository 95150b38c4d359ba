import { status } from '@grpc/grpc-js';
import { CertificateError, peerNodeIdentity, type NodeIdentity, type PeerCertificateFields } from '@tracefleet/pki';
import { EnrollError } from './bootstrap-token';

/** What grpc-js 1.14 tells about a server call's transport (ServerSurfaceCall.getAuthContext). */
interface WithAuthContext {
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificateFields & { raw?: Buffer } } | null;
}

/**
 * The node a call's client certificate names. The TLS handshake already required a certificate
 * chained to the fleet CA (grpc-js gives the certificate only for an authorized socket); this reads
 * the node name and serial from it: from the certificate object Node's TLS made of it (peerNodeIdentity,
 * the same rules as parsing the DER, without the second parse). Whether the serial is issued and
 * unrevoked is the caller's check.
 */
export function peerIdentity(call: WithAuthContext): NodeIdentity {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert?.raw) throw new EnrollError(status.UNAUTHENTICATED, 'no verified client certificate on this connection');
  try {
    return peerNodeIdentity(cert);
  } catch (err) {
    if (err instanceof CertificateError) throw new EnrollError(status.UNAUTHENTICATED, `client certificate refused: ${err.message}`);
    throw err;
  }
}

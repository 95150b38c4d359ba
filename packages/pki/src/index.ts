export { randomSerial, normalizeSerial } from './x509';
export { NODE_NAME_RE, NODE_ORG, CertificateError, nodeIdentity, peerNodeIdentity, type NodeIdentity, type PeerCertificateFields } from './names';
export { BACKDATE_MS, createCa, loadCa, issueServerCert, issueNodeCert, chainsTo, type FleetCa, type PemPair, type IssuedNodeCert } from './ca';
export { createNodeCsr, checkCsr, MAX_CSR_BYTES } from './csr';
export { ensurePrivateDir, writePrivateFile, checkPrivateFile } from './files';

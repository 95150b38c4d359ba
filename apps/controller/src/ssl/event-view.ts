/** The TLS library a traced function belongs to (the stored function name says it). */
export type TlsLibrary = 'openssl' | 'gnutls' | 'go' | 'nss' | 'unknown';

export function tlsLibraryOf(fn: string): TlsLibrary {
  if (fn.startsWith('SSL_')) return 'openssl';
  if (fn.startsWith('gnutls_')) return 'gnutls';
  if (fn.startsWith('crypto/tls.')) return 'go';
  if (fn.startsWith('PR_')) return 'nss';
  return 'unknown';
}

/** One stored event as the API shows it. */
export interface SslEventView {
  id: string;
  node: string;
  pid: number;
  tid: number;
  comm: string;
  function: string;
  /** Which TLS library the call went through. */
  library: TlsLibrary;
  direction: string;
  ret: number;
  length: number;
  latencyNs: string;
  sslPtr: string;
  tsNs: string;
  at: string;
  truncated: boolean;
  redactions: number;
  binary: string;
  /** Headers-only jobs, only when above 0: bytes and calls of this connection and direction skipped in the kernel since its previous kept event; they came before data. */
  skippedBytes?: number;
  skippedCalls?: number;
  /** The stored plaintext, exact. */
  dataBase64: string;
  /** The first PREVIEW_BYTES of it as text: UTF-8, with control and undecodable bytes shown as ".". */
  text: string;
  /** Root first, when the job captured user stacks. */
  stack: string[] | null;
  /** Where the process ran: its cgroup, container id and Kubernetes pod uid; null where not known. */
  cgroup: string | null;
  container: string | null;
  podUid: string | null;
}

export interface SslEventRow {
  id: bigint;
  nodeName: string;
  pid: number;
  tid: number;
  comm: string;
  function: string;
  direction: string;
  ret: bigint;
  length: bigint;
  latencyNs: bigint;
  sslPtr: string;
  tsNs: bigint;
  at: Date;
  data: Uint8Array;
  truncated: boolean;
  redactions: number;
  binary: string;
  skippedBytes: bigint;
  skippedCalls: number;
  frameIds: number[] | null;
  cgroup: string | null;
  container: string | null;
  podUid: string | null;
}

export const PREVIEW_BYTES = 1024;

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Printable text of plaintext bytes: keeps UTF-8 text, tabs and line breaks; everything else becomes ".". */
export function printable(data: Uint8Array, max = PREVIEW_BYTES): string {
  const text = decoder.decode(data.subarray(0, max));
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffd]/g, '.');
}

export function toEventView(r: SslEventRow, frameName: (id: number) => string): SslEventView {
  const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  return {
    id: r.id.toString(),
    node: r.nodeName,
    pid: r.pid,
    tid: r.tid,
    comm: r.comm,
    function: r.function,
    library: tlsLibraryOf(r.function),
    direction: r.direction,
    ret: Number(r.ret),
    length: Number(r.length),
    latencyNs: r.latencyNs.toString(),
    sslPtr: r.sslPtr,
    tsNs: r.tsNs.toString(),
    at: r.at.toISOString(),
    truncated: r.truncated,
    redactions: r.redactions,
    binary: r.binary,
    ...(r.skippedBytes > 0n ? { skippedBytes: Number(r.skippedBytes) } : {}),
    ...(r.skippedCalls > 0 ? { skippedCalls: r.skippedCalls } : {}),
    dataBase64: data.toString('base64'),
    text: printable(data),
    stack: r.frameIds ? r.frameIds.map(frameName) : null,
    cgroup: r.cgroup ?? null,
    container: r.container ?? null,
    podUid: r.podUid ?? null,
  };
}

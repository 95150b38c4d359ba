// What the kernel is told to keep of each connection (ssl.bpf.c's prefixes and starts): the content filter and
// headers-only mode of an ssl-capture spec, checked as input from the controller.

/** The kernel compares at most this many byte strings, each of at most PREFIX_BYTES (ssl.h). */
export const MAX_PREFIXES = 16;
export const PREFIX_BYTES = 16;
export const MAX_PORTS = 16;

/** Starts of HTTP/1 messages: request methods (RFC 9110 and PATCH) and the status line. */
export const HTTP1_STARTS = ['GET ', 'POST ', 'PUT ', 'DELETE ', 'HEAD ', 'OPTIONS ', 'PATCH ', 'CONNECT ', 'TRACE ', 'HTTP/1.'];
/** filterHttp: HTTP/1 and the HTTP/2 connection preface. */
export const HTTP_PREFIXES = [...HTTP1_STARTS, 'PRI * HTTP/2.0'];

export interface ContentFilterSpec {
  filterPrefixes: Uint8Array[];
  filterHttp?: boolean | undefined;
  headersOnly?: boolean | undefined;
  filterPorts?: number[];
}

export interface KernelFilter {
  /** The content filter's byte strings; empty: every connection. */
  prefixes: Buffer[];
  /** Headers only: the starts of messages; empty: every call. */
  messageStarts: Buffer[];
  /** The port filter; empty: every port. */
  ports: number[];
  describe: string;
}

/** The tracer's prefixes and messageStarts, or a reason the spec is refused. */
export function kernelFilter(spec: ContentFilterSpec): KernelFilter | string {
  const given = spec.filterPrefixes ?? [];
  const prefixes: Buffer[] = [];
  for (const [i, p] of given.entries()) {
    if (p.length < 1 || p.length > PREFIX_BYTES) return `filterPrefixes[${i}] is ${p.length} bytes; each must be 1 to ${PREFIX_BYTES}`;
    if (p.includes(0)) return `filterPrefixes[${i}] holds a NUL byte`;
    prefixes.push(Buffer.from(p));
  }
  if (spec.filterHttp) prefixes.push(...HTTP_PREFIXES.map((s) => Buffer.from(s, 'latin1')));
  if (prefixes.length > MAX_PREFIXES) {
    return `the content filter has ${prefixes.length} byte strings (${given.length} given${spec.filterHttp ? ` + ${HTTP_PREFIXES.length} for filterHttp` : ''}); the kernel compares at most ${MAX_PREFIXES}`;
  }
  const ports = spec.filterPorts ?? [];
  if (ports.length > MAX_PORTS) return `filterPorts has ${ports.length} ports; the kernel compares at most ${MAX_PORTS}`;
  for (const [i, p] of ports.entries()) if (!Number.isInteger(p) || p < 1 || p > 65535) return `filterPorts[${i}] is ${p}; a port is 1 to 65535`;
  const messageStarts = spec.headersOnly ? HTTP1_STARTS.map((s) => Buffer.from(s, 'latin1')) : [];
  const parts: string[] = [];
  if (ports.length > 0) parts.push(`connections on port ${ports.join(' or ')}`);
  if (spec.filterHttp) parts.push('HTTP connections only');
  if (given.length > 0) parts.push(`connections starting with ${given.map((p) => JSON.stringify(Buffer.from(p).toString('latin1'))).join(' or ')}`);
  if (spec.headersOnly) parts.push('HTTP/1 message heads only');
  return { prefixes, messageStarts, ports: [...ports], describe: parts.join(', ') };
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Headers only: a kept call's bytes up to the end of its head (the blank line), and whether that cut anything. */
export function headOf(data: Buffer): { data: Buffer; cut: boolean } {
  const end = data.indexOf(CRLFCRLF);
  if (end < 0 || end + 4 === data.length) return { data, cut: false };
  return { data: data.subarray(0, end + 4), cut: true };
}

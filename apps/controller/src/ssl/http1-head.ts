/**
 * HTTP/1 start lines and header fields: recognizing where a message starts (to pick protocol and
 * role, and to re-synchronize after lost bytes) and parsing a complete head.
 */

export const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
export const CRLF = Buffer.from('\r\n', 'latin1');

const REQUEST_LINE = /^([A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}) (\S+) HTTP\/(1\.[01])$/;
const STATUS_LINE = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/;
const METHOD_PREFIX = /^[A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}$/;

export type MessageKind = 'request' | 'response';

/** Does the text at the start of `b` look like the start line of a message of this kind (as far as it goes)? */
export function looksLikeStart(b: Uint8Array, kind: MessageKind): boolean {
  if (b.length === 0) return false;
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 8192));
  const eol = head.indexOf(CRLF);
  const line = head.toString('latin1', 0, eol < 0 ? head.length : eol);
  if (eol >= 0) return (kind === 'request' ? REQUEST_LINE : STATUS_LINE).test(line);
  if (kind === 'response') return 'HTTP/1.'.startsWith(line.slice(0, 7)) && (line.length <= 7 || /^HTTP\/1\.[01]/.test(line));
  const sp = line.indexOf(' ');
  if (sp < 0) return METHOD_PREFIX.test(line);
  if (!METHOD_PREFIX.test(line.slice(0, sp))) return false;
  // "PRI * HTTP/2.0" is the HTTP/2 preface, not an HTTP/1 request.
  return !line.startsWith('PRI * HTTP/2');
}

export interface ParsedHead {
  kind: MessageKind;
  version: string;
  method?: string;
  path?: string;
  status?: number;
  reason?: string;
  headers: Record<string, string>;
}

/** Start line and header fields of a message head (without the final CRLFCRLF); undefined if not HTTP/1. */
export function parseHead(text: string, kind: MessageKind): ParsedHead | undefined {
  const lines = text.split('\r\n');
  const start = lines[0];
  const headers: Record<string, string> = {};
  let last: string | undefined;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && last !== undefined) {
      headers[last] += ` ${line.trim()}`; // obsolete line folding
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    last = name;
  }
  if (kind === 'request') {
    const m = REQUEST_LINE.exec(start);
    return m ? { kind, method: m[1], path: m[2], version: m[3], headers } : undefined;
  }
  const m = STATUS_LINE.exec(start);
  return m ? { kind, version: m[1], status: Number(m[2]), reason: m[3] ?? '', headers } : undefined;
}

/**
 * HTTP/2 as far as the parser goes without HPACK: the client preface and the 9-byte frame headers
 * of each direction; payloads are counted and skipped.
 */

import type { H2Frame } from './http-types';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const H2_FRAME_TYPES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];

export function isH2Preface(b: Uint8Array): boolean {
  const n = Math.min(b.length, H2_PREFACE.length);
  // At least the request-line part ("PRI * HTTP/2.0\r\n"), and all of the preface that was captured.
  return n >= 16 && Buffer.from(b.buffer, b.byteOffset, n).equals(H2_PREFACE.subarray(0, n));
}

export function h2FrameTypeName(t: number): string {
  return H2_FRAME_TYPES[t] ?? `0x${t.toString(16).padStart(2, '0')}`;
}

/** One direction of an HTTP/2 connection: frame headers (9 bytes each), payloads skipped. */
export class H2Stream {
  private phase: 'preface' | 'header' | 'payload' | 'lost';
  private remaining: number;
  private header = Buffer.alloc(0);

  constructor(
    private readonly direction: 'read' | 'write',
    withPreface: boolean,
    private readonly onFrame: (f: H2Frame) => void,
    private readonly note: (n: string) => void,
    private readonly unparsed: (n: number) => void,
  ) {
    this.phase = withPreface ? 'preface' : 'header';
    this.remaining = withPreface ? H2_PREFACE.length : 0;
  }

  /** `skip` uncaptured bytes came before data (headers-only capture), `hole` uncaptured bytes after it (a truncated call). */
  push(data: Buffer, hole: number, ts: bigint, skip = 0): void {
    if (skip > 0) this.gap(skip);
    let off = 0;
    while (off < data.length && this.phase !== 'lost') {
      if (this.phase === 'preface' || this.phase === 'payload') {
        const take = Math.min(this.remaining, data.length - off);
        this.remaining -= take;
        off += take;
        if (this.remaining === 0) this.phase = 'header';
      } else {
        const take = Math.min(9 - this.header.length, data.length - off);
        this.header = Buffer.concat([this.header, data.subarray(off, off + take)]);
        off += take;
        if (this.header.length === 9) {
          const h = this.header;
          const length = h.readUIntBE(0, 3);
          this.onFrame({ direction: this.direction, type: h2FrameTypeName(h[3]), flags: h[4], streamId: h.readUInt32BE(5) & 0x7fffffff, length, tsNs: ts.toString() });
          this.header = Buffer.alloc(0);
          this.remaining = length;
          this.phase = length > 0 ? 'payload' : 'header';
        }
      }
    }
    if (this.phase === 'lost') {
      this.unparsed(data.length - off + hole);
      return;
    }
    if (hole > 0) this.gap(hole);
  }

  /** n uncaptured bytes: skipped inside a payload, else the framing is lost. */
  private gap(n: number): void {
    if (this.phase === 'lost') {
      this.unparsed(n);
    } else if ((this.phase === 'payload' || this.phase === 'preface') && n <= this.remaining) {
      this.remaining -= n;
      if (this.remaining === 0) this.phase = 'header';
    } else {
      this.note(`${this.direction}: uncaptured bytes broke HTTP/2 framing; later frames in this direction are not reported`);
      this.unparsed(n);
      this.phase = 'lost';
    }
  }
}

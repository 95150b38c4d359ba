import { BinaryReader } from '@bufbuild/protobuf/wire';

/**
 * A BinaryReader whose string fields are read with Node's own UTF-8 decoder (Buffer#toString), for
 * messages decoded on a hot path (the controller decodes every result batch an agent sends).
 *
 * Why not the library's: for a string of up to 32 bytes it builds an array of the char codes and calls
 * String.fromCharCode over it, and for a longer one it makes a view and calls TextDecoder. A profile
 * batch is mostly frame names, so under a flood that array per string was the largest part of what a
 * replica allocated after stack interning (a sampling heap profile of the flood of 2,000 agents:
 * 17 % of all bytes), and its garbage collection a large part of the replica's CPU.
 *
 * Same result: invalid UTF-8 becomes U+FFFD as TextDecoder makes it (WHATWG), and a leading U+FEFF is
 * kept as text (the library's decoder is made with ignoreBOM); buffer-reader.spec.ts checks both
 * decoders against each other on hostile byte sequences. `string(true)` (strict: throw on invalid
 * UTF-8) is left to the library.
 */
export class BufferReader extends BinaryReader {
  private readonly source: Buffer;

  constructor(buf: Uint8Array) {
    super(buf);
    this.source = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  override string(strict?: boolean): string {
    if (strict) return super.string(strict);
    const len = this.uint32();
    const start = this.pos;
    this.pos += len;
    // The library's own bounds check (assertBounds is private): a length past the end is a truncated message.
    if (this.pos > this.len) throw new RangeError('premature EOF');
    return this.source.toString('utf8', start, this.pos);
  }
}

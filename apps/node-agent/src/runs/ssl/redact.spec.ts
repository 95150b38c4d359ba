import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileRules,
  H2_PREFACE,
  newHeaderCarry,
  REDACTED,
  RedactionRuleError,
  Redactor,
  redactHeaderLines,
  validFrameHeader,
  type Direction,
} from './redact';
import { applyPatterns } from '@tracefleet/redact';

const BUILTIN = compileRules().headers;

function lines(s: string, carry = newHeaderCarry(), headers = BUILTIN) {
  return redactHeaderLines(s, headers, carry);
}

/** An h2 frame: 9-byte header, then the payload. */
function frame(type: number, flags: number, stream: number, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, p]);
}
const SETTINGS = frame(4, 0, 0, Buffer.alloc(12, 1));
const SETTINGS_ACK = frame(4, 1, 0, Buffer.alloc(0));
const WINDOW = frame(8, 0, 0, Buffer.from([0, 1, 0, 0]));
/** An HPACK block with a literal the test can look for. */
const HPACK = Buffer.concat([Buffer.from([0x82, 0x87, 0x41]), Buffer.from('\x0aauthorization Bearer SECRET-TOKEN', 'latin1')]);
const HEADERS = frame(1, 0x4, 1, HPACK);
const DATA = frame(0, 0x1, 1, 'hello body');

function zeroed(buf: Buffer, from: number, to: number): boolean {
  return buf.subarray(from, to).every((b) => b === 0);
}

describe('compileRules', () => {
  it('adds the job headers (any case) to the built-in ones', () => {
    const r = compileRules(['X-Api-Key', ' x-token '], []);
    for (const h of ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-token']) assert.ok(r.headers.has(h), h);
  });

  it('compiles patterns with RE2 and names the bad entry, its text and the reason', () => {
    const r = compileRules([], ['secret=\\w+']);
    assert.equal(r.patterns[0].pattern(), 'secret=\\w+');
    assert.throws(
      () => compileRules([], ['ok', '(unclosed']),
      (e: Error) => e instanceof RedactionRuleError && e.message === 'redactPatterns[1] "(unclosed": missing closing ): `(unclosed` (RE2 syntax)',
    );
    assert.throws(() => compileRules([], ['ok', '(a)\\1']), /redactPatterns\[1\] "\(a\)\\1": backreferences are not supported \(RE2 syntax\)$/);
    assert.throws(() => compileRules(['good', 'bad header'], []), /redactHeaders\[1\]: "bad header" is not an HTTP header name/);
    assert.throws(() => compileRules([], ['']), /redactPatterns\[0\] "": empty pattern/);
    assert.throws(() => compileRules([], ['x'.repeat(1025)]), /redactPatterns\[0\]: longer than 1024 characters/);
    // 5 patterns of ~400 instructions each: each is allowed, together they are not.
    assert.throws(() => compileRules([], Array.from({ length: 5 }, (_, i) => `k${i}=[a-z]{400}`)), /redactPatterns: 2025 RE2 instructions in all \(at most 2000\)$/);
    assert.equal(compileRules([], Array.from({ length: 4 }, (_, i) => `k${i}=[a-z]{400}`)).patterns.length, 4);
    assert.throws(() => compileRules([], Array(33).fill('a')), /at most 32 patterns/);
  });
});

describe('redactHeaderLines', () => {
  it('replaces the values of sensitive headers and leaves the rest byte for byte', () => {
    const req = 'GET /x HTTP/1.1\r\nHost: a.example\r\nAuthorization: Bearer abc.def\r\nAccept: */*\r\nCookie: sid=1; t=2\r\n\r\n';
    const r = lines(req);
    assert.equal(r.text, `GET /x HTTP/1.1\r\nHost: a.example\r\nAuthorization: ${REDACTED}\r\nAccept: */*\r\nCookie: ${REDACTED}\r\n\r\n`);
    assert.equal(r.count, 2);
  });

  it('matches names case-insensitively, with or without blanks around the colon, LF-only lines too', () => {
    const r = lines('HTTP/1.1 200 OK\nset-cookie:a=b\nPROXY-AUTHORIZATION :  Basic xyz\nX-Authorization: keep\n');
    assert.equal(r.text, `HTTP/1.1 200 OK\nset-cookie:${REDACTED}\nPROXY-AUTHORIZATION :  ${REDACTED}\nX-Authorization: keep\n`);
    assert.equal(r.count, 2);
  });

  it('counts only line starts: the first byte of the buffer, and after a line break', () => {
    assert.equal(lines('Authorization: a\r\n').text, `Authorization: ${REDACTED}\r\n`);
    const body = '{"note":"authorization: not a header"} cookie: nope';
    assert.deepEqual(lines(body), { text: body, count: 0 });
  });

  it('redacts job headers', () => {
    const headers = compileRules(['X-Api-Key']).headers;
    assert.equal(lines('x-api-key: k1\r\nX-Other: v\r\n', newHeaderCarry(), headers).text, `x-api-key: ${REDACTED}\r\nX-Other: v\r\n`);
  });

  it('redacts a value cut by the end of the buffer, and its rest at the start of the next buffer', () => {
    const c = newHeaderCarry();
    assert.equal(lines('GET / HTTP/1.1\r\nAuthorization: Bearer ab', c).text, `GET / HTTP/1.1\r\nAuthorization: ${REDACTED}`);
    assert.equal(c.inValue, true);
    const r = lines('cdef\r\nHost: h\r\n\r\n', c);
    assert.equal(r.text, `${REDACTED}\r\nHost: h\r\n\r\n`);
    assert.equal(r.count, 1);
    assert.equal(c.inValue, false);
  });

  it('follows a value over three buffers', () => {
    const c = newHeaderCarry();
    lines('Cookie: a', c);
    assert.equal(lines('bbbbbbbb', c).text, REDACTED);
    assert.equal(c.inValue, true);
    assert.equal(lines('cc\r\nX: y', c).text, `${REDACTED}\r\nX: y`);
    assert.equal(c.inValue, false);
  });

  it('handles a buffer that ends right after the colon (the whole value comes next)', () => {
    const c = newHeaderCarry();
    const r1 = lines('Host: h\r\nCookie: ', c);
    assert.deepEqual(r1, { text: 'Host: h\r\nCookie: ', count: 0 });
    assert.equal(lines('sid=42\r\n\r\n', c).text, `${REDACTED}\r\n\r\n`);
  });

  it('handles a name cut by the end of the buffer', () => {
    const c = newHeaderCarry();
    assert.deepEqual(lines('GET / HTTP/1.1\r\nAuthor', c), { text: 'GET / HTTP/1.1\r\nAuthor', count: 0 });
    assert.equal(c.partial, 'Author');
    assert.equal(lines('ization: Bearer x\r\nAccept: */*\r\n', c).text, `ization: ${REDACTED}\r\nAccept: */*\r\n`);
    const c2 = newHeaderCarry();
    lines('Cookie', c2);
    assert.equal(lines(': a=1\r\n', c2).text, `: ${REDACTED}\r\n`);
  });

  it('keeps no state for a cut line that cannot become a sensitive header', () => {
    const c = newHeaderCarry();
    lines('Host: h\r\nAcc', c);
    assert.equal(c.partial, '');
    assert.deepEqual(lines('ept: text/html\r\n', c), { text: 'ept: text/html\r\n', count: 0 });
  });

  it('ends the value at a CR that closes the buffer', () => {
    const c = newHeaderCarry();
    assert.equal(lines('Cookie: a=1\r', c).text, `Cookie: ${REDACTED}\r`);
    assert.equal(c.inValue, false);
    assert.deepEqual(lines('\nHost: h\r\n', c), { text: '\nHost: h\r\n', count: 0 });
  });

  it('keeps every byte outside the redacted values (latin1 round trip)', () => {
    const bin = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x41, 0x3a, 0x20, 0xfe]).toString('latin1');
    assert.deepEqual(lines(bin), { text: bin, count: 0 });
  });
});

describe('applyPatterns through compileRules', () => {
  const apply = (text: string, patterns: string[]) => {
    const out = applyPatterns(Buffer.from(text, 'latin1'), compileRules([], patterns).patterns);
    return { text: out.data.toString('latin1'), count: out.count };
  };

  it('replaces every match of every pattern and counts them', () => {
    const out = apply('a secret=abc&secret=def card 4111111111111111 ok', ['secret=\\w+', '\\b\\d{16}\\b']);
    assert.equal(out.text, `a ${REDACTED}&${REDACTED} card ${REDACTED} ok`);
    assert.equal(out.count, 3);
  });

  it('never counts the marker itself', () => {
    assert.deepEqual(apply(`ab ${REDACTED}`, ['\\[REDACTED\\]']), { text: `ab ${REDACTED}`, count: 0 });
  });
});

describe('Redactor', () => {
  const rules = compileRules(['X-Api-Key'], ['token=[A-Za-z0-9]+']);
  const call = (r: Redactor, direction: Direction, data: Buffer | string, o: { pid?: number; ssl?: bigint; length?: number } = {}) => {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    return r.redact({ pid: o.pid ?? 1, ssl: o.ssl ?? 0x10n, direction, data: buf, length: o.length ?? buf.length });
  };

  it('applies headers then patterns, and never changes its input', () => {
    const r = new Redactor(rules);
    const input = Buffer.from('POST /a?token=abc123 HTTP/1.1\r\nX-Api-Key: k\r\n\r\n', 'latin1');
    const copy = Buffer.from(input);
    const out = call(r, 'write', input);
    assert.equal(out.data.toString('latin1'), `POST /a?${REDACTED} HTTP/1.1\r\nX-Api-Key: ${REDACTED}\r\n\r\n`);
    assert.equal(out.redactions, 2);
    assert.deepEqual(input, copy);
  });

  it('returns the very buffer when nothing matched', () => {
    const r = new Redactor(rules);
    const input = Buffer.from('HTTP/1.1 204 No Content\r\n\r\n');
    const out = call(r, 'read', input);
    assert.equal(out.data, input);
    assert.equal(out.redactions, 0);
  });

  it('keeps the carry per (pid, ssl, direction)', () => {
    const r = new Redactor(rules);
    call(r, 'write', 'Authorization: Bearer a', { ssl: 1n });
    // other connection, other direction, other process: no carry
    assert.equal(call(r, 'write', 'continues\r\n', { ssl: 2n }).redactions, 0);
    assert.equal(call(r, 'read', 'continues\r\n', { ssl: 1n }).redactions, 0);
    assert.equal(call(r, 'write', 'continues\r\n', { ssl: 1n, pid: 2 }).redactions, 0);
    assert.equal(call(r, 'write', 'bcd\r\nHost: x\r\n', { ssl: 1n }).data.toString(), `${REDACTED}\r\nHost: x\r\n`);
  });

  it('forgets the least recently used connection past its bound', () => {
    const r = new Redactor(rules, 2);
    call(r, 'write', 'Cookie: a', { ssl: 1n });
    call(r, 'write', 'x', { ssl: 2n });
    call(r, 'write', 'y', { ssl: 3n });
    assert.equal(r.connections, 2);
    assert.equal(call(r, 'write', 'rest\r\n', { ssl: 1n }).redactions, 0); // state of ssl 1 is gone
  });

  it('zeroes h2 header blocks after the client preface, keeping frame headers and other frames', () => {
    const r = new Redactor(rules);
    const buf = Buffer.concat([H2_PREFACE, SETTINGS, WINDOW, HEADERS, DATA]);
    const out = call(r, 'write', buf);
    assert.equal(out.data.length, buf.length);
    const h = H2_PREFACE.length + SETTINGS.length + WINDOW.length;
    assert.deepEqual(out.data.subarray(0, h + 9), buf.subarray(0, h + 9));
    assert.ok(zeroed(out.data, h + 9, h + HEADERS.length));
    assert.deepEqual(out.data.subarray(h + HEADERS.length), DATA);
    assert.equal(out.redactions, 1);
    assert.ok(!out.data.toString('latin1').includes('SECRET'));
  });

  it('follows frames split across calls, a frame header split too', () => {
    const r = new Redactor(rules);
    call(r, 'write', Buffer.concat([H2_PREFACE, SETTINGS]));
    const stream = Buffer.concat([HEADERS, DATA, frame(9, 0x4, 1, 'more-hpack-bytes')]);
    const cuts = [4, 20, HEADERS.length + 5, stream.length];
    const outs: Buffer[] = [];
    let from = 0;
    for (const c of cuts) {
      outs.push(call(r, 'write', stream.subarray(from, c)).data);
      from = c;
    }
    const joined = Buffer.concat(outs);
    assert.equal(joined.length, stream.length);
    assert.deepEqual(joined.subarray(0, 9), HEADERS.subarray(0, 9));
    assert.ok(zeroed(joined, 9, HEADERS.length));
    assert.deepEqual(joined.subarray(HEADERS.length, HEADERS.length + DATA.length), DATA);
    const cont = HEADERS.length + DATA.length;
    assert.deepEqual(joined.subarray(cont, cont + 9), stream.subarray(cont, cont + 9));
    assert.ok(zeroed(joined, cont + 9, stream.length));
  });

  it('zeroes PUSH_PROMISE and CONTINUATION blocks too', () => {
    const r = new Redactor(rules);
    const pp = frame(5, 0x4, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), HPACK]));
    const out = call(r, 'read', Buffer.concat([SETTINGS, pp, frame(9, 0x4, 1, HPACK)])).data;
    assert.ok(zeroed(out, SETTINGS.length + 9, SETTINGS.length + pp.length));
    assert.ok(zeroed(out, SETTINGS.length + pp.length + 9, out.length));
  });

  it('aligns the server side: preface read, then the server writes frames from its first byte', () => {
    const r = new Redactor(rules);
    call(r, 'read', Buffer.concat([H2_PREFACE, SETTINGS]));
    const resp = Buffer.concat([SETTINGS_ACK, frame(1, 0x4, 1, HPACK), DATA]);
    const out = call(r, 'write', resp).data;
    assert.ok(zeroed(out, SETTINGS_ACK.length + 9, SETTINGS_ACK.length + 9 + HPACK.length));
    assert.ok(out.toString('latin1').endsWith('hello body'));
  });

  it('recognizes h2 frames without the preface (the job began mid-connection)', () => {
    const r = new Redactor(rules);
    const out = call(r, 'read', Buffer.concat([HEADERS, DATA])).data;
    assert.ok(zeroed(out, 9, HEADERS.length));
    // and then follows the stream
    const next = call(r, 'read', frame(1, 0x4, 3, HPACK)).data;
    assert.ok(zeroed(next, 9, next.length));
  });

  it('does not take text or a lone frame-looking prefix for h2', () => {
    const r = new Redactor(rules);
    for (const s of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'hello world, no frames here', '\x00\x00\x05\x01\x04']) {
      const out = call(r, 'write', s, { ssl: 9n });
      assert.equal(out.data.toString('latin1'), s);
    }
  });

  it('zeroes a buffer of a known h2 connection it cannot frame, and finds the frames again', () => {
    const r = new Redactor(rules);
    call(r, 'write', Buffer.concat([H2_PREFACE, SETTINGS]));
    // a call that moved a DATA frame and then a HEADERS frame, of which the kernel copied 20 bytes only
    const big = Buffer.concat([frame(0, 0, 1, Buffer.alloc(30, 0x61)), HEADERS]);
    const cut = call(r, 'write', big.subarray(0, 20), { length: big.length });
    assert.deepEqual(cut.data, big.subarray(0, 20)); // DATA payload: kept
    const mid = call(r, 'write', 'tail of some frame that is not aligned');
    assert.ok(zeroed(mid.data, 0, mid.data.length));
    assert.equal(mid.redactions, 1);
    const aligned = call(r, 'write', Buffer.concat([DATA, HEADERS]));
    assert.deepEqual(aligned.data.subarray(0, DATA.length), DATA);
    assert.ok(zeroed(aligned.data, DATA.length + 9, aligned.data.length));
  });

  it('loses the frame position on lostSync() and on a frame header it cannot believe', () => {
    const r = new Redactor(rules);
    call(r, 'write', Buffer.concat([H2_PREFACE, SETTINGS]));
    r.lostSync();
    assert.ok(zeroed(call(r, 'write', Buffer.alloc(12, 0x61)).data, 0, 12));
    call(r, 'write', DATA); // aligned again
    const bad = Buffer.concat([DATA, frame(6, 0, 1, 'not-ping-length')]); // PING on a stream: impossible
    const out = call(r, 'write', bad).data;
    assert.deepEqual(out.subarray(0, DATA.length), DATA);
    assert.ok(zeroed(out, DATA.length, out.length));
  });

  it('goes back to HTTP/1 for a reused SSL* (handshake reset, or an HTTP/1 start while lost)', () => {
    const r = new Redactor(rules);
    call(r, 'write', Buffer.concat([H2_PREFACE, SETTINGS]));
    r.reset(1, 0x10n);
    const req = 'GET / HTTP/1.1\r\nCookie: a\r\n\r\n';
    assert.equal(call(r, 'write', req).data.toString(), `GET / HTTP/1.1\r\nCookie: ${REDACTED}\r\n\r\n`);
    const r2 = new Redactor(rules);
    call(r2, 'write', Buffer.concat([H2_PREFACE, SETTINGS]));
    r2.lostSync();
    assert.equal(call(r2, 'write', req).data.toString(), `GET / HTTP/1.1\r\nCookie: ${REDACTED}\r\n\r\n`);
  });

  it('also applies the text passes to h2 DATA (a header line in a body is redacted too)', () => {
    const r = new Redactor(rules);
    const out = call(r, 'write', Buffer.concat([H2_PREFACE, frame(0, 0, 1, 'token=abc')])).data.toString('latin1');
    assert.ok(out.endsWith(REDACTED));
  });
});

describe('validFrameHeader', () => {
  it('checks what RFC 9113 fixes, strictly only when guessing', () => {
    assert.equal(validFrameHeader(8, 6, 0, 0, false, true), true); // PING
    assert.equal(validFrameHeader(7, 6, 0, 0, false, true), false);
    assert.equal(validFrameHeader(6, 4, 0, 1, false, true), false); // SETTINGS on a stream
    assert.equal(validFrameHeader(6, 4, 1, 0, false, false), false); // SETTINGS ACK with payload
    assert.equal(validFrameHeader(10, 0x42, 0, 1, false, false), true); // an extension frame, in sync
    assert.equal(validFrameHeader(10, 0x42, 0, 1, false, true), false); // ... not when guessing
    assert.equal(validFrameHeader(10, 0, 0, 1, true, true), false); // reserved bit
    assert.equal(validFrameHeader(2 << 20, 0, 0, 1, false, true), false); // too long to guess
  });
});

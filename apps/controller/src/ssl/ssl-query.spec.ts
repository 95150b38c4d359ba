import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { encodeHttpCursor, parseHttpQuery, parsePageQuery, parseStreamQuery } from './ssl-query';
import { printable } from './event-view';

function rejects(f: () => unknown, re: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof BadRequestException && re.test(JSON.stringify(e.getResponse())));
}

describe('ssl-events query parameters', () => {
  it('applies defaults and parses filters', () => {
    assert.deepEqual(parsePageQuery({}), { limit: 100, order: 'oldest' });
    const q = parsePageQuery({ node: 'n-1', pid: '42', direction: 'write', contains: 'Host: é', limit: '1000', order: 'newest', before: '99' });
    assert.equal(q.node, 'n-1');
    assert.equal(q.pid, 42);
    assert.equal(q.direction, 'write');
    assert.deepEqual(q.contains, Buffer.from('Host: é', 'utf8'));
    assert.equal(q.limit, 1000);
    assert.equal(q.order, 'newest');
    assert.equal(q.before, 99n);
  });

  it('names the parameter that is wrong', () => {
    rejects(() => parsePageQuery({ limit: '1001' }), /limit must be an integer in \[1, 1000\]/);
    rejects(() => parsePageQuery({ limit: '0' }), /limit must be/);
    rejects(() => parsePageQuery({ limit: '1e2' }), /limit must be/);
    rejects(() => parsePageQuery({ pid: '-1' }), /pid must be an integer/);
    rejects(() => parsePageQuery({ pid: ['1', '2'] }), /pid must be given once/);
    rejects(() => parsePageQuery({ direction: 'both' }), /direction must be one of: read, write, handshake/);
    rejects(() => parsePageQuery({ order: 'random' }), /order must be newest or oldest/);
    rejects(() => parsePageQuery({ after: 'abc' }), /after must be an event id/);
    rejects(() => parsePageQuery({ after: '99999999999999999999' }), /after must be an event id/);
    rejects(() => parsePageQuery({ after: '5', before: '5' }), /after must be less than before/);
    rejects(() => parsePageQuery({ contains: '' }), /contains must be 1 to 1024 bytes/);
    rejects(() => parsePageQuery({ contains: 'x'.repeat(1025) }), /contains must be/);
    rejects(() => parsePageQuery({ node: 'bad name' }), /node must be a node name/);
  });

  it('starts the stream after ?after=, else after Last-Event-ID, else at the beginning', () => {
    assert.equal(parseStreamQuery({}).after, 0n);
    assert.equal(parseStreamQuery({}, '17').after, 17n);
    assert.equal(parseStreamQuery({ after: '5' }, '17').after, 5n);
    rejects(() => parseStreamQuery({}, 'x'), /Last-Event-ID must be an event id/);
    rejects(() => parseStreamQuery({ order: 'newest' }), /order does not apply to the stream/);
  });

  it('round-trips the http cursor', () => {
    const c = { node: 'n1', pid: 7, sslPtr: '0x55d0c0de' };
    assert.deepEqual(parseHttpQuery({ after: encodeHttpCursor(c), limit: '5' }), { limit: 5, after: c });
    rejects(() => parseHttpQuery({ after: 'garbage' }), /after must be a nextCursor/);
    rejects(() => parseHttpQuery({ direction: 'read' }), /direction does not apply to HTTP summaries/);
  });
});

describe('printable', () => {
  it('keeps text and line breaks, shows other bytes as dots, and stops at the preview size', () => {
    assert.equal(printable(Buffer.from('GET / HTTP/1.1\r\nHost: é\r\n\tx')), 'GET / HTTP/1.1\r\nHost: é\r\n\tx');
    assert.equal(printable(Buffer.from([0x00, 0x41, 0x1b, 0xff, 0x42, 0x7f])), '.A..B.');
    assert.equal(printable(Buffer.alloc(5000, 0x61)).length, 1024);
  });
});

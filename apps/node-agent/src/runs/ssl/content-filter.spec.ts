import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HTTP_PREFIXES, headOf, kernelFilter } from './content-filter';

test('headOf cuts after the first blank line, and only when something follows it', () => {
  const head = 'HTTP/1.1 200 OK\r\nA: b\r\n\r\n';
  assert.deepEqual(headOf(Buffer.from(head + 'body')), { data: Buffer.from(head), cut: true });
  assert.deepEqual(headOf(Buffer.from(head)), { data: Buffer.from(head), cut: false });
  // A head longer than the capture: kept as it is (the kernel already marked it truncated).
  assert.deepEqual(headOf(Buffer.from('GET / HTTP/1.1\r\nHost: x')), { data: Buffer.from('GET / HTTP/1.1\r\nHost: x'), cut: false });
  assert.deepEqual(headOf(Buffer.alloc(0)), { data: Buffer.alloc(0), cut: false });
});

test('kernelFilter: nothing asked, nothing filtered; the HTTP prefixes fit the kernel with 5 of the job own', () => {
  assert.deepEqual(kernelFilter({ filterPrefixes: [] }), { prefixes: [], messageStarts: [], ports: [], describe: '' });
  assert.deepEqual(kernelFilter({ filterPrefixes: [], filterPorts: [443, 8443] }), { prefixes: [], messageStarts: [], ports: [443, 8443], describe: 'connections on port 443 or 8443' });
  for (const bad of [[0], [65536], [1.5], Array.from({ length: 17 }, (_, i) => i + 1)]) assert.equal(typeof kernelFilter({ filterPrefixes: [], filterPorts: bad }), 'string', String(bad));
  const f = kernelFilter({ filterPrefixes: Array.from({ length: 5 }, (_, i) => Buffer.from(`x${i}`)), filterHttp: true });
  assert.ok(typeof f !== 'string');
  assert.equal(f.prefixes.length, 16);
  assert.equal(HTTP_PREFIXES.length, 11);
  assert.ok(f.prefixes.every((p) => p.length >= 1 && p.length <= 16 && !p.includes(0)));
  const g = kernelFilter({ filterPrefixes: Array.from({ length: 16 }, () => Buffer.from('\xff\x01', 'latin1')) });
  assert.ok(typeof g !== 'string' && g.prefixes.length === 16);
  assert.match(kernelFilter({ filterPrefixes: Array.from({ length: 17 }, () => Buffer.from('a')) }) as string, /17 byte strings \(17 given\)/);
});

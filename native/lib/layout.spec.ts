// The C++ decoders and the BPF programs share profile.h, usdt.h and ssl.h; this checks that the addon
// was compiled against the headers as they are now, with the layout C gives them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildDir } from '@tracefleet/bpf';

import { SSL_FUNCTIONS, layouts } from './index';

const layout = () => layouts().profile;
const usdtLayout = () => layouts().usdt;
const sslLayout = () => layouts().ssl;

const readHeader = (file: string): string => fs.readFileSync(path.join(buildDir, '..', 'src', file), 'utf8');
// Each probe's header includes limits.h: its constants size the arrays of every record.
const limitsHeader = readHeader('limits.h');
const pythonHeader = readHeader('python/python.h');
const profileHeader = readHeader('profile/profile.h') + pythonHeader + limitsHeader;
const usdtHeader = readHeader('usdt/usdt.h') + readHeader('python/python.h') + limitsHeader;
const sslHeader = readHeader('ssl/ssl.h') + limitsHeader;

function defines(header: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const [, name, value] of header.matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)/gm)) values.set(name, Number(value));
  return values;
}

// Offsets and size under the x86-64 C rules: each field aligned to its own size.
function structLayout(header: string, file: string, name: string): { size: number; offsets: Record<string, number> } {
  const body = header.match(new RegExp(`struct ${name} \\{([^}]*)\\};`))?.[1];
  assert.ok(body, `struct ${name} not found in ${file}`);
  const constants = defines(header);
  const widths: Record<string, number> = { __u8: 1, char: 1, __u16: 2, __s16: 2, __u32: 4, __s32: 4, __u64: 8, __s64: 8 };
  const offsets: Record<string, number> = {};
  let offset = 0;
  let maxAlign = 1;
  const withoutComments = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const [, type, field, count] of withoutComments.matchAll(/(\w+)\s+(\w+)(?:\[(\w+)\])?\s*;/g)) {
    const width = widths[type];
    assert.ok(width, `${file}: field ${field} has type ${type}, which is not fixed-width`);
    const elements = count === undefined ? 1 : /^\d+$/.test(count) ? Number(count) : constants.get(count);
    assert.ok(elements !== undefined, `${file}: array size ${count} is not a #define`);
    offset = Math.ceil(offset / width) * width;
    offsets[field] = offset;
    offset += width * elements;
    maxAlign = Math.max(maxAlign, width);
  }
  return { size: Math.ceil(offset / maxAlign) * maxAlign, offsets };
}

test('struct profile_event in the addon matches profile.h', () => {
  const expected = structLayout(profileHeader, 'profile.h', 'profile_event');
  const actual = layout();
  assert.deepEqual(actual.offsets, expected.offsets);
  assert.equal(actual.size, expected.size);
  assert.equal(actual.size % 8, 0);
});

test('struct py_proc in the addon matches python.h', () => {
  const expected = structLayout(pythonHeader, 'python.h', 'py_proc');
  const actual = layouts().python;
  assert.deepEqual(actual.offsets, expected.offsets);
  assert.equal(actual.size, expected.size);
  const constants = defines(pythonHeader);
  assert.equal(actual.TRACEFLEET_MAX_PY_FRAMES, constants.get('TRACEFLEET_MAX_PY_FRAMES'));
  assert.equal(actual.PY_COUNTER_MAX, constants.get('PY_COUNTER_MAX'));
});

test('size constants in the addon match profile.h', () => {
  const constants = defines(profileHeader);
  const actual = layout();
  for (const name of ['PROFILE_COUNTER_SAMPLES', 'PROFILE_COUNTER_DROPS', 'PROFILE_COUNTER_MAX'] as const) {
    assert.equal(actual[name], constants.get(name), name);
  }
});

test('the limits every probe shares have one name each, in limits.h and in the addon', () => {
  const constants = defines(limitsHeader);
  assert.deepEqual(layouts().limits, {
    TRACEFLEET_COMM_LEN: constants.get('TRACEFLEET_COMM_LEN'),
    TRACEFLEET_MAX_STACK_DEPTH: constants.get('TRACEFLEET_MAX_STACK_DEPTH'),
    TRACEFLEET_MAX_TARGET_PIDS: constants.get('TRACEFLEET_MAX_TARGET_PIDS'),
  });
  assert.deepEqual(layouts().limits, { TRACEFLEET_COMM_LEN: 16, TRACEFLEET_MAX_STACK_DEPTH: 127, TRACEFLEET_MAX_TARGET_PIDS: 16384 });
  // No probe header defines its own comm length or stack depth again.
  for (const file of ['profile/profile.h', 'usdt/usdt.h', 'ssl/ssl.h', 'memleak/memleak.h', 'syscount/syscount.h', 'offcpu/offcpu.h', 'execopen/execopen.h', 'unwind/unwind.h', 'unwind/unwind.bpf.h', 'common.bpf.h']) {
    const own = [...defines(readHeader(file)).keys()].filter((n) => /COMM_LEN|STACK_DEPTH|MAX_FRAMES/.test(n));
    assert.deepEqual(own, [], `${file} defines ${own.join(', ')}`);
  }
});

test('struct execopen_event in the addon matches execopen.h; data starts at EXECOPEN_HEADER_BYTES', () => {
  const header = readHeader('execopen/execopen.h') + limitsHeader;
  const expected = structLayout(header, 'execopen.h', 'execopen_event');
  const { pad: _pad, ...offsets } = expected.offsets;
  const actual = layouts().execopen;
  assert.deepEqual(actual.offsets, offsets);
  assert.equal(actual.size, expected.size);
  assert.equal(actual.offsets.data, defines(header).get('EXECOPEN_HEADER_BYTES'));
  assert.equal(actual.openArgsSize, structLayout(header, 'execopen.h', 'execopen_open_args').size);
});

test('struct usdt_event in the addon matches usdt.h', () => {
  const expected = structLayout(usdtHeader, 'usdt.h', 'usdt_event');
  const actual = usdtLayout();
  assert.deepEqual(actual.offsets, expected.offsets);
  assert.equal(actual.size, expected.size);
  assert.equal(actual.size % 8, 0);
});

test('size constants in the addon match usdt.h', () => {
  const constants = defines(usdtHeader);
  const actual = usdtLayout();
  const names = [
    'USDT_MAX_PROBES',
    'USDT_MAX_ARGS',
    'USDT_STR_LEN',
    'USDT_NO_ARG',
    'USDT_COUNTER_OVER_BUDGET',
    'USDT_COUNTER_DROPS',
    'USDT_COUNTER_MAX',
  ] as const;
  for (const name of names) assert.equal(actual[name], constants.get(name), name);
  assert.equal(actual.USDT_MAX_PROBES, 64);
  assert.equal(actual.USDT_MAX_ARGS, 12);
  assert.equal(actual.USDT_STR_LEN, 64);
});

test('struct ssl_event and struct ssl_call in the addon match ssl.h', () => {
  const actual = sslLayout();
  const event = structLayout(sslHeader, 'ssl.h', 'ssl_event');
  assert.deepEqual(actual.offsets, event.offsets);
  assert.equal(actual.size, event.size);
  assert.equal(actual.size % 8, 0);
  const call = structLayout(sslHeader, 'ssl.h', 'ssl_call');
  assert.deepEqual(actual.callOffsets, call.offsets);
  assert.equal(actual.callSize, call.size);
});

test('constants in the addon match ssl.h', () => {
  const constants = defines(sslHeader);
  const actual = sslLayout() as unknown as Record<string, number>;
  const names = [...constants.keys()].filter((name) => name.startsWith('SSL_'));
  assert.ok(names.length >= 20, `only ${names.length} SSL_ constants found in ssl.h`);
  for (const name of names) assert.equal(actual[name], constants.get(name), name);
  assert.equal(actual.SSL_MAX_DATA, 16384);
  assert.equal(actual.SSL_FN_DO_HANDSHAKE, 5);
  assert.equal(actual.SSL_MAX_DATA % actual.SSL_DATA_CHUNK, 0);
  // The facade's names are the SSL_FN_* ids in order, from 1.
  const ids = ['SSL_FN_READ', 'SSL_FN_WRITE', 'SSL_FN_READ_EX', 'SSL_FN_WRITE_EX', 'SSL_FN_DO_HANDSHAKE', 'SSL_FN_GNUTLS_RECV', 'SSL_FN_GNUTLS_SEND', 'SSL_FN_GO_READ', 'SSL_FN_GO_WRITE', 'SSL_FN_NSS_READ', 'SSL_FN_NSS_WRITE', 'SSL_FN_NSS_RECV', 'SSL_FN_NSS_SEND'].map((name) => actual[name]);
  assert.deepEqual(ids, SSL_FUNCTIONS.map((_, k) => k + 1));
  assert.equal(actual.SSL_FN_MAX, SSL_FUNCTIONS.length + 1);
});

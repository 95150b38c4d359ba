import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { requireFunctionSymbol } from '../lib/elf';
import { planReturnCover, returnCoverOf } from './return-cover';
import { requireFile, requireTool } from './spec-tools';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const code = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
const opts = { emulatesNopl: true };
const json = (x: unknown): string => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

describe('planReturnCover on synthetic functions', () => {
  // 0 test %edi,%edi; 2 je +14; 4 mov $1,%eax; 9 test %esi,%esi; 11 jne +24; 13 ret;
  // 14 mov $2,%eax; 19 test %edx,%edx; 21 jne +24; 23 ret; 24 ud2
  const twoPaths = code(0x85, 0xff, 0x74, 0x0a, 0xb8, 1, 0, 0, 0, 0x85, 0xf6, 0x75, 0x0b, 0xc3, 0xb8, 2, 0, 0, 0, 0x85, 0xd2, 0x75, 0x01, 0xc3, 0x0f, 0x0b);

  it('takes the emulated jump of each path after %eax is final, and no ret', () => {
    const plan = planReturnCover(twoPaths, 64, opts);
    assert.ok('deltas' in plan, JSON.stringify(plan));
    assert.deepEqual(plan.deltas, [11, 21]);
    assert.deepEqual(plan.atRet, [false, false]);
    assert.match(plan.sites.join(' '), /\+11 `jne <\+24>` \+21 `jne <\+24>`/);
  });

  it('keeps the ret of a path that meets no emulated instruction after its last write', () => {
    // 0 test %edi,%edi; 2 je +10; 4 mov $1,%eax; 9 ret; 10 mov $2,%eax; 15 test %edx,%edx; 17 jne +20; 19 ret; 20 ud2
    const plan = planReturnCover(code(0x85, 0xff, 0x74, 0x06, 0xb8, 1, 0, 0, 0, 0xc3, 0xb8, 2, 0, 0, 0, 0x85, 0xd2, 0x75, 0x01, 0xc3, 0x0f, 0x0b), 64, opts);
    assert.ok('deltas' in plan, JSON.stringify(plan));
    assert.deepEqual(plan.deltas, [9, 17]);
    assert.deepEqual(plan.atRet, [true, false]);
  });

  it('a call proven not to return does not break a site before it; one not proven does', () => {
    // 0 mov $1,%eax; 5 test %esi,%esi; 7 jne +10; 9 ret; 10 call <rel 0>; 15 mov $3,%eax; 20 ret
    const withCall = code(0xb8, 1, 0, 0, 0, 0x85, 0xf6, 0x75, 0x01, 0xc3, 0xe8, 0x00, 0x01, 0x00, 0x00, 0xb8, 3, 0, 0, 0, 0xc3);
    const returns = planReturnCover(withCall, 64, opts);
    assert.ok('deltas' in returns, JSON.stringify(returns));
    assert.deepEqual(returns.deltas, [9, 20], 'the call may return into `mov $3,%eax`: the jne is no site, each ret is');
    const never = planReturnCover(withCall, 64, { ...opts, neverReturns: (call) => (call.offset === 10 ? 'proven by the test' : undefined) });
    assert.ok('deltas' in never, JSON.stringify(never));
    assert.deepEqual(never.deltas, [7]);
    assert.deepEqual(never.atRet, [false]);
  });

  it('refuses what the walk cannot follow, naming it, and over the site cap', () => {
    // 0 test %edi,%edi; 2 jne <outside the function>; 4 ret
    const tail = planReturnCover(code(0x85, 0xff, 0x75, 0x40, 0xc3), 64, opts);
    assert.ok('refusal' in tail);
    assert.match(tail.refusal, /may jump outside the function \(a conditional tail call\)/);
    const capped = planReturnCover(twoPaths, 1, opts);
    assert.ok('refusal' in capped);
    assert.match(capped.refusal, /2 sites, over the 1 one function may take/);
    const empty = planReturnCover(code(), 64, opts);
    assert.deepEqual(empty, { refusal: 'no code' });
    const garbage = planReturnCover(code(0xff, 0xff, 0xff, 0xff), 64, opts);
    assert.ok('refusal' in garbage);
  });
});

describe("return cover of this machine's libc malloc", () => {
  it('the tcache path gets an emulated site inside the frame, the other paths their rets, as objdump shows them', () => {
    requireFile(LIBC, "this machine's C library");
    requireTool('objdump', 'binutils');
    const cover = returnCoverOf(LIBC, 'malloc', 64);
    assert.ok('offsets' in cover, json(cover));
    console.log(`malloc's return sites: ${cover.sites.join(', ')}`);
    const sym = requireFunctionSymbol(LIBC, 'malloc');
    const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=0x${sym.fileOffset.toString(16)}`, `--stop-address=0x${(sym.fileOffset + sym.size).toString(16)}`, LIBC], { encoding: 'utf8' });
    const at = new Map([...dis.matchAll(/^\s*([0-9a-f]+):\s+(\S+)/gm)].map((m) => [BigInt(`0x${m[1]}`), m[2]]));
    cover.offsets.forEach((o, i) => {
      const mnemonic = at.get(o);
      if (cover.atRet[i]) assert.equal(mnemonic, 'ret', `site ${cover.sites[i]}`);
      else assert.match(mnemonic ?? '', /^j[a-z]+$/, `site ${cover.sites[i]} is an emulated jump`);
    });
    assert.ok(cover.atRet.includes(false), 'at least one emulated site');
    // Every ret is either a site or reached only through an emulated site.
    const rets = [...at].filter(([, m]) => m === 'ret').map(([o]) => o);
    assert.ok(cover.offsets.filter((_, i) => cover.atRet[i]).every((o) => rets.includes(o)));
    assert.ok(cover.offsets.length <= rets.length + 1);
  });

  it('free and calloc: their rets, or the reason', () => {
    const free = returnCoverOf(LIBC, 'free', 64);
    assert.ok('offsets' in free, json(free));
    const calloc = returnCoverOf(LIBC, 'calloc', 64);
    assert.ok('refusal' in calloc && /tail call/.test(calloc.refusal), json(calloc));
    assert.throws(() => returnCoverOf(LIBC, 'no_such_function_here', 64), /no_such_function_here/);
  });
});

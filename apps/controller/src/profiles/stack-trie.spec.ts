import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeStacks, renderFlameGraphSvg, toFolded, type StackCount } from './flamegraph/flamegraph';
import { StackTrie, TooManyPathsError } from './stack-trie';
import { ReadGate, ReadsBusyError } from './read-gate';

async function folded(trie: StackTrie, batchChars?: number): Promise<{ text: string; writes: number }> {
  let text = '';
  let writes = 0;
  await trie.writeFolded(async (t) => {
    text += t;
    writes++;
  }, batchChars);
  return { text, writes };
}

function trieOf(stacks: StackCount[], cap = 1_000_000): StackTrie {
  const t = new StackTrie(cap);
  for (const s of stacks) t.add(s.frames, BigInt(s.count));
  return t;
}

/** A deterministic pseudo-random source (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Names chosen to hit every corner of the folded order: separators, characters below and above ';',
// line breaks, NUL, trailing blanks (cut on a leaf only), a name that is a prefix of another, the empty
// name, non-BMP characters (UTF-16 order), and names that become equal once made folded-safe.
const HOSTILE = ['a', 'a:', 'a;b', 'a:b', 'a b', 'a\nb', 'a\r\nb', 'a ', 'a  ', 'a\t', 'a\u0000b', '', ' ', 'b', 'ab', 'a\u00a0', '\u{1f600}', '\uffff', 'x;', 'x:'];

function randomStacks(seed: number, n: number, names: string[]): StackCount[] {
  const r = rng(seed);
  const out: StackCount[] = [];
  for (let i = 0; i < n; i++) {
    const depth = Math.floor(r() * 6);
    const frames = Array.from({ length: depth }, () => names[Math.floor(r() * names.length)]);
    const count = r() < 0.1 ? 0 : r() < 0.1 ? 2n ** 60n + BigInt(i) : Math.floor(r() * 50) + 1;
    out.push({ frames, count });
  }
  return out;
}

describe('StackTrie', () => {
  it('makes the folded text of toFolded, byte for byte, from hostile names too', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const stacks = randomStacks(seed, 300, HOSTILE);
      const got = await folded(trieOf(stacks), 200);
      assert.equal(got.text, toFolded(stacks), `seed ${seed}`);
    }
  });

  it('writes the folded text in batches as it goes, not as one string at the end', async () => {
    const stacks = Array.from({ length: 5000 }, (_, i) => ({ frames: ['main', `f${i}`, 'leaf'], count: i + 1 }));
    const got = await folded(trieOf(stacks), 4096);
    assert.equal(got.text, toFolded(stacks));
    assert.ok(got.writes > 20, `${got.writes} writes`);
  });

  it('keeps escaping what toFolded escapes: ";" and line breaks in frames, a leaf\'s trailing blanks', async () => {
    const stacks: StackCount[] = [
      { frames: ['main', 'evil;frame', 'x\ny'], count: 2 },
      { frames: ['main', 'evil:frame', 'x y'], count: 3 },
      { frames: ['main', 'nul\u0000here', 'leaf  '], count: 1 },
      { frames: [], count: 4 },
    ];
    const text = (await folded(trieOf(stacks))).text;
    assert.equal(text, ' 4\nmain;evil:frame;x y 5\nmain;nul\u0000here;leaf 1\n');
    assert.equal(text, toFolded(stacks));
  });

  it('gives the flame graph of the flat rows, byte for byte', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const stacks = randomStacks(seed, 400, HOSTILE).map((s) => ({ frames: s.frames, count: BigInt(s.count) % 1000n }));
      const opts = { title: 'x', subtitle: 'y', minWidthPx: seed % 2 === 0 ? 0 : 2 };
      assert.equal(renderFlameGraphSvg(trieOf(stacks).stacks(), opts), renderFlameGraphSvg(stacks, opts), `seed ${seed}`);
    }
  });

  it('lists merged stacks in path order (speedscope) and sums them', () => {
    // Without '': mergeStacks takes [] and [''] for one path (its key joins frames), the trie does not.
    const stacks = randomStacks(7, 500, HOSTILE.filter((n) => n !== ''));
    const t = trieOf(stacks);
    const want = mergeStacks(stacks)
      .filter((s) => BigInt(s.count) !== 0n)
      .sort((a, b) => {
        const n = Math.min(a.frames.length, b.frames.length);
        for (let i = 0; i < n; i++) if (a.frames[i] !== b.frames[i]) return a.frames[i] < b.frames[i] ? -1 : 1;
        return a.frames.length - b.frames.length;
      });
    assert.deepEqual(
      t.sortedStacks().map((s) => [s.frames, BigInt(s.count)]),
      want.map((s) => [s.frames, BigInt(s.count)]),
    );
    assert.equal(t.total, stacks.reduce((a, s) => a + BigInt(s.count), 0n));
  });

  it('holds one node per distinct call-path prefix, and refuses past its cap with a 422', () => {
    const t = new StackTrie(10);
    for (let node = 0; node < 1000; node++) t.add(['main', 'work', 'hot'], 1n);
    assert.equal(t.size, 3, 'a thousand nodes of the same stack fold into one path');
    t.add(['main', 'work', 'cold'], 1n, 'container abc');
    assert.equal(t.size, 7);
    assert.throws(
      () => t.add(['a', 'b', 'c', 'd'], 1n),
      (e: unknown) => e instanceof TooManyPathsError && e.getStatus() === 422 && /more than 10 distinct/.test(e.message),
    );
  });
});

describe('ReadGate', () => {
  it('lets `slots` reads run, queues the next ones in order, refuses past the queue with a 503', async () => {
    const gate = new ReadGate(2, 1);
    const a = await gate.acquire();
    const b = await gate.acquire();
    let third = false;
    const c = gate.acquire().then((r) => {
      third = true;
      return r;
    });
    await assert.rejects(gate.acquire(), (e: unknown) => e instanceof ReadsBusyError && e.getStatus() === 503);
    assert.equal(third, false);
    a();
    a(); // idempotent: frees one slot only
    const release = await c;
    assert.equal(gate.busy, 2);
    b();
    release();
    assert.equal(gate.busy, 0);
  });

  it('takes a waiting read out of line when its client goes away', async () => {
    const gate = new ReadGate(1, 4);
    const a = await gate.acquire();
    const ac = new AbortController();
    const waiting = gate.acquire(ac.signal);
    assert.equal(gate.queued, 1);
    ac.abort();
    await assert.rejects(waiting, /went away/);
    assert.equal(gate.queued, 0);
    a();
    assert.equal(gate.busy, 0);
  });
});

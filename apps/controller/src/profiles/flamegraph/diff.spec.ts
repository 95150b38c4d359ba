import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderFlameGraphSvg, type FrameInfo, type StackCount } from './flamegraph';
import { DIFF_NEUTRAL, diffColor, diffFolded, diffFrameStyle } from './diff';

interface Drawn {
  title: string;
  name: string;
  fill: string;
  y: number;
}

/** The drawn frames of a rendered SVG: tooltip, frame name, fill and row. */
function drawn(svg: string): Drawn[] {
  const out: Drawn[] = [];
  const re = /<g data-c="\d+" data-l="(\d+)"><title>([^<]*)<\/title><rect x="[^"]*" y="([^"]*)" [^>]*fill="([^"]*)"\/>/g;
  for (const m of svg.matchAll(re)) out.push({ title: m[2], name: m[2].slice(0, Number(m[1])), fill: m[4], y: Number(m[3]) });
  return out;
}

function rgb(fill: string): [number, number, number] {
  const m = /^rgb\((\d+),(\d+),(\d+)\)$/.exec(fill);
  assert.ok(m, `not an rgb() fill: ${fill}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}
const isRed = (fill: string): boolean => {
  const [r, g, b] = rgb(fill);
  return r === 255 && g === b && g < 255;
};
const isBlue = (fill: string): boolean => {
  const [r, g, b] = rgb(fill);
  return b === 255 && r === g && r < 255;
};

// 100 base samples, 200 target samples: "same" keeps its 50 % share though its count doubles.
const BASE: StackCount[] = [
  { frames: ['main', 'grow'], count: 10 },
  { frames: ['main', 'shrink'], count: 40 },
  { frames: ['main', 'same'], count: 50 },
  { frames: ['main', 'x', 'leaf'], count: 0 },
];
const TARGET: StackCount[] = [
  { frames: ['main', 'grow'], count: 60 },
  { frames: ['main', 'shrink'], count: 40 },
  { frames: ['main', 'same'], count: 100 },
];

describe('differential flame graph', () => {
  const style = diffFrameStyle(BASE, TARGET);
  const svg = renderFlameGraphSvg(TARGET, { title: 'diff', frameStyle: style.frameStyle });
  const frames = new Map(drawn(svg).map((f) => [f.name, f]));

  it('colours a frame whose share grew red, one that shrank blue, one unchanged neutral', () => {
    assert.deepEqual([...frames.keys()].sort(), ['all', 'grow', 'main', 'same', 'shrink']);
    assert.ok(isRed(frames.get('grow')!.fill), frames.get('grow')!.fill);
    assert.ok(isBlue(frames.get('shrink')!.fill), frames.get('shrink')!.fill);
    assert.equal(frames.get('same')!.fill, DIFF_NEUTRAL, 'normalized by the totals: 50/100 → 100/200 is no change');
    assert.equal(frames.get('main')!.fill, DIFF_NEUTRAL);
    assert.equal(frames.get('all')!.fill, DIFF_NEUTRAL);
    // 10 % → 30 % and 40 % → 20 % are the largest changes (20 points): the deepest colours.
    assert.equal(frames.get('grow')!.fill, 'rgb(255,0,0)');
    assert.equal(frames.get('shrink')!.fill, 'rgb(0,0,255)');
    assert.equal(style.baseTotal, 100n);
    assert.equal(style.targetTotal, 200n);
  });

  it('shows both counts, shares and the change in the tooltip', () => {
    const t = frames.get('grow')!.title;
    assert.match(t, /^grow \(60 samples, 30\.00%\)/);
    assert.match(t, /base 10 \(10\.00%\) → target 60 \(30\.00%\)/);
    assert.match(t, /Δ \+50 samples, share \+20\.00 pts/);
    assert.match(frames.get('shrink')!.title, /base 40 \(40\.00%\) → target 40 \(20\.00%\) · Δ \+0 samples, share −20\.00 pts/);
    assert.match(frames.get('same')!.title, /share ±0\.00 pts/);
  });

  it('compares call paths, not names, and scales the colour with the change', () => {
    const base: StackCount[] = [
      { frames: ['main', 'x', 'leaf'], count: 50 },
      { frames: ['main', 'y', 'leaf'], count: 50 },
    ];
    const target: StackCount[] = [
      { frames: ['main', 'x', 'leaf'], count: 60 },
      { frames: ['main', 'y', 'leaf'], count: 20 },
      { frames: ['main', 'z', 'new'], count: 20 },
    ];
    const s = diffFrameStyle(base, target);
    const out = drawn(renderFlameGraphSvg(target, { title: 'diff', frameStyle: s.frameStyle }));
    const leaves = out.filter((f) => f.name === 'leaf');
    assert.equal(leaves.length, 2);
    const under = (fill: string): string => (isRed(fill) ? 'red' : isBlue(fill) ? 'blue' : 'other');
    // x/leaf 50 % → 60 % (+10), y/leaf 50 % → 20 % (−30), z/new 0 → 20 % (+20)
    const byTitle = new Map(out.map((f) => [f.title.replace(/ ·.*/, ''), f.fill]));
    assert.equal(under(byTitle.get('leaf (60 samples, 60.00%)')!), 'red');
    assert.equal(under(byTitle.get('leaf (20 samples, 20.00%)')!), 'blue');
    assert.equal(byTitle.get('leaf (20 samples, 20.00%)'), 'rgb(0,0,255)', 'the largest change is the deepest');
    assert.equal(under(byTitle.get('new (20 samples, 20.00%)')!), 'red');
    const [, g10] = rgb(byTitle.get('leaf (60 samples, 60.00%)')!);
    const [, g20] = rgb(byTitle.get('new (20 samples, 20.00%)')!);
    assert.ok(g10 > g20, 'a +10 point change is paler than a +20 point one');
  });

  it('diffColor: neutral only for no change, tinted even for the smallest one', () => {
    assert.equal(diffColor(0, 0), DIFF_NEUTRAL);
    assert.ok(isRed(diffColor(1, 1e-9)));
    assert.ok(isBlue(diffColor(-1, 1e-9)));
    assert.notEqual(diffColor(1, 1e-9), DIFF_NEUTRAL);
  });

  it('writes difffolded lines: every path of either side with both counts', () => {
    assert.equal(
      diffFolded(
        [...BASE, { frames: ['main', 'a;b'], count: 3 }],
        [...TARGET, { frames: ['main', 'only_target'], count: 1 }],
      ),
      ['main;a:b 3 0', 'main;grow 10 60', 'main;only_target 0 1', 'main;same 50 100', 'main;shrink 40 40', ''].join('\n'),
    );
  });
});

describe('renderFlameGraphSvg frameStyle', () => {
  it('is called once per drawn frame with that frame\'s call path and inclusive count', () => {
    // A pseudo-random tree with shared prefixes, repeated names and stacks ending on inner frames.
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const stacks: StackCount[] = [];
    for (let i = 0; i < 300; i++) {
      const depth = 1 + rand(6);
      stacks.push({ frames: Array.from({ length: depth }, () => 'f' + rand(3)), count: 1 + rand(20) });
    }
    const expected = new Map<string, number>([['', 0]]);
    for (const s of stacks) {
      expected.set('', expected.get('')! + Number(s.count));
      for (let d = 1; d <= s.frames.length; d++) {
        const k = s.frames.slice(0, d).join(';');
        expected.set(k, (expected.get(k) ?? 0) + Number(s.count));
      }
    }
    const seen = new Map<string, number>();
    renderFlameGraphSvg(stacks, {
      title: 't',
      minWidthPx: 0,
      frameStyle: (f: FrameInfo) => {
        const k = f.stack.slice(0, f.depth).join(';');
        assert.ok(!seen.has(k), `frame ${k} styled twice`);
        seen.set(k, Number(f.count));
        return { fill: 'rgb(1,2,3)' };
      },
    });
    assert.deepEqual(seen, expected);
  });

  it('escapes what it writes into the fill attribute and the tooltip', () => {
    const svg = renderFlameGraphSvg([{ frames: ['a'], count: 1 }], {
      title: 't',
      frameStyle: () => ({ fill: 'url("#x")', note: ' <b>&' }),
    });
    assert.match(svg, /fill="url\(&quot;#x&quot;\)"/);
    assert.match(svg, /\(1 samples, 100\.00%\) &lt;b&gt;&amp;<\/title>/);
  });
});

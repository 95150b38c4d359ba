import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { colourOf, findPath, heaviestMatch, parseFolded, pathOf, search } from './model';

const FOLDED = ['main;work;hot 70', 'main;work;cold 10', 'main;idle 20', 'other;hot 5'].join('\n');

describe('folded stacks into a flame tree', () => {
  it('sums values up the tree, lays children out alphabetically and counts frames and depth', () => {
    const { tree, skipped } = parseFolded(FOLDED);
    assert.equal(skipped, 0);
    assert.equal(tree.root.value, 105);
    assert.equal(tree.maxDepth, 3);
    assert.equal(tree.frames, 7);
    const main = findPath(tree, 'main')!;
    assert.equal(main.value, 100);
    assert.deepEqual(main.children.map((c) => c.name), ['idle', 'work']);
    assert.equal(findPath(tree, 'main;idle')!.x, 0);
    assert.equal(findPath(tree, 'main;work')!.x, 20, 'after idle');
    assert.equal(findPath(tree, 'main;work;hot')!.x, 30, 'after cold (10) inside work (20)');
    assert.equal(findPath(tree, 'other')!.x, 100);
    assert.equal(pathOf(findPath(tree, 'main;work;hot')!), 'main;work;hot');
    assert.equal(findPath(tree, 'main;nope'), undefined);
  });

  it('adds repeated stacks and skips lines that are not stack and count, counting them', () => {
    const { tree, skipped } = parseFolded('a;b 1\na;b 2\n\nnot a line\n;; x\na 3 junk\n  a;c   4  ');
    assert.equal(findPath(tree, 'a;b')!.value, 3);
    assert.equal(findPath(tree, 'a;c')!.value, 4);
    assert.equal(skipped, 3);
  });

  it('keeps hostile frame names as text (no markup is interpreted: the canvas draws strings)', () => {
    const { tree } = parseFolded('<script>alert(1)</script>;"x" 3\n__proto__;constructor 2');
    assert.equal(findPath(tree, '<script>alert(1)</script>;"x"')!.value, 3);
    assert.equal(findPath(tree, '__proto__;constructor')!.value, 2);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('reads the diff format (base then target) and draws by the target', () => {
    const { tree } = parseFolded('main;a 10 30\nmain;b 30 10');
    assert.equal(tree.diff, true);
    assert.equal(tree.root.value, 40);
    assert.equal(tree.baseTotal, 40);
    assert.equal(findPath(tree, 'main;a')!.base, 10);
    assert.match(colourOf(findPath(tree, 'main;a')!, tree), /^hsl\(0,/, 'grew: red');
    assert.match(colourOf(findPath(tree, 'main;b')!, tree), /^hsl\(220,/, 'shrank: blue');
  });
});

describe('search', () => {
  const { tree } = parseFolded(FOLDED);
  it('counts each sample once, even under nested matches, as a share of all', () => {
    const r = search(tree, 'HOT');
    assert.equal(r.matches.size, 2);
    assert.equal(r.matchedValue, 75);
    assert.equal(r.percent.toFixed(2), (7500 / 105).toFixed(2));
    const nested = search(tree, 'o');
    assert.equal(nested.matchedValue, 85, 'work (80, holding cold and hot) and other (5): no sample counted twice');
    assert.equal(heaviestMatch(r)!.name, 'hot');
    assert.equal(pathOf(heaviestMatch(r)!), 'main;work;hot');
  });
  it('takes /regex/, and a broken regex matches nothing instead of throwing', () => {
    assert.equal(search(tree, '/^(idle|cold)$/').matchedValue, 30);
    assert.equal(search(tree, '/(/').matches.size, 0);
    assert.equal(search(tree, '').percent, 0);
  });
});

describe('a 50,000-frame profile', () => {
  it('parses into 50,000 frames', () => {
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) lines.push(`main;f${i};g${i};h${i};j${i};k${i} ${1 + (i % 13)}`);
    const { tree } = parseFolded(lines.join('\n'));
    assert.equal(tree.frames, 1 + 50_000);
    assert.equal(tree.maxDepth, 6);
  });
});

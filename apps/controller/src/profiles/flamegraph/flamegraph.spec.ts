import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as vm from 'node:vm';
import {
  frameColor,
  mergeStacks,
  parseFolded,
  renderFlameGraphSvg,
  toFolded,
  type StackCount,
} from './flamegraph';

// ---------------------------------------------------------------------------
// A minimal, strict XML 1.0 well-formedness checker that also builds a tree.
// Supports what the renderer may emit: XML declaration, comments, CDATA,
// elements, attributes, the five predefined entities and character references.
// ---------------------------------------------------------------------------

interface XNode {
  kind: 'element' | 'text';
  name: string; // element name, '' for text
  attrs: Map<string, string>;
  children: XNode[];
  text: string; // decoded text for text nodes (CDATA included)
  cdata: boolean;
}

const NAME_Y = /[A-Za-z_:][A-Za-z0-9_:.\-]*/y;
const WS_Y = /[ \t\r\n]*/y;
/** Sticky match at `at`, or null. */
function matchAt(re: RegExp, src: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(src);
  return m ? m[0] : null;
}
const isWs = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const BAD_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function decodeRefs(raw: string, where: number): string {
  if (raw.includes('<')) throw new Error(`raw '<' near offset ${where}`);
  return raw.replace(/&([^;&]*);?/g, (m, body: string) => {
    if (!m.endsWith(';')) throw new Error(`unterminated reference near offset ${where}: ${JSON.stringify(m)}`);
    switch (body) {
      case 'amp': return '&';
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    let cp: number;
    if (/^#x[0-9A-Fa-f]+$/.test(body)) cp = parseInt(body.slice(2), 16);
    else if (/^#[0-9]+$/.test(body)) cp = parseInt(body.slice(1), 10);
    else throw new Error(`unknown entity &${body}; near offset ${where}`);
    const ok = cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
    if (!ok) throw new Error(`invalid character reference ${m}`);
    return String.fromCodePoint(cp);
  });
}

const NO_ATTRS: Map<string, string> = new Map();
const NO_CHILDREN: XNode[] = [];

function parseXml(src: string): XNode {
  const bad = BAD_CHAR.exec(src);
  if (bad) throw new Error(`character not allowed in XML at offset ${bad.index}`);
  let i = 0;
  const stack: XNode[] = [];
  let root: XNode | undefined;
  const mk = (name: string): XNode => ({ kind: 'element', name, attrs: new Map(), children: [], text: '', cdata: false });
  const pushText = (text: string, cdata: boolean): void => {
    if (stack.length === 0) {
      if (cdata || text.trim() !== '') throw new Error(`content outside the root element at offset ${i}`);
      return;
    }
    stack[stack.length - 1].children.push({ kind: 'text', name: '', attrs: NO_ATTRS, children: NO_CHILDREN, text, cdata });
  };
  if (src.startsWith('<?xml')) {
    const end = src.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  while (i < src.length) {
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end < 0) throw new Error('unterminated comment');
      if (src.slice(i + 4, end).includes('--')) throw new Error('"--" inside comment');
      i = end + 3;
    } else if (src.startsWith('<![CDATA[', i)) {
      const end = src.indexOf(']]>', i + 9);
      if (end < 0) throw new Error('unterminated CDATA');
      pushText(src.slice(i + 9, end), true);
      i = end + 3;
    } else if (src.startsWith('<?', i) || src.startsWith('<!', i)) {
      throw new Error(`unexpected markup at offset ${i}`);
    } else if (src.startsWith('</', i)) {
      const m = matchAt(NAME_Y, src, i + 2);
      if (!m) throw new Error(`bad end tag at offset ${i}`);
      let j = i + 2 + m.length;
      while (isWs(src[j])) j++;
      if (src[j] !== '>') throw new Error(`bad end tag at offset ${i}`);
      const top = stack.pop();
      if (!top || top.name !== m) throw new Error(`mismatched </${m}> (open: ${top?.name}) at offset ${i}`);
      i = j + 1;
    } else if (src[i] === '<') {
      const m = matchAt(NAME_Y, src, i + 1);
      if (!m) throw new Error(`bad start tag at offset ${i}`);
      const el = mk(m);
      let j = i + 1 + m.length;
      for (;;) {
        const ws = matchAt(WS_Y, src, j)!.length;
        j += ws;
        if (src.startsWith('/>', j) || src[j] === '>') break;
        if (ws === 0) throw new Error(`missing whitespace before attribute at offset ${j}`);
        const an = matchAt(NAME_Y, src, j);
        if (!an) throw new Error(`bad attribute name at offset ${j}`);
        j += an.length;
        while (isWs(src[j])) j++;
        if (src[j] !== '=') throw new Error(`expected '=' at offset ${j}`);
        j++;
        while (isWs(src[j])) j++;
        const q = src[j];
        if (q !== '"' && q !== "'") throw new Error(`unquoted attribute value at offset ${j}`);
        const end = src.indexOf(q, j + 1);
        if (end < 0) throw new Error('unterminated attribute value');
        if (el.attrs.has(an)) throw new Error(`duplicate attribute ${an} at offset ${j}`);
        el.attrs.set(an, decodeRefs(src.slice(j + 1, end), j).replace(/[\t\n\r]/g, ' '));
        j = end + 1;
      }
      if (stack.length === 0) {
        if (root) throw new Error(`second root element at offset ${i}`);
        root = el;
      } else {
        stack[stack.length - 1].children.push(el);
      }
      if (src[j] === '>') {
        stack.push(el);
        i = j + 1;
      } else {
        i = j + 2;
      }
    } else {
      let end = src.indexOf('<', i);
      if (end < 0) end = src.length;
      const raw = src.slice(i, end);
      if (raw.includes(']]>')) throw new Error(`"]]>" in text at offset ${i}`);
      pushText(decodeRefs(raw.replace(/\r\n?/g, '\n'), i), false);
      i = end;
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

function textOf(n: XNode): string {
  return n.kind === 'text' ? n.text : n.children.map(textOf).join('');
}
function findAll(n: XNode, pred: (n: XNode) => boolean, out: XNode[] = []): XNode[] {
  if (n.kind === 'element' && pred(n)) out.push(n);
  for (const c of n.children) findAll(c, pred, out);
  return out;
}
function byId(root: XNode, id: string): XNode {
  const r = findAll(root, (n) => n.attrs.get('id') === id);
  assert.equal(r.length, 1, `exactly one #${id}`);
  return r[0];
}
function kid(n: XNode, name: string): XNode | undefined {
  return n.children.find((c) => c.kind === 'element' && c.name === name);
}

interface ParsedFrame { label: string; name: string; count: number; x: number; y: number; w: number; fill: string; text?: string }
function framesOf(svg: string): { root: XNode; frames: ParsedFrame[] } {
  const root = parseXml(svg);
  const frames = byId(root, 'fg-frames').children.filter((c) => c.kind === 'element').map((g) => {
    const label = textOf(kid(g, 'title')!);
    const rect = kid(g, 'rect')!;
    const t = kid(g, 'text');
    return {
      label,
      name: label.slice(0, Number(g.attrs.get('data-l'))),
      count: Number(g.attrs.get('data-c')),
      x: Number(rect.attrs.get('x')),
      y: Number(rect.attrs.get('y')),
      w: Number(rect.attrs.get('width')),
      fill: rect.attrs.get('fill')!,
      text: t ? textOf(t) : undefined,
    };
  });
  return { root, frames };
}
function one(frames: ParsedFrame[], name: string): ParsedFrame {
  const r = frames.filter((f) => f.name === name);
  assert.equal(r.length, 1, `exactly one frame named ${JSON.stringify(name)}`);
  return r[0];
}

// ---------------------------------------------------------------------------
// A tiny fake DOM, enough to run the embedded script against the parsed SVG.
// ---------------------------------------------------------------------------

type Listener = (e: FakeEvent) => void;
interface FakeEvent { type: string; target: FakeNode; key?: string; ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean; defaultPrevented: boolean; preventDefault(): void }

class FakeNode {
  parentNode: FakeNode | null = null;
  childNodes: FakeNode[] = [];
  listeners = new Map<string, Listener[]>();
  [expando: string]: unknown;
  constructor(public nodeType: number, public localName: string, public data = '') {}
  get nodeName(): string { return this.localName; }
  get firstChild(): FakeNode | null { return this.childNodes[0] ?? null; }
  get nextSibling(): FakeNode | null {
    const sib = this.parentNode?.childNodes ?? [];
    return sib[sib.indexOf(this) + 1] ?? null;
  }
  addEventListener(type: string, fn: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  appendChild(c: FakeNode): FakeNode { c.parentNode = this; this.childNodes.push(c); return c; }
}
class FakeElement extends FakeNode {
  attributes = new Map<string, string>();
  constructor(name: string) { super(1, name); }
  getAttribute(n: string): string | null { return this.attributes.get(n) ?? null; }
  setAttribute(n: string, v: string): void { this.attributes.set(n, String(v)); }
  get textContent(): string {
    return this.childNodes.map((c) => (c instanceof FakeElement ? c.textContent : c.data)).join('');
  }
  set textContent(v: string) { this.childNodes = []; this.appendChild(new FakeNode(3, '#text', String(v))); }
  get classList() {
    const get = (): string[] => (this.getAttribute('class') ?? '').split(/\s+/).filter(Boolean);
    return {
      add: (c: string) => { if (!get().includes(c)) this.setAttribute('class', [...get(), c].join(' ')); },
      remove: (c: string) => this.setAttribute('class', get().filter((x) => x !== c).join(' ')),
      contains: (c: string) => get().includes(c),
    };
  }
}
class FakeDocument extends FakeNode {
  constructor(public documentElement: FakeElement) { super(9, '#document'); this.appendChild(documentElement); }
  getElementById(id: string): FakeElement | null {
    const walk = (n: FakeNode): FakeElement | null => {
      if (n instanceof FakeElement && n.getAttribute('id') === id) return n;
      for (const c of n.childNodes) { const r = walk(c); if (r) return r; }
      return null;
    };
    return walk(this);
  }
  createElementNS(_ns: string, name: string): FakeElement { return new FakeElement(name); }
}
function toFake(n: XNode): FakeNode {
  if (n.kind === 'text') return new FakeNode(3, '#text', n.text);
  const el = new FakeElement(n.name);
  for (const [k, v] of n.attrs) el.setAttribute(k, v);
  for (const c of n.children) el.appendChild(toFake(c));
  return el;
}
function dispatch(target: FakeNode, type: string, extra: Partial<FakeEvent> = {}): FakeEvent {
  const ev: FakeEvent = { type, target, defaultPrevented: false, preventDefault() { ev.defaultPrevented = true; }, ...extra };
  for (let n: FakeNode | null = target; n; n = n.parentNode) for (const fn of n.listeners.get(type) ?? []) fn(ev);
  return ev;
}

function scriptOf(svg: string): string {
  const m = /<script type="text\/ecmascript"><!\[CDATA\[([\s\S]*?)\]\]><\/script>/.exec(svg);
  assert.ok(m, 'embedded script present');
  return m[1];
}

function runInFakeDom(svg: string, prompts: (string | null)[] = []) {
  const root = parseXml(svg);
  const doc = new FakeDocument(toFake(root) as FakeElement);
  const context = vm.createContext({ document: doc, prompt: () => (prompts.length ? prompts.shift() : null), console });
  new vm.Script(scriptOf(svg), { filename: 'flamegraph-client.js' }).runInContext(context);
  const $ = (id: string) => doc.getElementById(id)!;
  const gs = $('fg-frames').childNodes.filter((c): c is FakeElement => c instanceof FakeElement);
  const frame = (name: string): FakeElement => {
    const r = gs.filter((g) => {
      const title = g.childNodes.find((c) => c.localName === 'title') as FakeElement;
      return title.textContent.slice(0, Number(g.getAttribute('data-l'))) === name;
    });
    assert.equal(r.length, 1, `one frame ${name}`);
    return r[0];
  };
  const rectOf = (g: FakeElement) => g.childNodes.find((c) => c.localName === 'rect') as FakeElement;
  const textOfEl = (g: FakeElement) => (g.childNodes.find((c) => c.localName === 'text') as FakeElement | undefined)?.textContent;
  return { doc, $, gs, frame, rectOf, textOfEl };
}

// ---------------------------------------------------------------------------

const sample: StackCount[] = [
  { frames: ['main', 'work', 'hot_spin'], count: 60 },
  { frames: ['main', 'work', 'cold'], count: 20 },
  { frames: ['main', 'idle'], count: 15 },
  { frames: ['main'], count: 5 },
];

describe('renderFlameGraphSvg layout', () => {
  it('makes widths proportional to inclusive counts, children alphabetical and left-aligned', () => {
    const svg = renderFlameGraphSvg(sample, { title: 't', width: 1020 }); // plot width 1000
    const { frames } = framesOf(svg);
    const all = one(frames, 'all');
    const main = one(frames, 'main');
    const work = one(frames, 'work');
    const idle = one(frames, 'idle');
    const hot = one(frames, 'hot_spin');
    const cold = one(frames, 'cold');
    assert.equal(all.count, 100);
    assert.equal(all.w, 1000);
    assert.equal(all.x, 10);
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 0.011, `${a} ≈ ${b}`);
    for (const f of frames) close(f.w, (f.count / all.count) * 1000);
    assert.deepEqual([main.count, work.count, idle.count, hot.count, cold.count], [100, 80, 15, 60, 20]);
    // alphabetical: idle < work at depth 2, cold < hot_spin at depth 3
    close(idle.x, main.x);
    close(work.x, idle.x + idle.w);
    close(cold.x, work.x);
    close(hot.x, cold.x + cold.w);
    // icicle-up: root lowest, each level one frame height above its parent
    assert.equal(main.y, all.y - 16);
    assert.equal(work.y, all.y - 32);
    assert.equal(hot.y, all.y - 48);
    assert.match(hot.label, /^hot_spin \(60 samples, 60\.00%\)$/);
  });

  it('merges identical paths and is independent of input order', () => {
    const shuffled = [sample[3], sample[1], { frames: ['main', 'idle'], count: 10 }, sample[0], { frames: ['main', 'idle'], count: 5 }];
    const a = renderFlameGraphSvg(sample, { title: 't' });
    const b = renderFlameGraphSvg(shuffled, { title: 't' });
    assert.equal(a, b);
  });

  it('uses the count name and truncates labels with ".."', () => {
    const long = 'a_really_long_function_name_that_cannot_possibly_fit_in_a_narrow_frame';
    const svg = renderFlameGraphSvg(
      [{ frames: ['main', long], count: 10 }, { frames: ['main', 'other'], count: 990 }],
      { title: 'mem', countName: 'bytes', width: 1200 },
    );
    const { frames } = framesOf(svg);
    const f = one(frames, long);
    assert.match(f.label, / \(10 bytes, 1\.00%\)$/);
    assert.ok(f.text === undefined || (f.text.endsWith('..') && f.text.length < long.length));
    const wide = renderFlameGraphSvg([{ frames: ['main', long], count: 1 }], { title: 'x', width: 300 });
    const t = one(framesOf(wide).frames, long).text!;
    assert.ok(t.endsWith('..'), t);
    assert.ok(long.startsWith(t.slice(0, -2)));
    assert.ok(t.length * 12 * 0.62 <= 280 - 6 + 1e-9);
    // rows too short for text get no labels
    const flat = framesOf(renderFlameGraphSvg([{ frames: ['main'], count: 1 }], { title: 'x', frameHeight: 6 })).frames;
    assert.ok(flat.every((f) => f.text === undefined));
  });

  it('attributes samples with an empty stack to the root', () => {
    const { frames } = framesOf(renderFlameGraphSvg([{ frames: [], count: 3 }, { frames: ['a'], count: 1 }], { title: 't', width: 1020 }));
    assert.equal(one(frames, 'all').count, 4);
    assert.equal(one(frames, 'a').w, 250);
  });

  it('colours deterministically with distinct kernel and JIT palettes', () => {
    const rgb = (s: string) => s.match(/\d+/g)!.map(Number);
    assert.equal(frameColor('foo'), frameColor('foo'));
    for (let i = 0; i < 50; i++) {
      const [r, g, b] = rgb(frameColor(`user_fn_${i}`));
      assert.ok(r >= g && g >= b, `warm ${r},${g},${b}`);
      const [kr, kg, kb] = rgb(frameColor(`sys_fn_${i}_[k]`));
      assert.ok(kb > kr && kb >= kg, `kernel blue ${kr},${kg},${kb}`);
      const [jr, jg, jb] = rgb(frameColor(`Lcom/x/Y;.m${i}_[j]`));
      assert.ok(jg > jr && jg > jb, `jit green ${jr},${jg},${jb}`);
    }
    const svg = renderFlameGraphSvg([{ frames: ['main', 'do_syscall_64_[k]'], count: 1 }], { title: 't' });
    assert.equal(one(framesOf(svg).frames, 'do_syscall_64_[k]').fill, frameColor('do_syscall_64_[k]'));
  });

  it('renders "No samples" for empty input (and for all-zero counts)', () => {
    for (const input of [[], [{ frames: ['a'], count: 0 }]] as StackCount[][]) {
      const svg = renderFlameGraphSvg(input, { title: 'Empty <profile>', subtitle: 'node-a · 0 samples' });
      const root = parseXml(svg);
      assert.equal(root.name, 'svg');
      assert.equal(root.attrs.get('xmlns'), 'http://www.w3.org/2000/svg');
      assert.equal(textOf(byId(root, 'fg-empty')), 'No samples');
      assert.equal(textOf(byId(root, 'fg-title')), 'Empty <profile>');
      assert.ok(!svg.includes('<g data-c'));
    }
  });

  it('supports bigint counts beyond Number.MAX_SAFE_INTEGER exactly', () => {
    const big = 2n ** 70n;
    const svg = renderFlameGraphSvg(
      [{ frames: ['main', 'a'], count: big }, { frames: ['main', 'b'], count: big * 3n }, { frames: ['main', 'b'], count: 1 }],
      { title: 'big' },
    );
    const { root, frames } = framesOf(svg);
    const g = byId(root, 'fg-frames').children.filter((n) => n.name === 'g');
    const allG = g.find((n) => textOf(kid(n, 'title')!).startsWith('all '))!;
    assert.equal(allG.attrs.get('data-c'), (big * 4n + 1n).toString());
    const b = one(frames, 'b');
    assert.ok(b.label.includes(`(${(big * 3n + 1n).toLocaleString('en-US')} samples, 75.00%)`), b.label);
    assert.ok(Math.abs(b.w - 1180 * 0.75) < 0.02);
    // small bigints use the same exact path
    assert.equal(
      renderFlameGraphSvg([{ frames: ['x'], count: 3n }], { title: 't' }),
      renderFlameGraphSvg([{ frames: ['x'], count: 3 }], { title: 't' }),
    );
  });

  it('rejects invalid counts and options', () => {
    assert.throws(() => renderFlameGraphSvg([{ frames: ['a'], count: -1 }], { title: 't' }), RangeError);
    assert.throws(() => renderFlameGraphSvg([{ frames: ['a'], count: 1.5 }], { title: 't' }), /stack 0/);
    assert.throws(() => renderFlameGraphSvg([{ frames: ['a'], count: NaN }], { title: 't' }), RangeError);
    assert.throws(() => renderFlameGraphSvg([], { title: 't', width: 0 }), RangeError);
  });
});

describe('escaping', () => {
  const nasty = [
    'std::vector<int>::push_back',
    'std::ostream& operator<<(std::ostream&, Foo const&)',
    'operator>>',
    'say "hi" & \'bye\'',
    'cdata ]]> end',
    '<script>alert(1)</script>',
    'ctrl\u0001char\u001f',
    'lone \ud800 surrogate',
    'emoji 🔥 ok',
    'cr\r\nlf',
    '&amp; already-escaped &#60;',
  ];

  it('produces well-formed XML whose titles decode back to the names', () => {
    const stacks = nasty.map((n, i) => ({ frames: ['main', n, `leaf<${i}>`], count: i === 0 ? 100 : i + 1 }));
    const svg = renderFlameGraphSvg(stacks, {
      title: 'Title <&> "quoted" \'x\' ]]>',
      subtitle: 'sub & <sub>',
      countName: 'b<y>tes&',
      width: 3000,
    });
    const { root, frames } = framesOf(svg);
    assert.equal(textOf(byId(root, 'fg-title')), 'Title <&> "quoted" \'x\' ]]>');
    assert.equal(textOf(byId(root, 'fg-subtitle')), 'sub & <sub>');
    const expected = (n: string) => n.replace(/[\u0001\u001f]|\ud800/g, '\uFFFD');
    for (const n of nasty) {
      const f = one(frames, expected(n));
      assert.ok(f.label.startsWith(expected(n) + ' ('));
      assert.ok(f.label.includes(' b<y>tes&, '), f.label);
    }
    // labels that fit are shown verbatim
    assert.equal(one(frames, 'std::vector<int>::push_back').text, 'std::vector<int>::push_back');
    assert.ok(!/<script>alert/.test(svg));
  });

  it('keeps the checker honest', () => {
    assert.throws(() => parseXml('<a><b></a></b>'), /mismatched/);
    assert.throws(() => parseXml('<a>x < y</a>'));
    assert.throws(() => parseXml('<a>AT&T</a>'), /reference|entity/);
    assert.throws(() => parseXml('<a t="<"/>'));
    assert.throws(() => parseXml('<a/><b/>'), /second root/);
    assert.throws(() => parseXml('<a>\u0001</a>'), /not allowed/);
    assert.equal(textOf(parseXml('<a>&lt;&#60;&#x3c;<![CDATA[<&]]></a>')), '<<<<&');
  });
});

describe('folded format', () => {
  it('writes sorted lines and round-trips', () => {
    const stacks: StackCount[] = [
      { frames: ['main', 'work', 'hot'], count: 12 },
      { frames: ['main', 'a b', 'c'], count: 3 },
      { frames: ['main', 'work', 'hot'], count: 8 },
      { frames: ['main'], count: 1 },
      { frames: ['zzz'], count: 9007199254740993n },
      { frames: ['main', 'std::vector<int>::push_back'], count: 2 },
    ];
    const text = toFolded(stacks);
    assert.equal(
      text,
      'main 1\nmain;a b;c 3\nmain;std::vector<int>::push_back 2\nmain;work;hot 20\nzzz 9007199254740993\n',
    );
    const back = parseFolded(text);
    assert.deepEqual(back, [
      { frames: ['main'], count: 1 },
      { frames: ['main', 'a b', 'c'], count: 3 },
      { frames: ['main', 'std::vector<int>::push_back'], count: 2 },
      { frames: ['main', 'work', 'hot'], count: 20 },
      { frames: ['zzz'], count: 9007199254740993n },
    ]);
    assert.equal(toFolded(back), text);
    assert.equal(toFolded([]), '');
    // samples attributed to the root itself (empty stack) survive the round trip
    const rootOnly = toFolded([{ frames: [], count: 7 }, { frames: ['a'], count: 1 }]);
    assert.equal(rootOnly, ' 7\na 1\n');
    assert.deepEqual(parseFolded(rootOnly), [{ frames: [], count: 7 }, { frames: ['a'], count: 1 }]);
  });

  it('makes separators and line breaks in frame names safe', () => {
    const text = toFolded([
      { frames: ['Ljava/lang/String;.valueOf', 'multi\nline\r\nname'], count: 4 },
      { frames: ['Ljava/lang/String:.valueOf', 'multi line name'], count: 1 },
      { frames: ['trailing space  '], count: 2 },
      { frames: ['skip'], count: 0 },
    ]);
    assert.equal(text, 'Ljava/lang/String:.valueOf;multi line name 5\ntrailing space 2\n');
    assert.equal(text.split('\n').length, 3);
    const parsed = parseFolded(text);
    assert.deepEqual(parsed[0].frames, ['Ljava/lang/String:.valueOf', 'multi line name']);
  });

  it('tolerates blank lines, CRLF, tabs and a BOM; errors name the line', () => {
    assert.deepEqual(parseFolded('\uFEFFa;b 1\r\n\r\n   \n a;c\t\t2 \n\n'), [
      { frames: ['a', 'b'], count: 1 },
      { frames: [' a', 'c'], count: 2 },
    ]);
    assert.throws(() => parseFolded('a;b 1\n\na;b\n'), /line 3/);
    assert.throws(() => parseFolded('a;b 1\na;b 1.5\n'), /line 2: invalid count "1\.5"/);
    assert.throws(() => parseFolded('a 1\nb -3'), /line 2/);
    assert.deepEqual(parseFolded(''), []);
  });
});

describe('mergeStacks', () => {
  it('sums identical paths, keeps first-seen order and bigint-ness', () => {
    const merged = mergeStacks([
      { frames: ['a', 'b'], count: 1 },
      { frames: ['a'], count: 2 },
      { frames: ['a', 'b'], count: 3 },
      { frames: ['a;b'], count: 4 },
      { frames: ['x'], count: 1n },
      { frames: ['x'], count: 2 },
      { frames: ['y'], count: Number.MAX_SAFE_INTEGER },
      { frames: ['y'], count: 1 },
    ]);
    assert.deepEqual(merged, [
      { frames: ['a', 'b'], count: 4 },
      { frames: ['a'], count: 2 },
      { frames: ['a;b'], count: 4 },
      { frames: ['x'], count: 3n },
      { frames: ['y'], count: 9007199254740992n },
    ]);
  });

  it('does not alias input arrays and validates', () => {
    const input = { frames: ['a'], count: 1 };
    const [m] = mergeStacks([input]);
    assert.notEqual(m.frames, input.frames);
    assert.throws(() => mergeStacks([{ frames: ['a'], count: -2 }]), RangeError);
    assert.throws(() => mergeStacks([{ frames: 'a' as unknown as string[], count: 1 }]), TypeError);
  });
});

describe('embedded script', () => {
  const stacks: StackCount[] = [
    { frames: ['main', 'f', 'f', 'f'], count: 30 }, // recursion: must count once when searching "f"
    { frames: ['main', 'f', 'g'], count: 10 },
    { frames: ['main', 'h', 'f'], count: 20 },
    { frames: ['main', 'h'], count: 15 },
    { frames: ['other'], count: 25 },
  ];

  it('is present, free of CDATA terminators and compiles', () => {
    const svg = renderFlameGraphSvg(stacks, { title: 't' });
    const src = scriptOf(svg);
    assert.ok(!src.includes(']]>'));
    assert.doesNotThrow(() => new vm.Script(src));
    assert.doesNotThrow(() => new Function(src));
    for (const needle of ['mouseover', 'click', 'keydown', 'Escape', 'prompt', 'RegExp']) assert.ok(src.includes(needle), needle);
    const root = parseXml(svg);
    assert.equal(textOf(byId(root, 'fg-unzoom')), 'Reset Zoom');
    assert.equal(textOf(byId(root, 'fg-search')), 'Search');
  });

  it('shows details on hover', () => {
    const svg = renderFlameGraphSvg(stacks, { title: 't' });
    const { $, frame, rectOf } = runInFakeDom(svg);
    dispatch(rectOf(frame('g')), 'mouseover');
    assert.equal($('fg-details').textContent, 'g (10 samples, 10.00%)');
    dispatch(rectOf(frame('g')), 'mouseout');
    assert.equal($('fg-details').textContent.trim(), '');
  });

  it('zooms into a frame, dims ancestors, hides the rest and resets', () => {
    const svg = renderFlameGraphSvg(stacks, { title: 't', width: 1020 });
    const { $, gs, frame, rectOf, textOfEl, doc } = runInFakeDom(svg);
    const h = frame('h');
    dispatch(rectOf(h), 'click');
    assert.equal(rectOf(h).getAttribute('x'), '10');
    assert.equal(rectOf(h).getAttribute('width'), '1000');
    // h's child f (20 of 35) fills 20/35 of the width
    const hf = gs.filter((g) => g.getAttribute('data-c') === '20')[0];
    assert.ok(Math.abs(Number(rectOf(hf).getAttribute('width')) - 1000 * 20 / 35) < 0.02);
    assert.ok(frame('main').classList.contains('fg-dim'));
    assert.equal(rectOf(frame('main')).getAttribute('width'), '1000');
    assert.ok(frame('all').classList.contains('fg-dim'));
    assert.ok(frame('other').classList.contains('fg-hide'));
    assert.ok(frame('g').classList.contains('fg-hide'));
    assert.ok(!h.classList.contains('fg-hide') && !h.classList.contains('fg-dim'));
    assert.ok(!$('fg-unzoom').classList.contains('fg-off'));
    assert.equal(textOfEl(h), 'h');
    dispatch(doc, 'keydown', { key: 'Escape' });
    assert.ok(!frame('other').classList.contains('fg-hide'));
    assert.ok(!frame('main').classList.contains('fg-dim'));
    assert.ok($('fg-unzoom').classList.contains('fg-off'));
    assert.equal(rectOf(h).getAttribute('width'), String(Math.round(1000 * 35 / 100 * 100) / 100));
    // reset control
    dispatch(rectOf(h), 'click');
    dispatch($('fg-unzoom'), 'click');
    assert.ok(!frame('other').classList.contains('fg-hide'));
  });

  it('searches with a regex, highlights, and counts each sample once', () => {
    const svg = renderFlameGraphSvg(stacks, { title: 't' });
    const { $, gs, rectOf, frame, doc } = runInFakeDom(svg, ['^f$', '^[gh]$', 'MAIN', '(', '']);
    const highlight = (g: FakeElement) => rectOf(g).getAttribute('fill') === 'rgb(224,40,224)';
    dispatch($('fg-search'), 'click');
    // f subtree under main: 40, f under h: 20 -> 60 of 100 (recursive f counted once)
    assert.equal($('fg-matched').textContent, 'Matched: 60.00%');
    assert.equal(gs.filter(highlight).length, 4);
    assert.equal($('fg-search').textContent, 'Reset Search');
    dispatch($('fg-search'), 'click'); // reset
    assert.equal(gs.filter(highlight).length, 0);
    assert.equal($('fg-matched').textContent.trim(), '');
    const ev = dispatch(doc, 'keydown', { key: 'f', ctrlKey: true });
    assert.ok(ev.defaultPrevented);
    assert.equal($('fg-matched').textContent, 'Matched: 45.00%');
    assert.ok(highlight(frame('g')) && highlight(frame('h')) && !highlight(frame('main')));
    dispatch(doc, 'keydown', { key: '/' }); // uppercase term => case-sensitive, no match
    assert.equal($('fg-matched').textContent, 'Matched: 0.00%');
    dispatch(doc, 'keydown', { key: '/' }); // invalid regex "(" falls back to a literal
    assert.equal($('fg-matched').textContent, 'Matched: 0.00%');
    dispatch(doc, 'keydown', { key: '/' }); // empty string resets
    assert.equal($('fg-search').textContent, 'Search');
    assert.equal(gs.filter(highlight).length, 0);
  });
});

describe('large input', () => {
  function generate(n: number, maxDepth: number): StackCount[] {
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const names = Array.from({ length: 400 }, (_, i) => (i % 10 === 0 ? `kfunc_${i}_[k]` : `pkg::mod${i % 17}::fn_${i}<T>`));
    const seen = new Set<string>();
    const out: StackCount[] = [];
    while (out.length < n) {
      const depth = 1 + Math.floor(rnd() * maxDepth);
      const frames = ['main'];
      // a skewed tree: early levels have few choices, deeper ones many
      // fresh string objects per frame, as from a parser or database driver
      for (let d = 1; d < depth; d++) frames.push((' ' + names[Math.floor(rnd() ** 2 * Math.min(names.length, 2 + d * 6))]).slice(1));
      const key = frames.join(';');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ frames, count: 1 + Math.floor(rnd() ** 4 * 1000) });
    }
    return out;
  }

  // Speed is measured in the benchmark, not asserted here; this checks the pruning that keeps large profiles small.
  it('renders 50,000 distinct stacks of depth up to 127 and prunes narrow frames', () => {
    const stacks = generate(50000, 127);
    assert.equal(Math.max(...stacks.map((s) => s.frames.length)), 127);
    const total = stacks.reduce((a, s) => a + Number(s.count), 0);
    const svg = renderFlameGraphSvg(stacks, { title: 'large', width: 1200 });
    const { frames } = framesOf(svg);
    const all = one(frames, 'all');
    assert.equal(all.count, total); // pruned frames still count in their parents
    const minW = 0.1;
    const plotW = 1180;
    const levels = 128;
    assert.ok(frames.length <= levels * (plotW / minW), `frames ${frames.length}`);
    for (const f of frames) assert.ok(f.w >= minW - 0.005, `frame ${f.name} width ${f.w}`);
    // with a coarser threshold the bound is tight enough to matter
    const coarse = framesOf(renderFlameGraphSvg(stacks, { title: 'large', minWidthPx: 5 })).frames;
    assert.ok(coarse.length <= levels * (plotW / 5), `coarse frames ${coarse.length}`);
    assert.ok(coarse.length < frames.length);
    for (const f of coarse) assert.ok(f.w >= 4.995);
    assert.equal(one(coarse, 'all').count, total);
    // children never stick out of their parents
    const maxY = one(coarse, 'all').y;
    const byDepth = new Map<number, ParsedFrame[]>();
    for (const f of coarse) byDepth.set(Math.round((maxY - f.y) / 16), [...(byDepth.get(Math.round((maxY - f.y) / 16)) ?? []), f]);
    for (const [d, fs] of byDepth) {
      if (d === 0) continue;
      const parents = byDepth.get(d - 1)!;
      for (const f of fs) {
        assert.ok(parents.some((p) => f.x >= p.x - 0.011 && f.x + f.w <= p.x + p.w + 0.021), `orphan ${f.name}`);
      }
    }
    const sumSelf = coarse.filter((f) => f.y === maxY - 16).reduce((a, f) => a + f.count, 0);
    assert.ok(sumSelf <= total);
  });
});

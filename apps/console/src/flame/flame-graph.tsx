import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { colourOf, heaviestMatch, pathOf, search, type FlameNode, type FlameTree } from './model';

const ROW = 18;
/** Frames narrower than this many CSS pixels are not drawn, nor anything under them. */
const MIN_PX = 0.35;

interface Drawn {
  x0: number;
  x1: number;
  node: FlameNode;
}

export interface DrawStats {
  ms: number;
  drawn: number;
}

/**
 * Draws the tree under `zoom` across `width` CSS pixels (its ancestors full width), and returns the drawn
 * rectangles per depth for hit-testing. Canvas, not SVG: a 50,000-frame profile would be 50,000 DOM nodes.
 */
function draw(canvas: HTMLCanvasElement, tree: FlameTree, zoom: FlameNode, width: number, icicle: boolean, matches: Set<FlameNode>): { rows: Drawn[][]; stats: DrawStats } {
  const t0 = performance.now();
  const rowsN = tree.maxDepth + 1;
  const height = rowsN * ROW;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.floor(width * dpr));
  canvas.height = Math.floor(height * dpr);
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  const rows: Drawn[][] = Array.from({ length: rowsN }, () => []);
  if (!ctx) return { rows, stats: { ms: 0, drawn: 0 } };
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px "DejaVu Sans Mono", ui-monospace, monospace';
  ctx.textBaseline = 'middle';
  const yOf = (depth: number): number => (icicle ? depth * ROW : (tree.maxDepth - depth) * ROW);
  let drawn = 0;
  const rect = (n: FlameNode, x0: number, w: number, dim: boolean): void => {
    const y = yOf(n.depth);
    ctx.fillStyle = matches.has(n) ? '#d63af0' : colourOf(n, tree);
    ctx.globalAlpha = dim ? 0.55 : 1;
    ctx.fillRect(x0, y + 1, Math.max(w - 1, 0.5), ROW - 2);
    ctx.globalAlpha = 1;
    if (w > 28) {
      const chars = Math.floor((w - 6) / 7.3);
      const label = n.depth === 0 ? 'all' : n.name;
      ctx.fillStyle = '#111';
      ctx.fillText(label.length > chars ? `${label.slice(0, Math.max(chars - 1, 1))}…` : label, x0 + 3, y + ROW / 2, w - 4);
    }
    rows[n.depth].push({ x0, x1: x0 + w, node: n });
    drawn++;
  };
  for (let a = zoom.parent; a; a = a.parent) rect(a, 0, width, true);
  const scale = zoom.value > 0 ? width / zoom.value : 0;
  const stack: FlameNode[] = [zoom];
  while (stack.length > 0) {
    const n = stack.pop()!;
    const w = n.value * scale;
    if (w < MIN_PX) continue;
    rect(n, (n.x - zoom.x) * scale, w, false);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  for (const r of rows) r.sort((a, b) => a.x0 - b.x0);
  return { rows, stats: { ms: performance.now() - t0, drawn } };
}

function hit(rows: Drawn[][], depth: number, x: number): FlameNode | undefined {
  const row = rows[depth];
  if (!row) return undefined;
  let lo = 0;
  let hi = row.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (row[mid].x1 <= x) lo = mid + 1;
    else if (row[mid].x0 > x) hi = mid - 1;
    else return row[mid].node;
  }
  return undefined;
}

const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(2)}%` : '–');

export interface FlameGraphProps {
  tree: FlameTree;
  /** What one unit is: samples, bytes, events. */
  unit?: string;
  title?: string;
}

/** An interactive flame graph: click to zoom, search with match share, flame/icicle, keyboard too. */
export function FlameGraph({ tree, unit = 'samples', title }: FlameGraphProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const rows = useRef<Drawn[][]>([]);
  const [zoom, setZoom] = useState<FlameNode>(tree.root);
  const [icicle, setIcicle] = useState(false);
  const [query, setQuery] = useState('');
  const [hover, setHover] = useState<{ node: FlameNode; x: number; y: number } | undefined>();
  const [stats, setStats] = useState<DrawStats>({ ms: 0, drawn: 0 });
  const [width, setWidth] = useState(0);
  const found = useMemo(() => search(tree, query), [tree, query]);

  useEffect(() => setZoom(tree.root), [tree]);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    if (!canvas.current || width <= 0) return;
    const out = draw(canvas.current, tree, zoom, width, icicle, found.matches);
    rows.current = out.rows;
    setStats(out.stats);
  }, [tree, zoom, width, icicle, found]);

  const nodeAt = (e: MouseEvent): FlameNode | undefined => {
    const c = canvas.current!;
    const r = c.getBoundingClientRect();
    const x = e.clientX - r.left;
    const row = Math.floor((e.clientY - r.top) / ROW);
    const depth = icicle ? row : tree.maxDepth - row;
    return hit(rows.current, depth, x);
  };
  const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'Escape') setZoom(tree.root);
    else if ((e.key === 'ArrowUp' && !icicle) || (e.key === 'ArrowDown' && icicle)) {
      const heaviest = [...zoom.children].sort((a, b) => b.value - a.value)[0];
      if (heaviest) setZoom(heaviest);
    } else if ((e.key === 'ArrowDown' && !icicle) || (e.key === 'ArrowUp' && icicle) || e.key === 'Backspace') {
      if (zoom.parent) setZoom(zoom.parent);
    } else return;
    e.preventDefault();
  };
  const total = tree.root.value;
  const matchPct = found.percent.toFixed(2);

  return (
    <section class="flame" aria-label={title ?? 'flame graph'}>
      <div class="flame-bar">
        <label>
          Search{' '}
          <input
            type="search"
            data-testid="flame-search"
            placeholder="function, or /regex/"
            value={query}
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                const best = heaviestMatch(found);
                if (best) setZoom(best);
              }
            }}
          />
        </label>
        {query && (
          <span data-testid="flame-match" class="match">
            Matched: {matchPct}% ({found.matches.size} frames)
          </span>
        )}
        <button type="button" data-testid="flame-zoom-match" disabled={found.matches.size === 0} onClick={() => setZoom(heaviestMatch(found)!)}>
          Zoom to match
        </button>
        <button type="button" data-testid="flame-reset" disabled={zoom === tree.root} onClick={() => setZoom(tree.root)}>
          Reset zoom
        </button>
        <button type="button" data-testid="flame-orientation" aria-pressed={icicle} onClick={() => setIcicle(!icicle)}>
          {icicle ? 'Icicle' : 'Flame'}
        </button>
        <span class="muted" data-testid="flame-stats" data-render-ms={stats.ms.toFixed(1)} data-drawn={stats.drawn} data-frames={tree.frames}>
          {tree.frames.toLocaleString()} frames · {total.toLocaleString()} {unit} · drawn {stats.drawn.toLocaleString()} in {stats.ms.toFixed(1)} ms
        </span>
      </div>
      <div class="flame-crumbs" data-testid="flame-zoom" data-path={pathOf(zoom)}>
        {zoom === tree.root ? 'all' : `zoomed: ${zoom.name} · ${zoom.value.toLocaleString()} ${unit} (${pct(zoom.value, total)})`}
      </div>
      <div class="flame-box" ref={box}>
        <canvas
          ref={canvas}
          tabIndex={0}
          role="img"
          aria-label={`flame graph, ${tree.frames} frames; click a frame to zoom, Escape resets, arrows walk up and down`}
          data-testid="flame-canvas"
          onClick={(e) => {
            const n = nodeAt(e);
            if (n) setZoom(n);
          }}
          onMouseMove={(e) => {
            const n = nodeAt(e);
            setHover(n ? { node: n, x: e.offsetX, y: e.offsetY } : undefined);
          }}
          onMouseLeave={() => setHover(undefined)}
          onKeyDown={onKey}
        />
        {hover && (
          <div class="tip" style={{ left: `${Math.min(hover.x + 12, Math.max(width - 320, 0))}px`, top: `${hover.y > (tree.maxDepth + 1) * ROW - 80 ? Math.max(hover.y - 70, 0) : hover.y + 16}px` }}>
            <b>{hover.node.depth === 0 ? 'all' : hover.node.name}</b>
            <br />
            {hover.node.value.toLocaleString()} {unit} · {pct(hover.node.value, total)} of all · {pct(hover.node.value, zoom.value)} of zoom
            {tree.diff && (
              <>
                <br />
                base {hover.node.base.toLocaleString()} ({pct(hover.node.base, tree.baseTotal)}) → target {hover.node.value.toLocaleString()} ({pct(hover.node.value, total)})
              </>
            )}
          </div>
        )}
      </div>
    </section>
  );
}

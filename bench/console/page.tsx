// The bench page: the console's own FlameGraph component (apps/console/src/flame) on a synthetic profile,
// timed in the browser. Bundled by bench/console.mjs with esbuild; not part of the product.
import { render } from 'preact';
import { FlameGraph } from '../../apps/console/src/flame/flame-graph';
import { parseFolded } from '../../apps/console/src/flame/model';

declare global {
  interface Window {
    benchResult?: Record<string, number>;
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const text = await (await fetch('/profile.folded')).text();
  const t1 = performance.now();
  const { tree } = parseFolded(text);
  const t2 = performance.now();
  render(<FlameGraph tree={tree} />, document.getElementById('app')!);
  // The first draw happens in an effect after the first layout: wait until the stats say something was drawn.
  const stats = (): HTMLElement => document.querySelector('[data-testid="flame-stats"]') as HTMLElement;
  while (!stats() || Number(stats().dataset.drawn) === 0) await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(r));
  const t3 = performance.now();
  window.benchResult = { fetchMs: t1 - t0, parseMs: t2 - t1, firstDrawMs: t3 - t2, drawMs: Number(stats().dataset.renderMs), drawn: Number(stats().dataset.drawn), frames: tree.frames, totalMs: t3 - t0 };
}

void main();

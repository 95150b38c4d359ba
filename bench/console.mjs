// Console flame graph at scale (issue 18): a synthetic 50,000-frame profile drawn by the console's canvas
// FlameGraph in Debian's chromium, against the controller's own SVG flame graph of the same stacks opened in
// the same browser in the same run. Timed in the page (performance.now), medians of ROUNDS fresh pages.
// No stack needed: the page is served from here; everything started here is closed here.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { machine, median, publish, root } from './lib.mjs';

const require = createRequire(import.meta.url);
const FRAMES = 50_000;
const ROUNDS = 5;
const CHROMIUM = process.env.TRACEFLEET_CHROMIUM ?? '/usr/bin/chromium';

/** A deterministic tree of exactly `n` frames with uneven fan-out and weights, as folded lines. */
export function syntheticFolded(n, seed = 42) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const nodes = [{ path: '', depth: 0, kids: 0 }];
  let made = 0;
  const open = [0];
  while (made < n) {
    const i = open[Math.floor(rnd() * open.length)];
    const parent = nodes[i];
    const name = `${['fn', 'mod::call', 'lib_', 'std::vector<int>::push_back', 'runtime.'][made % 5]}${made}`;
    nodes.push({ path: parent.path ? `${parent.path};${name}` : name, depth: parent.depth + 1, kids: 0 });
    parent.kids++;
    made++;
    if (parent.depth + 1 < 40) open.push(nodes.length - 1);
  }
  return nodes
    .slice(1)
    .filter((x) => x.kids === 0 || rnd() < 0.1)
    .map((x) => `${x.path} ${1 + Math.floor(rnd() * rnd() * 200)}`)
    .join('\n');
}

export async function consoleBench() {
  const folded = syntheticFolded(FRAMES);
  const bundle = await build({
    entryPoints: [join(root, 'bench/console/page.tsx')],
    bundle: true,
    write: false,
    format: 'esm',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    logLevel: 'warning',
  });
  const { renderFlameGraphSvg } = require(join(root, 'apps/controller/dist/profiles/flamegraph/flamegraph.js'));
  const stacks = folded.split('\n').map((l) => {
    const sp = l.lastIndexOf(' ');
    return { frames: l.slice(0, sp).split(';'), count: Number(l.slice(sp + 1)) };
  });
  const svg = renderFlameGraphSvg(stacks, { title: 'bench', width: 1200 });
  const files = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><body><div id="app" style="width:1200px"></div><script type="module" src="/page.js"></script>'],
    '/page.js': ['text/javascript', bundle.outputFiles[0].text],
    '/profile.folded': ['text/plain', folded],
    '/profile.svg': ['image/svg+xml', svg],
  };
  const server = createServer((req, res) => {
    const f = files[req.url ?? ''];
    if (!f) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[0] }).end(f[1]);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const canvas = [];
  const svgRuns = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${base}/`);
      await page.waitForFunction('window.benchResult !== undefined', undefined, { timeout: 60_000 });
      const first = await page.evaluate('window.benchResult');
      // Interactions: a search over every frame, then a zoom click and its redraw.
      const searchMs = await page.evaluate(`(async () => {
        const input = document.querySelector('[data-testid="flame-search"]');
        const t = performance.now();
        input.value = '::call'; input.dispatchEvent(new Event('input', { bubbles: true }));
        while (!document.querySelector('[data-testid="flame-match"]')) await new Promise((r) => requestAnimationFrame(r));
        return performance.now() - t;
      })()`);
      const box = await page.getByTestId('flame-canvas').boundingBox();
      await page.getByTestId('flame-canvas').click({ position: { x: box.width / 3, y: box.height - 30 } });
      await page.waitForFunction(`document.querySelector('[data-testid="flame-zoom"]').dataset.path !== ''`);
      const zoomDrawMs = Number(await page.getByTestId('flame-stats').getAttribute('data-render-ms'));
      canvas.push({ ...first, searchMs, zoomDrawMs });
      await page.close();

      const svgPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const t0 = Date.now();
      await svgPage.goto(`${base}/profile.svg`, { waitUntil: 'load' });
      const nav = await svgPage.evaluate(`(() => { const n = performance.getEntriesByType('navigation')[0]; return { loadMs: n.loadEventEnd - n.startTime, rects: document.querySelectorAll('rect').length }; })()`);
      svgRuns.push({ ...nav, wallMs: Date.now() - t0 });
      await svgPage.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  const results = {
    date: new Date().toISOString(),
    machine: machine(),
    frames: FRAMES,
    foldedBytes: folded.length,
    svgBytes: svg.length,
    rounds: ROUNDS,
    canvas: { fetchMs: m(canvas, 'fetchMs'), parseMs: m(canvas, 'parseMs'), firstDrawMs: m(canvas, 'firstDrawMs'), drawMs: m(canvas, 'drawMs'), totalMs: m(canvas, 'totalMs'), searchMs: m(canvas, 'searchMs'), zoomDrawMs: m(canvas, 'zoomDrawMs'), drawn: m(canvas, 'drawn'), runs: canvas },
    svg: { loadMs: m(svgRuns, 'loadMs'), rects: m(svgRuns, 'rects'), runs: svgRuns },
  };
  publish('console', results, render(results));
}

export function render(r) {
  const c = r.canvas;
  const f = (x) => `${x.toFixed(1)} ms`;
  return [
    `## Console flame graph (${r.frames.toLocaleString('en-US')} frames)`,
    '',
    `Run ${r.date} on ${r.machine.cpus} CPUs, kernel ${r.machine.kernel}, Debian chromium headless; medians of ${r.rounds} fresh pages; raw figures in bench/results/console.json.`,
    `A synthetic profile of exactly ${r.frames.toLocaleString('en-US')} frames (${(r.foldedBytes / 1024).toFixed(0)} KiB folded). Baseline: the controller's own SVG flame graph of the same stacks (${(r.svgBytes / 1024).toFixed(0)} KiB, ${r.svg.rects.toLocaleString('en-US')} rects) opened in the same browser, same run.`,
    '',
    '| measure | figure |',
    '|---|---|',
    `| Console: fetch + parse + first draw (to the first painted frame) | ${f(c.totalMs)} (parse ${f(c.parseMs)}, first draw ${f(c.firstDrawMs)}) |`,
    `| Console: canvas draw alone (${c.drawn.toLocaleString('en-US')} frames wide enough to draw) | ${f(c.drawMs)} |`,
    `| Console: search over every frame → match share shown | ${f(c.searchMs)} |`,
    `| Console: click to zoom → redrawn | ${f(c.zoomDrawMs)} |`,
    `| SVG flame graph of the same stacks: navigation → load event | ${f(r.svg.loadMs)} |`,
    `| Console first view / SVG load (same run) | ${(c.totalMs / r.svg.loadMs).toFixed(2)} |`,
  ].join('\n');
}

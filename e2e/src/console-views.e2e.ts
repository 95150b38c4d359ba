import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { FIXTURES, WORK, buildC, sleep, startRunningJob, startStack, waitFor, waitForLibc, waitJob, type Stack } from './harness';
import { launchBrowser, pageErrors, shot } from './browser';
import { launchCollecting, selfSignedCert } from './processes';

/**
 * The console's result views of the other job types, an incident and a schedule's reports, in Debian's
 * chromium against real jobs: each view shows what the API answered (counts, histograms, charts, breakdowns).
 */
describe('the web console: usdt, memleak, incident and schedule views', () => {
  let stack: Stack;
  let hotBin: string;
  let browser: Browser;
  let origin: string;
  let hot: ChildProcess;
  let page: Page;
  let errors: string[];
  const children: ChildProcess[] = [];
  const contexts: BrowserContext[] = [];

  before(async () => {
    hotBin = buildC('hot');
    stack = await startStack();
    origin = new URL(stack.base).origin;
    browser = await launchBrowser();
    hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    children.push(hot);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(ctx);
    page = await ctx.newPage();
    errors = pageErrors(page);
    await page.goto(`${origin}/`);
    await page.getByLabel('API or capture token').fill(stack.apiToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
  });

  function launch(bin: string, args: string[]): ChildProcess {
    const child = spawn(bin, args, { stdio: 'ignore' });
    children.push(child);
    return child;
  }

  it('usdt: per-probe counts and the pair histogram', async () => {
    const N = 2000;
    const go = join(WORK, `console-sdt-${process.pid}.go`);
    rmSync(go, { force: true });
    const prog = launch(buildC('sdt_demo'), [String(N), go]);
    await sleep(200);
    const id = await startRunningJob(stack, { type: 'usdt', durationSec: 4, target: { pid: prog.pid }, probes: ['tfdemo:tick', 'tfdemo:guarded'], pairs: [{ label: 'tick_to_guarded', begin: 'tfdemo:tick', end: 'tfdemo:guarded' }] });
    writeFileSync(go, '');
    assert.equal((await waitJob(stack, id, 30_000)).status, 'completed');
    rmSync(go, { force: true });
    await page.goto(`${origin}/#/jobs/${id}`);
    const probes = page.getByRole('table', { name: 'probes' });
    await probes.waitFor();
    assert.match(await probes.innerText(), new RegExp(`tfdemo:tick\\s+${N.toLocaleString('en-US')}`));
    const hist = page.getByRole('table', { name: 'tick_to_guarded latency' });
    await hist.waitFor();
    assert.ok((await hist.locator('tr').count()) >= 1, 'at least one histogram bucket');
    await shot(page, '10-usdt');
  });

  it('memleak: outstanding bytes per node and per top stack over time, and the leaking stack', async () => {
    const go = join(WORK, `console-leak-${process.pid}.go`);
    rmSync(go, { force: true });
    const prog = launch(buildC('leak'), ['basic', '40', go]);
    await waitForLibc(prog.pid!);
    const id = await startRunningJob(stack, { type: 'memleak', durationSec: 7, intervalSec: 2, target: { pid: prog.pid } });
    writeFileSync(go, '');
    assert.equal((await waitJob(stack, id, 60_000)).status, 'completed');
    rmSync(go, { force: true });
    await page.goto(`${origin}/#/jobs/${id}`);
    await page.getByTestId('memleak-chart').waitFor();
    const stackChart = page.getByTestId('memleak-stack-chart').first();
    await stackChart.waitFor();
    assert.ok(Number(await stackChart.getAttribute('data-lines')) >= 1, 'a line per top stack');
    assert.ok((await stackChart.locator('polyline').count()) >= 1);
    assert.match(await page.getByRole('table', { name: 'leaking stacks' }).innerText(), /leak_here/);
    await shot(page, '11-memleak');
  });

  it('an incident: the per-node breakdown, start skew, top functions and merged flame graph', async () => {
    const inc = await stack.api('POST', '/incidents', { name: 'console-check', nodes: 'all', bundle: [{ type: 'cpu-profile', durationSec: 2, target: { pid: hot.pid } }] });
    assert.equal(inc.status, 201, inc.text);
    await page.goto(`${origin}/#/incidents`);
    await page.getByRole('link', { name: inc.json.id.slice(0, 8) }).click();
    await page.getByText(/start skew/).waitFor();
    const perNode = page.getByRole('table', { name: 'per node' });
    await perNode.locator(`text=${stack.nodeName}`).waitFor();
    await page.getByRole('table', { name: 'top functions' }).getByText('hot_spin').waitFor({ timeout: 30_000 });
    await page.getByTestId('flame-canvas').waitFor();
    await shot(page, '12-incident');
  });

  it('a schedule: its reports, top functions and the diff against the previous report', async () => {
    const sched = await stack.api('POST', '/schedules', { name: 'console-check', everyMs: 5000, nodes: 'all', job: { type: 'cpu-profile', durationSec: 1, target: { pid: hot.pid } } });
    assert.equal(sched.status, 201, sched.text);
    const sid = sched.json.id as string;
    try {
      await waitFor(async () => ((await stack.api('GET', `/schedules/${sid}/reports`)).json.reports ?? []).filter((r: { status: string }) => r.status === 'ready').length >= 2, 60_000, 'two ready reports');
      await page.goto(`${origin}/#/schedules`);
      await page.getByRole('link', { name: sid.slice(0, 8) }).click();
      const reports = page.getByRole('table', { name: 'reports' });
      await reports.waitFor();
      await page.getByRole('link', { name: /^#2$/ }).click();
      await page.getByText('Against report #1').waitFor();
      await page.getByRole('table', { name: 'top functions' }).getByText('hot_spin').waitFor();
      const img = page.getByRole('img', { name: 'differential flame graph against the previous report' });
      await waitFor(async () => (await img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth)) > 0, 10_000, 'the diff SVG to load');
      await shot(page, '13-schedule');
    } finally {
      await stack.api('DELETE', `/schedules/${sid}`);
    }
    assert.deepEqual(errors, [], 'no script errors or CSP violations on any page');
  });

  it('fleet filter, the form\'s live node count and a job on a label selector agree; the jobs list filters by type', async () => {
    await stack.startAgent('console-b', 'zone=b,tier=web');
    await page.goto(`${origin}/#/fleet`);
    await page.getByTestId('fleet-selector').fill('zone in (b),tier=web');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByTestId('fleet-count').filter({ hasText: /^1 node$/ }).waitFor();
    assert.equal(await page.locator('tr[data-node="console-b"]').count(), 1);
    assert.equal(await page.locator(`tr[data-node="${stack.nodeName}"]`).count(), 0);
    await shot(page, '14-fleet-filter');

    await page.goto(`${origin}/#/new`);
    await page.getByRole('radio', { name: 'all processes' }).check();
    await page.locator('#f-durationSec').fill('1');
    await page.getByRole('radio', { name: 'label selector' }).check();
    await page.locator('#f-nodes').fill('zone in (b)');
    await page.getByTestId('node-count').filter({ hasText: '1 connected node matches: console-b' }).waitFor();
    await page.locator('#f-nodes').fill('!zone');
    await page.getByTestId('node-count').filter({ hasText: `1 connected node matches: ${stack.nodeName}` }).waitFor();
    await page.locator('#f-nodes').fill('zone=b');
    await page.getByTestId('node-count').filter({ hasText: '1 connected node matches: console-b' }).waitFor();
    await page.getByTestId('submit-job').click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const id = /#\/jobs\/([0-9a-f-]{36})$/.exec(page.url())![1];
    const job = await waitJob(stack, id);
    assert.deepEqual(job.selection.selected, ['console-b'], 'the selector string ran on the node it counted');
    assert.deepEqual(job.selection.selector, { labels: { zone: 'b' } }, 'stored as labels, as if written that way');

    await page.goto(`${origin}/#/jobs?type=usdt`);
    const rows = page.getByRole('table', { name: 'jobs' }).locator('tbody tr');
    await rows.first().waitFor();
    const types = await rows.locator('td:nth-child(2)').allInnerTexts();
    assert.ok(types.length >= 1 && types.every((t) => t === 'usdt'), `types listed: ${types.join(', ')}`);
  });

  it('draws a hostile process name as text: no markup from traced processes reaches the page', async () => {
    const evil = join(WORK, '<svg onload=1>');
    copyFileSync(hotBin, evil);
    const prog = launch(evil, ['0']);
    await sleep(300);
    const id = await startRunningJob(stack, { type: 'cpu-profile', durationSec: 2, target: { pid: prog.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal((await waitJob(stack, id)).status, 'completed');
    prog.kill('SIGKILL');
    rmSync(evil, { force: true });
    await page.goto(`${origin}/#/jobs/${id}`);
    const canvas = page.getByTestId('flame-canvas');
    await canvas.waitFor();
    await page.getByTestId('flame-search').fill('<svg onload=1>');
    assert.match(await page.getByTestId('flame-match').innerText(), /Matched: 100\.00%/, 'the process name is the root frame of every stack');
    const box = (await canvas.boundingBox())!;
    await canvas.hover({ position: { x: box.width / 2, y: box.height - 27 } });
    await page.locator('.tip').filter({ hasText: '<svg onload=1>' }).waitFor();
    assert.equal(await page.locator('main svg').count(), 0, 'the name did not become an element');
    await shot(page, '15-hostile-name');
  });

  it('ssl-capture with the capture token: events appear live on the job page while the job runs, and the HTTP exchange after', async () => {
    const dir = join(WORK, `console-ssl-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const cert = selfSignedCert(dir);
    const server = launchCollecting(children, '/usr/bin/node', [join(FIXTURES, 'tls_echo_server.js'), cert.cert, cert.key]);
    await waitFor(async () => /"port":\d+/.test(server.output()), 10_000, 'the TLS test server');
    const port = JSON.parse(server.output().split('\n')[0]).port;
    const go = join(dir, 'go');
    const marker = `console-${process.pid}`;
    const client = launchCollecting(children, '/usr/bin/node', [join(FIXTURES, 'https_client.js'), `https://127.0.0.1:${port}/${marker}`, go, '40', '250']);
    await waitFor(async () => client.output().includes('ready'), 10_000, 'the node client');
    const id = await startRunningJob(stack, { type: 'ssl-capture', durationSec: 12, maxDataBytes: 4096, target: { pid: client.pid } }, stack.captureToken);

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(ctx);
    const cap = await ctx.newPage();
    const capErrors = pageErrors(cap);
    await cap.goto(`${origin}/`);
    await cap.getByLabel('API or capture token').fill(stack.captureToken);
    await cap.getByRole('button', { name: 'Sign in' }).click();
    await cap.getByTestId('who').waitFor();
    await cap.goto(`${origin}/#/jobs/${id}`);
    const events = cap.getByRole('table', { name: 'ssl events' });
    await events.waitFor();
    writeFileSync(go, '');
    // Live: rows arrive through the event stream while the job is still running.
    await events.getByText(new RegExp(`GET /${marker}`)).first().waitFor({ timeout: 15_000 });
    const liveStatus = await cap.getByTestId('progress').getAttribute('data-status');
    assert.equal(liveStatus, 'running', 'the events showed up before the job ended');
    await cap.locator('[data-testid="progress"][data-status="completed"]').waitFor({ timeout: 30_000 });
    await cap.getByRole('table', { name: 'connections' }).getByText(new RegExp(`GET /${marker} → 200`)).first().waitFor({ timeout: 15_000 });
    await shot(cap, '16-ssl-live');
    assert.deepEqual(capErrors, []);
    rmSync(dir, { recursive: true, force: true });
  });
});

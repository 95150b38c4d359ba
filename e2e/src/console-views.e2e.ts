import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { WORK, buildC, sleep, startRunningJob, startStack, waitFor, waitForLibc, waitJob, type Stack } from './harness';
import { launchBrowser, pageErrors, shot } from './browser';

/**
 * The console's result views of the other job types, an incident and a schedule's reports, in Debian's
 * chromium against real jobs: each view shows what the API answered (counts, histograms, charts, breakdowns).
 */
describe('the web console: usdt, memleak, incident and schedule views', () => {
  let stack: Stack;
  let browser: Browser;
  let origin: string;
  let hot: ChildProcess;
  let page: Page;
  let errors: string[];
  const children: ChildProcess[] = [];
  const contexts: BrowserContext[] = [];

  before(async () => {
    const hotBin = buildC('hot');
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
});

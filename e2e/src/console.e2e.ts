import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildC, sleep, startStack, waitFor, waitJob, type Stack } from './harness';
import { launchBrowser, pageErrors, shot } from './browser';

/**
 * The web console in Debian's chromium against a real controller, agent, kernel, PostgreSQL and Redis:
 * what issue 18 asks a user to be able to do, through the page as a user does it.
 */
describe('the web console in a browser', () => {
  let stack: Stack;
  let browser: Browser;
  let origin: string;
  let hot: ChildProcess;
  const contexts: BrowserContext[] = [];

  before(async () => {
    const hotBin = buildC('hot');
    stack = await startStack();
    origin = new URL(stack.base).origin;
    browser = await launchBrowser();
    hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    await sleep(300);
  });

  after(async () => {
    if (hot && hot.exitCode === null) hot.kill('SIGKILL');
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
  });

  async function open(width = 1280, height = 900): Promise<{ page: Page; errors: string[]; ctx: BrowserContext }> {
    const ctx = await browser.newContext({ viewport: { width, height } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    const errors = pageErrors(page);
    await page.goto(`${origin}/`);
    return { page, errors, ctx };
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.getByLabel('API or capture token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  }

  it('refuses a wrong token, then profiles from the form, shows progress to completed, finds and zooms the hot function, and diffs two runs', async () => {
    const { page, errors, ctx } = await open();
    await page.getByLabel('API or capture token').fill('not-the-token-' + 'x'.repeat(30));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: '401' }).waitFor();
    assert.deepEqual(await ctx.cookies(), [], 'a refused sign-in sets no cookie');
    await signIn(page, stack.apiToken);
    assert.match(await page.getByTestId('who').innerText(), /api token/);
    const [cookie] = await ctx.cookies();
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'scripts cannot read the session cookie');

    await page.goto(`${origin}/#/new`);
    await page.getByLabel('Type').selectOption('cpu-profile');
    await page.getByRole('radio', { name: 'pid' }).check();
    await page.getByRole('textbox', { name: 'target pid' }).fill(String(hot.pid));
    await page.locator('#f-durationSec').fill('5');
    await page.getByRole('radio', { name: 'node names' }).check();
    await page.locator('#f-nodes').fill(stack.nodeName);
    await page.getByTestId('node-count').filter({ hasText: `1 connected node matches: ${stack.nodeName}` }).waitFor();
    await shot(page, '01-new-job-form');
    await page.getByTestId('submit-job').click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const id = /#\/jobs\/([0-9a-f-]{36})$/.exec(page.url())![1];

    const progress = page.getByTestId('progress');
    const seen = new Set<string>();
    const t0 = Date.now();
    while (Date.now() - t0 < 40_000) {
      const s = (await progress.getAttribute('data-status')) ?? '';
      seen.add(s);
      if (s === 'completed') break;
      await sleep(200);
    }
    assert.ok(seen.has('completed'), `statuses seen: ${[...seen].join(', ')}`);
    assert.ok(seen.has('running'), `the page showed the job running before it completed: ${[...seen].join(', ')}`);
    assert.ok(Number((await page.getByTestId('samples-stored').innerText()).replace(/,/g, '')) > 100, 'samples stored shown');
    await page.locator(`tr[data-node="${stack.nodeName}"] [data-status="completed"]`).waitFor();

    const canvas = page.getByTestId('flame-canvas');
    await canvas.waitFor();
    await page.getByTestId('flame-search').fill('hot_spin');
    const match = await page.getByTestId('flame-match').innerText();
    const pct = Number(/Matched: ([\d.]+)%/.exec(match)![1]);
    assert.ok(pct >= 50, `hot_spin holds most samples: ${match}`);
    await shot(page, '02-job-search');
    await page.getByTestId('flame-search').press('Enter');
    assert.match((await page.getByTestId('flame-zoom').getAttribute('data-path'))!, /hot_spin$/, 'Enter zooms to the heaviest match');
    await shot(page, '03-job-zoomed');
    await canvas.focus();
    await page.keyboard.press('Escape');
    assert.equal(await page.getByTestId('flame-zoom').getAttribute('data-path'), '', 'Escape resets the zoom');
    // A click on a frame zooms into it too: the widest frame under the root sits in the bottom row's middle.
    const box = (await canvas.boundingBox())!;
    await canvas.click({ position: { x: box.width / 2, y: box.height - 25 } });
    assert.notEqual(await page.getByTestId('flame-zoom').getAttribute('data-path'), '', 'a click zooms');
    await page.getByTestId('flame-orientation').click();
    assert.equal(await page.getByTestId('flame-orientation').innerText(), 'Icicle');
    assert.ok(Number(await page.getByTestId('flame-stats').getAttribute('data-drawn')) > 0);

    // A second run to compare with (through the API: the form was shown above).
    const second = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 2, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(second.status, 201, second.text);
    assert.equal((await waitJob(stack, second.json.id)).status, 'completed');
    await page.getByTestId('compare-link').click();
    await page.waitForURL(/#\/compare\?base=/);
    await page.getByTestId('compare-target').selectOption(second.json.id);
    await page.getByTestId('compare-go').click();
    await page.getByTestId('diff-legend').waitFor();
    assert.ok(Number(await page.getByTestId('flame-stats').getAttribute('data-frames')) > 0);
    assert.match(page.url(), new RegExp(`base=${id}&target=${second.json.id}`));
    await shot(page, '04-compare');
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
  });

  it('shows the API\'s message next to the field it names', async () => {
    const { page } = await open();
    await signIn(page, stack.apiToken);
    await page.goto(`${origin}/#/new`);
    await page.getByRole('radio', { name: 'comm' }).check();
    await page.getByRole('textbox', { name: 'target comm' }).fill('hot');
    await page.locator('#f-durationSec').fill('999999');
    await page.locator('#f-frequencyHz').fill('0');
    await page.getByTestId('submit-job').click();
    const duration = page.getByTestId('error-durationSec');
    await duration.waitFor();
    assert.match(await duration.innerText(), /^durationSec /);
    assert.match(await page.getByTestId('error-frequencyHz').innerText(), /^frequencyHz must not be less than 1/);
    // The message sits in the field's own block, next to its input.
    assert.equal(await page.locator('[data-field="durationSec"] [data-testid="error-durationSec"]').count(), 1);
    await page.getByRole('radio', { name: 'label selector' }).check();
    await page.locator('#f-nodes').fill('zone in (a');
    await page.getByTestId('node-count').filter({ hasText: /unbalanced/ }).waitFor();
    await shot(page, '05-form-errors');
  });

  it('stops a running job from its page: it ends stopped within 2 s and keeps its samples', async () => {
    const { page } = await open();
    await signIn(page, stack.apiToken);
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 120, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    await page.goto(`${origin}/#/jobs/${created.json.id}`);
    await waitFor(async () => Number((await page.getByTestId('samples-stored').innerText()).replace(/,/g, '')) > 0, 30_000, 'samples shown while it runs');
    const clicked = Date.now();
    await page.getByTestId('stop-job').click();
    await page.locator('[data-testid="progress"][data-status="stopped"]').waitFor({ timeout: 10_000 });
    const ms = Date.now() - clicked;
    assert.ok(ms <= 2000, `stopped ${ms} ms after the click`);
    const job = (await stack.api('GET', `/jobs/${created.json.id}`)).json;
    assert.equal(job.status, 'stopped');
    assert.equal(job.stoppedBy, 'api');
    assert.ok(job.totals.samplesStored > 0, 'what was captured is kept');
    await page.getByTestId('flame-canvas').waitFor();
    await shot(page, '06-stopped');
  });

  it('refuses a state change without the CSRF token, and a signed-out cookie', async () => {
    const { page, ctx } = await open();
    await signIn(page, stack.apiToken);
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 30, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    const id = created.json.id as string;
    const noCsrf = await page.evaluate(async (jobId) => (await fetch(`/api/v1/jobs/${jobId}/stop`, { method: 'POST' })).status, id);
    assert.equal(noCsrf, 403, 'the cookie alone cannot change state');
    const wrongCsrf = await page.evaluate(async (jobId) => (await fetch(`/api/v1/jobs/${jobId}/stop`, { method: 'POST', headers: { 'x-csrf-token': 'guess' } })).status, id);
    assert.equal(wrongCsrf, 403);
    assert.equal((await stack.api('GET', `/jobs/${id}`)).json.status !== 'stopped', true, 'the job was not stopped');
    const [cookie] = await ctx.cookies();
    const withCookie = (path: string) => fetch(`${origin}/api/v1${path}`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal((await withCookie('/jobs?limit=1')).status, 200);
    await page.getByTestId('sign-out').click();
    await page.getByLabel('API or capture token').waitFor();
    assert.equal((await withCookie('/jobs?limit=1')).status, 401, 'the old cookie ends with the session');
    await stack.api('POST', `/jobs/${id}/stop`);
  });

  it('with the API token, offers no ssl-capture and its URLs answer 403; the capture token has them', async () => {
    const ssl = await stack.api('POST', '/jobs', { type: 'ssl-capture', durationSec: 1, target: { comm: 'curl' }, nodes: { names: [stack.nodeName] } }, stack.captureToken);
    assert.equal(ssl.status, 201, ssl.text);
    await waitJob(stack, ssl.json.id);

    const { page, ctx } = await open();
    await signIn(page, stack.apiToken);
    await page.goto(`${origin}/#/new`);
    await page.locator('#f-type option[value="cpu-profile"]').waitFor({ state: 'attached' });
    const types = await page.getByLabel('Type').locator('option').allInnerTexts();
    assert.ok(types.includes('cpu-profile') && !types.includes('ssl-capture'), `types offered: ${types.join(', ')}`);
    await page.goto(`${origin}/#/jobs/${ssl.json.id}`);
    await page.getByText("This job's results need the ssl-capture scope.").waitFor();
    assert.equal(await page.getByRole('table', { name: 'ssl events' }).count(), 0);
    const [cookie] = await ctx.cookies();
    for (const path of [`/jobs/${ssl.json.id}/ssl-events`, `/jobs/${ssl.json.id}/http`, `/jobs/${ssl.json.id}/ssl-events/stream`, `/jobs/${ssl.json.id}/flamegraph.folded`]) {
      const res = await fetch(`${origin}/api/v1${path}`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
      assert.equal(res.status, 403, path);
    }
    await shot(page, '07-api-token-ssl-job');

    const capture = await open();
    await signIn(capture.page, stack.captureToken);
    await capture.page.goto(`${origin}/#/new`);
    await capture.page.locator('#f-type option[value="cpu-profile"]').waitFor({ state: 'attached' });
    assert.ok((await capture.page.getByLabel('Type').locator('option').allInnerTexts()).includes('ssl-capture'));
    await capture.page.goto(`${origin}/#/jobs/${ssl.json.id}`);
    await capture.page.getByRole('table', { name: 'ssl events' }).waitFor();
  });

  it('is reachable by keyboard: sign in, move between pages, and walk a flame graph', async () => {
    const { page } = await open();
    await page.getByLabel('API or capture token').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'token', 'the first Tab lands in the token field');
    await page.keyboard.type(stack.apiToken);
    await page.keyboard.press('Enter');
    await page.getByTestId('who').waitFor();
    const focused = (): Promise<string> => page.evaluate('document.activeElement ? document.activeElement.textContent : ""') as Promise<string>;
    for (let i = 0; i < 10 && (await focused()) !== 'Compare'; i++) await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Compare', 'the main navigation is in the tab order');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/compare$/);
    const done = await stack.api('GET', '/jobs?type=cpu-profile&status=completed&limit=1');
    await page.goto(`${origin}/#/jobs/${done.json.jobs[0].id}`);
    const canvas = page.getByTestId('flame-canvas');
    await canvas.waitFor();
    await canvas.focus();
    await page.keyboard.press('ArrowUp');
    const one = await page.getByTestId('flame-zoom').getAttribute('data-path');
    assert.ok(one && !one.includes(';'), `ArrowUp zooms into the heaviest child of the root: ${one}`);
    await page.keyboard.press('ArrowUp');
    assert.match((await page.getByTestId('flame-zoom').getAttribute('data-path'))!, /^[^;]+;[^;]+$/, 'and on down the heaviest path');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByTestId('flame-zoom').getAttribute('data-path'), one, 'ArrowDown goes back up');
    await page.keyboard.press('Escape');
    assert.equal(await page.getByTestId('flame-zoom').getAttribute('data-path'), '');
  });

  it('fits a phone-sized screen: the fleet, the jobs list and a job page', async () => {
    const { page, errors } = await open(390, 844);
    await signIn(page, stack.apiToken);
    await page.goto(`${origin}/#/fleet`);
    await page.locator(`tr[data-node="${stack.nodeName}"]`).waitFor();
    await shot(page, '08-phone-fleet');
    await page.goto(`${origin}/#/jobs`);
    await page.getByRole('table', { name: 'jobs' }).waitFor();
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 1, `the page does not scroll sideways (${overflow} px); wide tables scroll in their own box`);
    await shot(page, '09-phone-jobs');
    assert.deepEqual(errors, []);
  });
});

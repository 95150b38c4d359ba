import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './harness';

/** Debian's chromium (infra/setup.sh installs it): playwright-core drives it, no browser is downloaded. */
export const CHROMIUM = process.env.TRACEFLEET_CHROMIUM ?? '/usr/bin/chromium';

/** Where the browser tests leave their screenshots (test artefacts, ignored by git). */
export const ARTIFACTS = join(ROOT, 'e2e', 'artifacts', 'console');

/**
 * Starts headless chromium with the flags this sandbox needs (no background networking: its closed
 * network refuses those connections). Fails loudly when the browser is missing: a skipped browser test
 * would pass without testing anything.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the console's e2e needs Debian's chromium (npm run setup installs it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Collects what the page reports as errors (CSP violations, exceptions): a test asserts there are none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

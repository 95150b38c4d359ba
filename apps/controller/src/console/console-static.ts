import { Logger } from '@nestjs/common';
import type { Express, Request, Response } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The web console (apps/console, bundled by esbuild at build time) served at `/`: three files, read once
 * at boot, nothing else from that folder (its compiled specs live there too). Routes in the console are
 * hash routes, so the server never needs to map a path to index.html.
 *
 * The page may load only itself: scripts, styles, images and connections from this origin, never framed
 * (a signed-in console must not be clickjacked into stopping jobs), no referrer sent to links.
 */
export const CONSOLE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

const FILES: Record<string, { name: string; type: string }> = {
  '/': { name: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { name: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { name: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { name: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Where the built console is: TRACEFLEET_CONSOLE_DIR, else the @tracefleet/console package's dist/. */
export function consoleDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TRACEFLEET_CONSOLE_DIR) return env.TRACEFLEET_CONSOLE_DIR;
  try {
    return join(dirname(require.resolve('@tracefleet/console/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

/** Adds the console's routes to the Express app before Nest's; `/` says what is missing when it was not built. */
export function mountConsole(app: Express, dir = consoleDir()): boolean {
  const log = new Logger('Console');
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, f] of Object.entries(FILES)) {
    const p = dir ? join(dir, f.name) : '';
    if (p && existsSync(p)) files.set(path, { body: readFileSync(p), type: f.type });
  }
  const complete = files.size === Object.keys(FILES).length;
  if (!complete) log.warn(`the web console is not built (looked in ${dir ?? '@tracefleet/console'}): \`npx turbo run build\` builds it; the API works without it`);
  app.get(Object.keys(FILES), (req: Request, res: Response) => {
    const f = files.get(req.path);
    res.set(CONSOLE_HEADERS);
    if (!complete || !f) {
      res.status(503).type('text/plain').send('The Tracefleet web console was not built on this controller (npx turbo run build). The REST API is at /api/v1.\n');
      return;
    }
    res.status(200).type(f.type).send(f.body);
  });
  return complete;
}

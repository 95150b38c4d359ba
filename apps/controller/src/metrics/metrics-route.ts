import { Logger } from '@nestjs/common';
import type { Express, Request, Response } from 'express';
import type { ControllerEnv } from '../config/env';
import { bearer, sameSecret } from '../auth/tokens';
import { METRICS_CONTENT_TYPE, type ControllerMetrics } from './controller-metrics';

export type MetricsAccess = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** Hosts only this machine can reach: a scrape needs no token there when no metrics token is set. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Who may scrape: with TRACEFLEET_METRICS_TOKEN set, only its bearer (the API tokens are not metrics
 * tokens and are never looked at here); without it, anyone when the controller listens on loopback
 * only, nobody otherwise.
 */
export function metricsAccess(env: Pick<ControllerEnv, 'host' | 'metricsToken'>, authorization: string | undefined): MetricsAccess {
  if (env.metricsToken) {
    const presented = bearer(authorization);
    if (presented === undefined) return { ok: false, status: 401, message: 'GET /metrics needs Authorization: Bearer <TRACEFLEET_METRICS_TOKEN>' };
    if (!sameSecret(presented, env.metricsToken)) return { ok: false, status: 401, message: 'that is not the metrics token (TRACEFLEET_METRICS_TOKEN)' };
    return { ok: true };
  }
  if (isLoopbackHost(env.host)) return { ok: true };
  return {
    ok: false,
    status: 403,
    message: `the controller listens on ${env.host}, not loopback: set TRACEFLEET_METRICS_TOKEN to allow scrapes with that bearer token`,
  };
}

/** `GET /metrics` at the root (outside /api/v1 and its token guard), added to the Express app before Nest's routes. */
export function mountMetrics(app: Express, metrics: ControllerMetrics, env: Pick<ControllerEnv, 'host' | 'metricsToken'>): void {
  const log = new Logger('Metrics');
  app.get('/metrics', (req: Request, res: Response) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const access = metricsAccess(env, req.headers.authorization);
    if (!access.ok) {
      if (access.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="tracefleet-metrics"');
      res.status(access.status).json({ statusCode: access.status, error: access.status === 401 ? 'Unauthorized' : 'Forbidden', message: [access.message] });
      return;
    }
    metrics.render().then(
      (text) => {
        // Not res.send: Express would rewrite the Content-Type's parameters.
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
      (err: unknown) => {
        log.error(`rendering metrics failed: ${err instanceof Error ? err.message : String(err)}`);
        res.status(500).json({ statusCode: 500, error: 'Internal Server Error', message: ['rendering metrics failed; the controller log says why'] });
      },
    );
  });
}

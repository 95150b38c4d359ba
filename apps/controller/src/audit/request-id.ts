import { randomUUID } from 'node:crypto';
import type { Request } from 'express';

const KEY = Symbol('tracefleetRequestId');

/**
 * This request's id: generated here, once, and never taken from the client (an X-Request-Id sent in
 * could name another request in the audit log). Sent back as X-Request-Id by audited routes.
 */
export function requestIdOf(req: Request): string {
  const r = req as Request & { [KEY]?: string };
  return (r[KEY] ??= randomUUID());
}

import { createHmac } from 'node:crypto';
import { ForbiddenException } from '@nestjs/common';
import { sameSecret } from './tokens';

export const CSRF_HEADER = 'x-csrf-token';
const CSRF_LABEL = 'tracefleet console csrf v1';

/** Methods that change nothing: a cookie alone may make them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const changesState = (method: string | undefined): boolean => !SAFE_METHODS.has((method ?? '').toUpperCase());

/**
 * The CSRF token of a session, derived from its cookie value (HMAC-SHA256 keyed by the cookie): nothing
 * more to store, the same on every replica, and it tells nothing about the cookie. Only someone who holds
 * the cookie value (the server, given it by the browser) or was handed the token by the server
 * (the console's own page, through POST or GET /session) has it; a cross-site page has neither.
 */
export function csrfTokenFor(cookieValue: string): string {
  return createHmac('sha256', cookieValue).update(CSRF_LABEL).digest('base64url');
}

/** Whether `presented` (the X-CSRF-Token header) is the session's CSRF token; constant time. */
export function csrfMatches(presented: string | string[] | undefined, cookieValue: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 128) return false;
  return sameSecret(presented, csrfTokenFor(cookieValue));
}

/**
 * Whether an Origin header (present on browsers' cross-origin and state-changing requests) names this
 * host. Only host[:port] is compared: a TLS-terminating proxy makes the scheme unknowable here. An absent
 * Origin passes (non-browser clients, older browsers); "null" and anything unparsable do not.
 */
export function originMatchesHost(origin: string | string[] | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (typeof origin !== 'string' || !host) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  // The Host header read with the Origin's scheme, so a default port written out (":80") compares equal.
  let own: URL;
  try {
    own = new URL(`${url.protocol}//${host}`);
  } catch {
    return false;
  }
  return own.host === url.host && own.pathname === '/' && !own.username && !own.password;
}

export const csrfForbidden = (): ForbiddenException =>
  new ForbiddenException({
    statusCode: 403,
    error: 'Forbidden',
    message: ['missing or wrong X-CSRF-Token header: a state change with the session cookie needs the csrfToken that POST or GET /api/v1/session returned'],
  });

export const originForbidden = (): ForbiddenException =>
  new ForbiddenException({
    statusCode: 403,
    error: 'Forbidden',
    message: ['the Origin header does not match this host: cross-origin state changes with the session cookie are refused'],
  });

import { UnauthorizedException } from '@nestjs/common';
import type { ConsoleSessionService, ActiveSession } from './console-session.service';
import { CSRF_HEADER, changesState, csrfForbidden, csrfMatches, originForbidden, originMatchesHost } from './csrf';
import type { ScopedRequest, TokenIdentity } from './scopes';

/** Where the guard leaves the session of a cookie-authenticated request. */
export const SESSION_KEY = 'tracefleetSession';
export type SessionRequest = ScopedRequest & { [SESSION_KEY]?: ActiveSession };

export const NO_CREDENTIALS = 'missing bearer token (Authorization: Bearer $TRACEFLEET_API_TOKEN) or session cookie (POST /api/v1/session)';
export const BAD_SESSION = 'invalid or expired session; sign in again (POST /api/v1/session)';

/**
 * The identity of a request that carries a well-formed session cookie (`cookieValue`) and no
 * Authorization header: 401 when it is not a live session's; for a state change (not GET/HEAD/OPTIONS),
 * 403 when a present Origin names another host or X-CSRF-Token is not the session's. Leaves the session
 * on the request.
 */
export async function sessionIdentity(req: SessionRequest, cookieValue: string, sessions: Pick<ConsoleSessionService, 'lookup'>): Promise<TokenIdentity> {
  const session = await sessions.lookup(cookieValue);
  if (!session) throw new UnauthorizedException(BAD_SESSION);
  if (changesState(req.method)) {
    // The browser sends the cookie whoever wrote the page: a state change must show it came from ours.
    if (!originMatchesHost(req.headers.origin, req.headers.host)) throw originForbidden();
    if (!csrfMatches(req.headers[CSRF_HEADER], cookieValue)) throw csrfForbidden();
  }
  req[SESSION_KEY] = session;
  return session.identity;
}

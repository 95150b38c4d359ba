/**
 * The web console's session cookie: reading it from a Cookie header and writing Set-Cookie.
 *
 * A small strict reader rather than the `cookie` package (present only as express's dependency): we need
 * one name, and a stricter answer than a general parser gives. Two `tf_session` cookies (a sibling host
 * planting a second one, "cookie tossing") are refused instead of silently taking the first, and a value
 * that is not exactly what we issue (43 base64url characters) is refused without decoding anything.
 */

export const SESSION_COOKIE = 'tf_session';
/** 32 random bytes, base64url without padding. */
export const SESSION_VALUE_RE = /^[A-Za-z0-9_-]{43}$/;
/** Longer Cookie headers are not read (Node's own header limit is 16 KiB in all). */
export const MAX_COOKIE_HEADER = 8192;

export type SessionCookie = { kind: 'none' } | { kind: 'bad'; why: string } | { kind: 'ok'; value: string };

/**
 * The session cookie in a Cookie header (several Cookie headers arrive joined by "; "). `none`: no
 * cookie of that name; `bad`: there is one but it cannot be ours (duplicated, malformed, header too long).
 */
export function readSessionCookie(header: string | string[] | undefined): SessionCookie {
  if (header === undefined) return { kind: 'none' };
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text.length > MAX_COOKIE_HEADER) return text.includes(SESSION_COOKIE) ? { kind: 'bad', why: 'Cookie header too long' } : { kind: 'none' };
  let found: string | undefined;
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    if (found !== undefined) return { kind: 'bad', why: `more than one ${SESSION_COOKIE} cookie` };
    found = pair.slice(eq + 1).trim();
  }
  if (found === undefined) return { kind: 'none' };
  return SESSION_VALUE_RE.test(found) ? { kind: 'ok', value: found } : { kind: 'bad', why: `malformed ${SESSION_COOKIE} cookie` };
}

/** Set-Cookie for a new session: HttpOnly (no script reads it), SameSite=Strict, whole site, Secure over TLS. */
export function sessionSetCookie(value: string, maxAgeSec: number, secure: boolean): string {
  if (!SESSION_VALUE_RE.test(value)) throw new Error('not a session cookie value');
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${Math.floor(maxAgeSec)}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Set-Cookie that makes the browser drop the session cookie. */
export function clearSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

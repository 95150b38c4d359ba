/**
 * The console's one way to the REST API: same origin, the session cookie (HttpOnly, so scripts never
 * see it) and, on every state change, the session's CSRF token in X-CSRF-Token.
 */
export interface Session {
  token: 'api' | 'capture';
  scopes: string[];
  csrfToken: string;
  expiresAt: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The API's messages: a 400 names the field first ("durationSec must not be greater than 86400"). */
    readonly messages: string[],
    readonly body: unknown,
  ) {
    super(messages.join('; ') || `HTTP ${status}`);
  }
}

let csrf = '';
/** Called when a request answers 401: the session ended (signed out elsewhere, expired, token rotated). */
let onSignedOut: () => void = () => undefined;

export function useSession(s: Session | undefined, signedOut?: () => void): void {
  csrf = s?.csrfToken ?? '';
  if (signedOut) onSignedOut = signedOut;
}

export const API = '/api/v1';

function messagesOf(body: unknown, status: number): string[] {
  const m = (body as { message?: unknown } | null)?.message;
  if (Array.isArray(m)) return m.map(String);
  if (typeof m === 'string') return [m];
  return [`HTTP ${status}`];
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrf;
  const res = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* text answers (folded stacks) stay text */
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/session') onSignedOut();
    throw new ApiError(res.status, messagesOf(parsed, res.status), parsed);
  }
  return parsed as T;
}

export async function text(path: string): Promise<string> {
  const res = await fetch(`${API}${path}`, { credentials: 'same-origin' });
  const body = await res.text();
  if (!res.ok) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = body;
    }
    if (res.status === 401) onSignedOut();
    throw new ApiError(res.status, messagesOf(parsed, res.status), parsed);
  }
  return body;
}

/**
 * Which field a 400 message is about: the API's messages start with the property path
 * ("target.pid must not be less than 1", "nodes.labels.env must match ..."). Returns the longest known
 * field the message starts with, or undefined (shown at the top of the form).
 */
export function fieldOf(message: string, fields: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const f of fields) {
    if ((message === f || message.startsWith(`${f} `) || message.startsWith(`${f}.`) || message.startsWith(`${f}[`)) && (!best || f.length > best.length)) best = f;
  }
  return best;
}

export const hasScope = (s: Session | undefined, scope: string): boolean => !!s?.scopes.includes(scope);

import { BadRequestException } from '@nestjs/common';

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 500;
export const AUDIT_OUTCOMES = ['ok', 'denied', 'refused', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

const ACTION_RE = /^[a-z][a-z-]{0,31}(\.[a-z][a-z-]{0,31}){0,3}\.?$/;
const TYPE_RE = /^[a-z][a-z-]{0,31}$/;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const KNOWN = ['since', 'action', 'target', 'outcome', 'token', 'limit', 'before'];

export interface AuditQuery {
  since?: Date;
  /** Exact action, or every action under a prefix ending with a dot ("schedule."). */
  action?: { exact: string } | { prefix: string };
  target?: { type: string; id?: string };
  outcome?: AuditOutcome;
  /** A token fingerprint (16 hex digits). */
  token?: string;
  limit: number;
  /** Entries after this one in newest-first order (the previous page's nextCursor: `<at in ms>-<id>`). */
  before?: { at: Date; id: bigint };
}

function bad(message: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [message] });
}

function one(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') bad(`${name} must be given once`);
  return v;
}

/** GET /audit parameters; anything else, repeated or malformed is a 400 naming the parameter. */
export function parseAuditQuery(q: Record<string, unknown>): AuditQuery {
  const unknown = Object.keys(q).filter((k) => !KNOWN.includes(k));
  if (unknown.length > 0) bad(`unknown parameter ${unknown[0].slice(0, 64)} (known: ${KNOWN.join(', ')})`);
  const out: AuditQuery = { limit: AUDIT_DEFAULT_LIMIT };
  const since = one(q, 'since');
  if (since !== undefined) {
    const t = /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(since) ? Date.parse(since) : NaN;
    if (!Number.isFinite(t)) bad('since must be an ISO 8601 date or date-time (2026-12-03T20:00:00Z)');
    out.since = new Date(t);
  }
  const action = one(q, 'action');
  if (action !== undefined) {
    if (!ACTION_RE.test(action)) bad('action must be an action such as schedule.delete, or a prefix ending with a dot (schedule.)');
    out.action = action.endsWith('.') ? { prefix: action } : { exact: action };
  }
  const target = one(q, 'target');
  if (target !== undefined) {
    const colon = target.indexOf(':');
    const type = colon < 0 ? target : target.slice(0, colon);
    const id = colon < 0 ? undefined : target.slice(colon + 1);
    if (!TYPE_RE.test(type) || (id !== undefined && !ID_RE.test(id))) bad('target must be a type (schedule) or type:id (schedule:<uuid>)');
    out.target = { type, id };
  }
  const outcome = one(q, 'outcome');
  if (outcome !== undefined) {
    if (!(AUDIT_OUTCOMES as readonly string[]).includes(outcome)) bad(`outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
    out.outcome = outcome as AuditOutcome;
  }
  const token = one(q, 'token');
  if (token !== undefined) {
    if (!/^[0-9a-f]{16}$/.test(token)) bad('token must be a token fingerprint (16 lowercase hex digits), never the token');
    out.token = token;
  }
  const limit = one(q, 'limit');
  if (limit !== undefined) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > AUDIT_MAX_LIMIT) bad(`limit must be an integer in [1, ${AUDIT_MAX_LIMIT}]`);
    out.limit = Number(limit);
  }
  const before = one(q, 'before');
  if (before !== undefined) {
    const m = /^(\d{1,15})-(\d{1,19})$/.exec(before);
    if (!m || Number(m[1]) > 8_640_000_000_000_000 || BigInt(m[2]) > 9_223_372_036_854_775_807n) bad('before must be the nextCursor of the previous page');
    out.before = { at: new Date(Number(m[1])), id: BigInt(m[2]) };
  }
  return out;
}

/** The HTTP status a request ended with, as an outcome. */
export function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'ok';
  if (status === 401 || status === 403) return 'denied';
  if (status < 500) return 'refused';
  return 'error';
}

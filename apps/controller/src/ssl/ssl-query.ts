import { BadRequestException } from '@nestjs/common';
import { PID_MAX } from '../common/job-params';
import { originQuery } from '../profiles/origins';

export type SslDirectionName = 'read' | 'write' | 'handshake';
export const SSL_DIRECTIONS: readonly SslDirectionName[] = ['read', 'write', 'handshake'];

/** Filters shared by the events page, the live stream and (node, pid) the HTTP summaries. */
export interface SslEventFilters {
  node?: string;
  pid?: number;
  direction?: SslDirectionName;
  /** UTF-8 bytes that must occur in the plaintext. */
  contains?: Buffer;
  /** Only events of this container (id prefix) / cgroup and below (origins.ts). */
  container?: string;
  cgroup?: string;
}

export interface SslEventPageQuery extends SslEventFilters {
  limit: number;
  order: 'oldest' | 'newest';
  after?: bigint;
  before?: bigint;
}

export interface SslStreamQuery extends SslEventFilters {
  /** Start after this event id (the `after` parameter or the Last-Event-ID header); 0 = from the first. */
  after: bigint;
}

export interface HttpQuery {
  node?: string;
  pid?: number;
  limit: number;
  after?: { node: string; pid: number; sslPtr: string };
}

export const MAX_PAGE = 1000;
export const MAX_CONTAINS_BYTES = 1024;
const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;

type Raw = Record<string, unknown>;

export function badParam(name: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${name} ${why}`] });
}

function one(q: Raw, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') badParam(name, 'must be given once');
  return v;
}

function intParam(q: Raw, name: string, min: number, max: number): number | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) badParam(name, `must be an integer in [${min}, ${max}]`);
  return n;
}

function idParam(q: Raw, name: string): bigint | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,19}$/.test(v) || BigInt(v) > 9223372036854775807n) badParam(name, 'must be an event id (a non-negative integer)');
  return BigInt(v);
}

export function parseFilters(q: Raw): SslEventFilters {
  const out: SslEventFilters = {};
  const node = one(q, 'node');
  if (node !== undefined) {
    if (!NODE_NAME.test(node)) badParam('node', 'must be a node name');
    out.node = node;
  }
  out.pid = intParam(q, 'pid', 1, PID_MAX);
  if (out.pid === undefined) delete out.pid;
  const direction = one(q, 'direction');
  if (direction !== undefined) {
    if (!(SSL_DIRECTIONS as readonly string[]).includes(direction)) badParam('direction', `must be one of: ${SSL_DIRECTIONS.join(', ')}`);
    out.direction = direction as SslDirectionName;
  }
  const contains = one(q, 'contains');
  if (contains !== undefined) {
    const bytes = Buffer.from(contains, 'utf8');
    if (bytes.length === 0 || bytes.length > MAX_CONTAINS_BYTES) badParam('contains', `must be 1 to ${MAX_CONTAINS_BYTES} bytes of UTF-8 text`);
    out.contains = bytes;
  }
  const { filter } = originQuery({ container: q.container, cgroup: q.cgroup });
  if (filter.container !== undefined) out.container = filter.container;
  if (filter.cgroup !== undefined) out.cgroup = filter.cgroup;
  return out;
}

export function parsePageQuery(q: Raw): SslEventPageQuery {
  const order = one(q, 'order') ?? 'oldest';
  if (order !== 'oldest' && order !== 'newest') badParam('order', 'must be newest or oldest');
  const after = idParam(q, 'after');
  const before = idParam(q, 'before');
  if (after !== undefined && before !== undefined && after >= before) badParam('after', 'must be less than before');
  return {
    ...parseFilters(q),
    limit: intParam(q, 'limit', 1, MAX_PAGE) ?? 100,
    order,
    ...(after !== undefined ? { after } : {}),
    ...(before !== undefined ? { before } : {}),
  };
}

/** The live stream takes the filters and a start (`after`, or the Last-Event-ID header a reconnecting EventSource sends). */
export function parseStreamQuery(q: Raw, lastEventId?: string | string[]): SslStreamQuery {
  for (const p of ['before', 'order', 'limit']) if (q[p] !== undefined) badParam(p, 'does not apply to the stream (it sends every new event, oldest first)');
  const fromHeader = typeof lastEventId === 'string' && lastEventId !== '' ? idParam({ 'Last-Event-ID': lastEventId }, 'Last-Event-ID') : undefined;
  return { ...parseFilters(q), after: idParam(q, 'after') ?? fromHeader ?? 0n };
}

export function encodeHttpCursor(c: { node: string; pid: number; sslPtr: string }): string {
  return Buffer.from(JSON.stringify([c.node, c.pid, c.sslPtr])).toString('base64url');
}

export function parseHttpQuery(q: Raw): HttpQuery {
  const f = parseFilters(q);
  for (const p of ['direction', 'contains']) if (q[p] !== undefined) badParam(p, 'does not apply to HTTP summaries (they need both directions of every call)');
  const out: HttpQuery = { limit: intParam(q, 'limit', 1, MAX_PAGE) ?? 100 };
  if (f.node !== undefined) out.node = f.node;
  if (f.pid !== undefined) out.pid = f.pid;
  const after = one(q, 'after');
  if (after !== undefined) {
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
    } catch {
      v = undefined;
    }
    if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== 'string' || !Number.isInteger(v[1]) || typeof v[2] !== 'string') {
      badParam('after', 'must be a nextCursor from an earlier answer');
    }
    out.after = { node: v[0], pid: v[1], sslPtr: v[2] };
  }
  return out;
}

import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { badField } from '../common/bad-field';
import { ExecOpenService, type ExecOpenQuery } from './exec-open.service';
import type { ExecOpenResults } from './exec-open.view';

type RawQuery = Record<string, string | string[] | undefined>;

const KNOWN = new Set(['node', 'pid', 'comm', 'kind', 'failed', 'path', 'limit', 'after']);

/** The query of GET /jobs/:id/exec-open(.txt): every bad value a 400 naming the parameter. */
export function execOpenQuery(raw: RawQuery): ExecOpenQuery {
  for (const [k, v] of Object.entries(raw)) {
    if (!KNOWN.has(k)) badField(k, `is not a parameter of this route (known: ${[...KNOWN].join(', ')})`);
    if (typeof v !== 'string') badField(k, 'must be given once');
  }
  const one = (k: string): string | undefined => raw[k] as string | undefined;
  const int = (k: string, lo: number, hi: number): number | undefined => {
    const v = one(k);
    if (v === undefined) return undefined;
    if (!/^\d{1,10}$/.test(v) || Number(v) < lo || Number(v) > hi) badField(k, `must be an integer in [${lo}, ${hi}]`);
    return Number(v);
  };
  const comm = one('comm');
  if (comm !== undefined && (comm.length === 0 || Buffer.byteLength(comm) > 15)) badField('comm', "must be 1..15 bytes (the kernel's comm)");
  const node = one('node');
  if (node !== undefined && (node.length === 0 || node.length > 253)) badField('node', 'must be a node name of 1..253 characters');
  const kind = one('kind');
  if (kind !== undefined && kind !== 'exec' && kind !== 'open') badField('kind', 'must be exec or open');
  const failed = one('failed');
  if (failed !== undefined && failed !== 'true' && failed !== 'false') badField('failed', 'must be true or false');
  const path = one('path');
  if (path !== undefined && (path.length === 0 || Buffer.byteLength(path) > 1024 || path.includes('\0'))) badField('path', 'must be 1..1024 bytes without NUL');
  const after = one('after');
  if (after !== undefined && !/^\d{1,18}$/.test(after)) badField('after', "must be an event id (the previous page's next)");
  return {
    node,
    pid: int('pid', 1, 2 ** 31 - 1),
    comm,
    kind: kind as 'exec' | 'open' | undefined,
    failed: failed === undefined ? undefined : failed === 'true',
    path,
    limit: int('limit', 1, 1000) ?? 100,
    afterId: after === undefined ? undefined : BigInt(after),
  };
}

@Controller('jobs/:id')
export class ExecOpenController {
  constructor(private readonly execOpen: ExecOpenService) {}

  /** Counters merged and per node, and a page of the matching events (oldest first; per node in the order they returned). */
  @Get('exec-open')
  results(@Param('id') id: string, @Query() query: RawQuery): Promise<ExecOpenResults> {
    return this.execOpen.results(id, execOpenQuery(query));
  }

  @Get('exec-open.txt')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  text(@Param('id') id: string, @Query() query: RawQuery): Promise<string> {
    return this.execOpen.text(id, execOpenQuery(query));
  }
}

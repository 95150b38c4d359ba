import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { badField } from '../common/bad-field';
import { OomkillService, type OomkillQuery } from './oomkill.service';
import type { OomkillResults } from './oomkill.view';

type RawQuery = Record<string, string | string[] | undefined>;

const KNOWN = new Set(['node', 'pid', 'comm', 'limit', 'after']);

/** The query of GET /jobs/:id/oomkill(.txt): every bad value a 400 naming the parameter. */
export function oomkillQuery(raw: RawQuery): OomkillQuery {
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
  const after = one('after');
  if (after !== undefined && !/^\d{1,18}$/.test(after)) badField('after', "must be a kill id (the previous page's next)");
  return {
    node,
    pid: int('pid', 1, 2 ** 31 - 1),
    comm,
    limit: int('limit', 1, 1000) ?? 100,
    afterId: after === undefined ? undefined : BigInt(after),
  };
}

@Controller('jobs/:id')
export class OomkillController {
  constructor(private readonly oomkill: OomkillService) {}

  /** Counters merged and per node, and a page of kills (oldest first). */
  @Get('oomkill')
  results(@Param('id') id: string, @Query() query: RawQuery): Promise<OomkillResults> {
    return this.oomkill.results(id, oomkillQuery(query));
  }

  @Get('oomkill.txt')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  text(@Param('id') id: string, @Query() query: RawQuery): Promise<string> {
    return this.oomkill.text(id, oomkillQuery(query));
  }
}

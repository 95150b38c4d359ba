import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { badField } from '../common/bad-field';
import { TcpService, type TcpQuery } from './tcp.service';
import type { TcpResults } from './tcp.view';

type RawQuery = Record<string, string | string[] | undefined>;

const KNOWN = new Set(['node', 'pid', 'comm', 'port', 'family', 'limit', 'after']);

/** The query of GET /jobs/:id/tcp(.txt): every bad value a 400 naming the parameter. */
export function tcpQuery(raw: RawQuery): TcpQuery {
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
  if (comm !== undefined && (comm.length === 0 || Buffer.byteLength(comm) > 15)) badField('comm', 'must be 1..15 bytes (the kernel\'s comm)');
  const node = one('node');
  if (node !== undefined && (node.length === 0 || node.length > 253)) badField('node', 'must be a node name of 1..253 characters');
  const family = int('family', 4, 6);
  if (family === 5) badField('family', 'must be 4 or 6');
  const after = one('after');
  if (after !== undefined && !/^\d{1,18}$/.test(after)) badField('after', 'must be a connection id (the previous page\'s next)');
  return {
    node,
    pid: int('pid', 1, 2 ** 31 - 1),
    comm,
    port: int('port', 1, 65535),
    family: family as 4 | 6 | undefined,
    limit: int('limit', 1, 1000) ?? 100,
    afterId: after === undefined ? undefined : BigInt(after),
  };
}

@Controller('jobs/:id')
export class TcpController {
  constructor(private readonly tcp: TcpService) {}

  /** Connect latency merged and per node, the matching connections' lifetimes, and a page of them (oldest first). */
  @Get('tcp')
  results(@Param('id') id: string, @Query() query: RawQuery): Promise<TcpResults> {
    return this.tcp.results(id, tcpQuery(query));
  }

  /** The merged connect-latency histogram as an SVG bar chart. */
  @Get('tcp.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  svg(@Param('id') id: string): Promise<string> {
    return this.tcp.svg(id);
  }

  @Get('tcp.txt')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  text(@Param('id') id: string, @Query() query: RawQuery): Promise<string> {
    return this.tcp.text(id, tcpQuery(query));
  }
}

import { Injectable } from '@nestjs/common';
import { Prisma } from '../generated/prisma/client';
import { PrismaService } from '../prisma/prisma.service';
import { TERMINAL_JOB } from '../common/run-status';
import { tlsLibraryOf, toEventView, type SslEventRow, type SslEventView, type TlsLibrary } from './event-view';
import { ConnectionParser, type ConnectionSummary } from './http-parse';
import { encodeHttpCursor, type HttpQuery, type SslEventFilters, type SslEventPageQuery } from './ssl-query';
import { originWhere } from '../profiles/origins';

export interface SslEventPage {
  jobId: string;
  order: 'oldest' | 'newest';
  events: SslEventView[];
  /** Pass as `after` (order=oldest) or `before` (order=newest) for the next page; null when this page was not full. */
  nextCursor: string | null;
}

export type HttpConnection = {
  node: string;
  pid: number;
  comm: string;
  sslPtr: string;
  library: TlsLibrary;
  events: number;
  firstAt: string;
  lastAt: string;
} & ConnectionSummary;

export interface HttpSummaries {
  jobId: string;
  connections: HttpConnection[];
  /** Pass as `after` for the next connections; null when there are none. */
  nextCursor: string | null;
  scanned: { events: number; bytes: number };
}

/** What the HTTP summaries read of a stored event. */
interface HttpRow {
  id: bigint;
  nodeName: string;
  pid: number;
  sslPtr: string;
  comm: string;
  function: string;
  direction: string;
  length: bigint;
  truncated: boolean;
  tsNs: bigint;
  at: Date;
  data: Uint8Array;
  skippedBytes: bigint;
  skippedCalls: number;
}

const HTTP_PAGE = 500;
/** What one /http request reads at most; past it the connection in progress is summarized as far as read. */
export const HTTP_SCAN_EVENTS = 200_000;
export const HTTP_SCAN_BYTES = 256 * 1024 * 1024;

const EVENT_COLUMNS = Prisma.sql`e."id", e."nodeName", e."pid", e."tid", e."comm", e."function", e."direction"::text AS "direction", e."ret", e."length",
  e."latencyNs", e."sslPtr", e."tsNs", e."at", e."data", e."truncated", e."redactions", e."binary", e."skippedBytes", e."skippedCalls", s."frameIds",
  o."cgroup", o."containerId" AS "container", o."podUid"`;

/** Reads stored ssl-capture events: pages, the live stream's polls, HTTP summaries. Expired events are never served. */
@Injectable()
export class SslReadService {
  constructor(private readonly prisma: PrismaService) {}

  private conditions(jobId: string, f: SslEventFilters): Prisma.Sql[] {
    const c = [Prisma.sql`e."jobId" = ${jobId}::uuid`, Prisma.sql`e."expiresAt" > now()`];
    if (f.node !== undefined) c.push(Prisma.sql`e."nodeName" = ${f.node}`);
    if (f.pid !== undefined) c.push(Prisma.sql`e."pid" = ${f.pid}::int`);
    if (f.direction !== undefined) c.push(Prisma.sql`e."direction" = ${f.direction}::"SslDirection"`);
    // A parameter, decoded in SQL: any bytes, nothing to escape (position() has no wildcards).
    if (f.contains !== undefined) c.push(Prisma.sql`position(decode(${f.contains.toString('base64')}, 'base64') in e."data") > 0`);
    // Origins by a subquery, so every reader of these conditions works without joining Origin.
    const o = originWhere(f);
    if (o.container !== null) c.push(Prisma.sql`e."originId" IN (SELECT "id" FROM "Origin" WHERE "containerId" LIKE ${o.container})`);
    if (o.cgroup !== null) c.push(Prisma.sql`e."originId" IN (SELECT "id" FROM "Origin" WHERE "cgroup" = ${o.cgroup} OR "cgroup" LIKE ${o.below})`);
    return c;
  }

  private async rows(where: Prisma.Sql[], desc: boolean, limit: number): Promise<SslEventView[]> {
    const rows = await this.prisma.$queryRaw<SslEventRow[]>`
      SELECT ${EVENT_COLUMNS}
      FROM "SslEvent" e LEFT JOIN "Stack" s ON s."id" = e."stackId" LEFT JOIN "Origin" o ON o."id" = e."originId"
      WHERE ${Prisma.join(where, ' AND ')}
      ORDER BY e."id" ${desc ? Prisma.raw('DESC') : Prisma.raw('ASC')}
      LIMIT ${limit}::int`;
    const frameIds = [...new Set(rows.flatMap((r) => r.frameIds ?? []))];
    const frames = frameIds.length ? await this.prisma.frame.findMany({ where: { id: { in: frameIds } }, select: { id: true, name: true } }) : [];
    const names = new Map(frames.map((f) => [f.id, f.name]));
    return rows.map((r) => toEventView(r, (id) => names.get(id) ?? `[frame ${id}]`));
  }

  async events(jobId: string, q: SslEventPageQuery): Promise<SslEventPage> {
    const where = this.conditions(jobId, q);
    if (q.after !== undefined) where.push(Prisma.sql`e."id" > ${q.after.toString()}::bigint`);
    if (q.before !== undefined) where.push(Prisma.sql`e."id" < ${q.before.toString()}::bigint`);
    const events = await this.rows(where, q.order === 'newest', q.limit);
    return { jobId, order: q.order, events, nextCursor: events.length === q.limit ? events[events.length - 1].id : null };
  }

  /** One poll of the live stream: events with id > after, oldest first. */
  after(jobId: string, f: SslEventFilters, after: bigint, limit: number): Promise<SslEventView[]> {
    return this.rows([...this.conditions(jobId, f), Prisma.sql`e."id" > ${after.toString()}::bigint`], false, limit);
  }

  async jobState(jobId: string): Promise<{ terminal: boolean; status: string; reason: string | null; finishedAt: string | null } | undefined> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { status: true, reason: true, finishedAt: true } });
    if (!job) return undefined;
    return {
      terminal: (TERMINAL_JOB as readonly string[]).includes(job.status),
      status: job.status,
      reason: job.reason,
      finishedAt: job.finishedAt?.toISOString() ?? null,
    };
  }

  /**
   * HTTP summaries per connection (node, pid, SSL*), walking the events in that order and in time
   * order within a connection (the index serves it), one page at a time: memory holds one page and
   * each open connection's parser state, not the capture.
   */
  async http(jobId: string, q: HttpQuery): Promise<HttpSummaries> {
    const base = this.conditions(jobId, { node: q.node, pid: q.pid });
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { params: true } });
    const headersOnly = (job?.params as { mode?: string } | null)?.mode === 'headers';
    const connections: HttpConnection[] = [];
    let pos: { node: string; pid: number; sslPtr: string; tsNs: bigint; id: bigint } | undefined;
    let open: { node: string; pid: number; sslPtr: string; comm: string; library: TlsLibrary; events: number; firstAt: Date; lastAt: Date; parser: ConnectionParser } | undefined;
    let scannedEvents = 0;
    let scannedBytes = 0;
    let more = false;
    let cut = false;
    const close = (note?: string): void => {
      if (!open) return;
      const s = open.parser.summary();
      if (note) s.notes.push(note);
      const { parser: _, firstAt, lastAt, ...key } = open;
      connections.push({ ...key, firstAt: firstAt.toISOString(), lastAt: lastAt.toISOString(), ...s });
      open = undefined;
    };
    walk: for (;;) {
      const where = [...base];
      if (pos) where.push(Prisma.sql`(e."nodeName", e."pid", e."sslPtr", e."tsNs", e."id") > (${pos.node}, ${pos.pid}::int, ${pos.sslPtr}, ${pos.tsNs.toString()}::bigint, ${pos.id.toString()}::bigint)`);
      else if (q.after) where.push(Prisma.sql`(e."nodeName", e."pid", e."sslPtr") > (${q.after.node}, ${q.after.pid}::int, ${q.after.sslPtr})`);
      const rows = await this.prisma.$queryRaw<HttpRow[]>`
        SELECT e."id", e."nodeName", e."pid", e."sslPtr", e."comm", e."function", e."direction"::text AS "direction", e."length", e."truncated", e."tsNs", e."at", e."data",
               e."skippedBytes", e."skippedCalls"
        FROM "SslEvent" e
        WHERE ${Prisma.join(where, ' AND ')}
        ORDER BY e."nodeName", e."pid", e."sslPtr", e."tsNs", e."id"
        LIMIT ${HTTP_PAGE}::int`;
      for (const r of rows) {
        if (open && (open.node !== r.nodeName || open.pid !== r.pid || open.sslPtr !== r.sslPtr)) {
          close();
          if (connections.length === q.limit) {
            more = true;
            break walk;
          }
        }
        open ??= { node: r.nodeName, pid: r.pid, sslPtr: r.sslPtr, comm: r.comm, library: tlsLibraryOf(r.function), events: 0, firstAt: r.at, lastAt: r.at, parser: new ConnectionParser({}, { headersOnly }) };
        open.events++;
        open.lastAt = r.at;
        open.parser.push({
          direction: r.direction as 'read' | 'write' | 'handshake',
          data: r.data,
          length: Number(r.length),
          truncated: r.truncated,
          tsNs: r.tsNs,
          skippedBytes: Number(r.skippedBytes),
          skippedCalls: r.skippedCalls,
        });
        scannedEvents++;
        scannedBytes += r.data.length;
        pos = { node: r.nodeName, pid: r.pid, sslPtr: r.sslPtr, tsNs: r.tsNs, id: r.id };
      }
      if (rows.length < HTTP_PAGE) break;
      if (scannedEvents >= HTTP_SCAN_EVENTS || scannedBytes >= HTTP_SCAN_BYTES) {
        cut = true;
        break;
      }
    }
    close(cut ? `summary stops at the per-request scan limit (${HTTP_SCAN_EVENTS} events or ${HTTP_SCAN_BYTES} bytes); later calls of this connection are not included` : undefined);
    const last = connections[connections.length - 1];
    return {
      jobId,
      connections,
      nextCursor: (more || cut) && last ? encodeHttpCursor(last) : null,
      scanned: { events: scannedEvents, bytes: scannedBytes },
    };
  }
}

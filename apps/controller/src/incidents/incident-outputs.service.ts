import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { renderFlameGraphSvg } from '../profiles/flamegraph/flamegraph';
import { serveRead, writer } from '../profiles/read-response';
import { topFunctions, type FunctionCount } from '../profiles/top-functions';
import { byName, IncidentReader } from './incident-reader';
import { IncidentsService } from './incidents.service';
import { ListedFunctionCounts } from './path-tree';

export type FunctionRow = FunctionCount & { byNode: Record<string, { self: number; total: number }> };

export interface IncidentFunctions {
  totalSamples: number;
  nodeTotals: Record<string, number>;
  bySelf: FunctionRow[];
  byTotal: FunctionRow[];
}

type ProfileQuery = { node?: string; job?: string };

/**
 * An incident's merged profile outputs (flame graph, folded text, top functions), read as the job's are:
 * checked first (404 / 422), then each holds a slot of the replica's read gate for its whole length and
 * reads the samples through cursors (incident-reader.ts), never every row at once; a client that goes away
 * ends the read. Outputs that read the samples twice (merged, then node by node) read one snapshot.
 */
@Injectable()
export class IncidentOutputsService {
  constructor(
    private readonly incidents: IncidentsService,
    private readonly read: IncidentReader,
  ) {}

  /** The merged flame graph; each frame's tooltip names the nodes with the most samples on its call path. */
  async svg(res: Response, id: string, q: ProfileQuery): Promise<void> {
    const p = await this.incidents.profileJobs(id, q);
    const reader = this.read.reader;
    await serveRead(reader.gate, res, async (signal) => {
      const tree = await reader.snapshot(async (client) => {
        const t = await this.read.tree(p, signal, client);
        await this.read.byNode(p, signal, client, (node, rows) => t.countNode(node, rows));
        return t;
      });
      const totals = byName(Object.entries(tree.nodeTotals));
      const perNode = totals.map(([n, c]) => `${n} ${c.toLocaleString('en-US')}`).join(', ');
      const svg = renderFlameGraphSvg(tree.stacks(), {
        title: `CPU profile · incident ${p.id.slice(0, 8)}${p.name ? ` (${p.name})` : ''}`,
        subtitle: `${q.node ?? `${totals.length} node(s) merged`} · ${tree.total.toLocaleString('en-US')} samples${perNode ? ` = ${perNode}` : ''} · hover a frame for its count on each node`,
        frameStyle: tree.frameStyle,
      });
      res.statusCode = 200;
      res.setHeader('Content-Type', 'image/svg+xml; charset=utf-8');
      res.end(svg);
    });
  }

  /** The merged folded text, written as it is made. */
  async folded(res: Response, id: string, q: ProfileQuery): Promise<void> {
    const p = await this.incidents.profileJobs(id, q);
    await serveRead(this.read.reader.gate, res, async (signal) => {
      const trie = await this.read.trie(p, signal);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      await trie.writeFolded(writer(res, signal));
      res.end();
    });
  }

  /** Top functions merged over nodes, each with its self and total samples on every node. */
  async functions(res: Response, id: string, q: ProfileQuery & { limit?: number }): Promise<void> {
    const p = await this.incidents.profileJobs(id, q);
    const reader = this.read.reader;
    await serveRead(reader.gate, res, async (signal) => {
      const out = await reader.snapshot(async (client): Promise<IncidentFunctions> => {
        const tree = await this.read.tree(p, signal, client);
        const top = topFunctions(tree.stacks(), q.limit ?? 20);
        // Each node's counts of the listed functions only: of every function, at thousands of nodes, they were millions.
        const counts = new ListedFunctionCounts(tree, new Set([...top.bySelf, ...top.byTotal].map((f) => f.name)));
        const totals: Record<string, bigint> = {};
        await this.read.byNode(p, signal, client, (node, rows) => {
          counts.countNode(node, rows);
          totals[node] = rows.reduce((a, r) => a + r.count, totals[node] ?? 0n);
        });
        const sorted = byName(Object.entries(totals));
        const withNodes = (f: FunctionCount): FunctionRow => ({
          ...f,
          byNode: Object.fromEntries(sorted.map(([n]) => [n, counts.byNode.get(n)?.get(f.name) ?? { self: 0, total: 0 }])),
        });
        return {
          totalSamples: top.totalSamples,
          nodeTotals: Object.fromEntries(sorted.map(([n, c]) => [n, Number(c)])),
          bySelf: top.bySelf.map(withNodes),
          byTotal: top.byTotal.map(withNodes),
        };
      });
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(out));
    });
  }
}

import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { createGzip } from 'node:zlib';
import { JobsService } from './jobs.service';
import { profileJob, type ProfileJob } from './profile-job';
import type { JobView } from './job.view';
import { jobTypeDef } from '../job-types/registry';
import { renderFlameGraphSvg } from '../profiles/flamegraph/flamegraph';
import { ProfileReader, type ReadQuery } from '../profiles/profile-reader';
import { serveRead, writer } from '../profiles/read-response';
import { PprofEncoder } from '../profiles/pprof/pprof';
import { TooManyPathsError } from '../profiles/stack-trie';
import { SPEEDSCOPE_SCHEMA, SpeedscopeFrames, speedscopeProfile, type SpeedscopeSampledProfile } from '../profiles/speedscope/speedscope';
import type { OriginFilter, OriginGrouping } from '../profiles/origins';

/**
 * The job profile routes served as they are read (profiles/profile-reader.ts): the flame graph and the
 * folded text from a trie of the merged stacks, pprof and speedscope one node at a time. Each holds a
 * read slot for its whole length; a client that goes away ends the read. The outputs are byte for byte
 * those of renderFlameGraphSvg, toFolded, encodePprof (before gzip) and toSpeedscope.
 */
@Injectable()
export class ProfileStreamsService {
  constructor(
    private readonly reader: ProfileReader,
    private readonly jobs: JobsService,
  ) {}

  async svg(res: Response, job: JobView, node: string | undefined, filter: OriginFilter, groupBy: OriginGrouping | undefined): Promise<void> {
    await serveRead(this.reader.gate, res, async (signal) => {
      const trie = await this.reader.merged({ jobId: job.id, node, filter, groupBy }, signal);
      const p = job.params as { frequencyHz?: number; durationSec?: number };
      const total = trie.total;
      const where = node ?? (job.runs.length === 1 ? job.runs[0].node : `${job.runs.length} nodes`);
      const titles = jobTypeDef(job.type)?.flameGraph?.({ id: job.id, status: job.status, params: p }, where, total) ?? {
        title: `CPU profile · job ${job.id.slice(0, 8)}`,
        subtitle: `${where} · ${total.toLocaleString('en-US')} samples · ${p.frequencyHz ?? '?'} Hz · ${p.durationSec ?? '?'} s · ${job.status}`,
      };
      const svg = renderFlameGraphSvg(trie.stacks(), titles);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'image/svg+xml; charset=utf-8');
      res.end(svg);
    });
  }

  async folded(res: Response, jobId: string, node: string | undefined, filter: OriginFilter, groupBy: OriginGrouping | undefined): Promise<void> {
    await serveRead(this.reader.gate, res, async (signal) => {
      const trie = await this.reader.merged({ jobId, node, filter, groupBy }, signal);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      await trie.writeFolded(writer(res, signal));
      res.end();
    });
  }

  /** Gzipped pprof, samples labelled by node, written node by node. */
  async pprof(res: Response, jobId: string, node: string | undefined, filter: OriginFilter): Promise<void> {
    await serveRead(this.reader.gate, res, async (signal) => {
      const job = await this.exportJob({ jobId, node, filter });
      const start = job.startedAt === null ? undefined : Date.parse(job.startedAt);
      const end = job.finishedAt === null ? undefined : Date.parse(job.finishedAt);
      const durationMs = start !== undefined && end !== undefined && end >= start ? end - start : job.durationSec !== undefined ? job.durationSec * 1000 : undefined;
      const enc = new PprofEncoder({ frequencyHz: job.frequencyHz, ...(job.type === 'off-cpu' ? { countType: { type: 'off_cpu', unit: 'microseconds' } } : {}) });
      const name = `tracefleet-${jobId.slice(0, 8)}${node === undefined ? '' : `-${node.replace(/[^A-Za-z0-9._-]/g, '_')}`}.pb.gz`;
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
      const gz = createGzip();
      gz.on('error', (err) => res.destroy(err));
      const out = writer(res, signal);
      const drained = (async () => {
        for await (const chunk of gz) await out(chunk as Buffer);
      })();
      // Awaited below on every path; until then a client that left must not make it an unhandled rejection.
      drained.catch(() => undefined);
      const put = (bytes: Uint8Array): Promise<void> =>
        bytes.length === 0 ? Promise.resolve() : new Promise<void>((resolve, reject) => gz.write(bytes, (err) => (err ? reject(err) : resolve())));
      const names: string[] = [];
      try {
        await this.reader.perNode({ jobId, node, filter }, signal, async (n, stacks) => {
          names.push(n);
          enc.addNode(n, stacks);
          // The frame table is held to the end: the same cap as a merged read's call paths.
          if (enc.frames > this.reader.caps.trieNodes) throw new TooManyPathsError(this.reader.caps.trieNodes);
          await put(enc.take());
        });
        await put(
          enc.finish({
            timeNanos: start === undefined || Number.isNaN(start) ? undefined : BigInt(start) * 1_000_000n,
            durationNanos: durationMs === undefined || Number.isNaN(durationMs) ? undefined : BigInt(Math.round(durationMs)) * 1_000_000n,
            comments: [`tracefleet ${job.type} job ${job.id} (${job.status})`, `nodes: ${names.join(', ')}`],
          }),
        );
        gz.end();
        await drained;
        res.end();
      } catch (err) {
        gz.destroy();
        await drained.catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * speedscope JSON in two passes over one snapshot: all nodes merged (which fixes the shared frame
   * table, written first), then node by node. Only the merged profile is held to the end.
   */
  async speedscope(res: Response, jobId: string, node: string | undefined, filter: OriginFilter): Promise<void> {
    await serveRead(this.reader.gate, res, async (signal) => {
      const job = await this.exportJob({ jobId, node, filter });
      const hz = job.frequencyHz === undefined ? '' : ` · ${job.frequencyHz} Hz`;
      const unit = job.type === 'off-cpu' ? 'microseconds' : 'none';
      const name = `tracefleet ${job.type} ${job.id.slice(0, 8)}${hz}`;
      const out = writer(res, signal);
      await this.reader.snapshot(async (client) => {
        const trie = await this.reader.merged({ jobId, node, filter }, signal, client);
        const frames = new SpeedscopeFrames();
        const merged: SpeedscopeSampledProfile = speedscopeProfile('', trie.sortedStacks(), unit, frames);
        const known = frames.frames.length;
        res.statusCode = 200;
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        await out(`{"$schema":${JSON.stringify(SPEEDSCOPE_SCHEMA)},"shared":{"frames":${JSON.stringify(frames.frames)}},"profiles":[`);
        // The merged profile goes first when there are several nodes (toSpeedscope's `merged`).
        const nodes = node === undefined ? await this.reader.nodeCount({ jobId, filter }, client) : 1;
        let sep = '';
        if (nodes > 1) {
          await out(JSON.stringify({ ...merged, name: `all ${nodes} nodes` }));
          sep = ',';
        }
        await this.reader.perNode(
          { jobId, node, filter },
          signal,
          async (n, stacks) => {
            const json = JSON.stringify(speedscopeProfile(n, stacks, unit, frames));
            if (frames.frames.length !== known) throw new Error(`node ${n} has frames the merged profile of the same snapshot did not`);
            await out(sep + json);
            sep = ',';
          },
          client,
        );
        await out(`],"name":${JSON.stringify(name)},"activeProfileIndex":0,"exporter":"tracefleet"}`);
      });
      res.end();
    });
  }

  /** The checks and facts of every profile output (profile-job.ts), with a probe for samples instead of loading them. */
  private exportJob(q: ReadQuery): Promise<ProfileJob> {
    return profileJob(this.jobs, q.jobId, q.node, q.filter ?? {}, async () => {
      await this.reader.checkJobNode(q.jobId, q.node);
      return this.reader.hasSamples(q);
    });
  }
}

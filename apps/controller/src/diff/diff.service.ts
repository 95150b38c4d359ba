import { Injectable, UnprocessableEntityException } from '@nestjs/common';
import type { Response } from 'express';
import { renderFlameGraphSvg, type StackCount } from '../profiles/flamegraph/flamegraph';
import { diffFolded, diffFrameStyle } from '../profiles/flamegraph/diff';
import { JobsService } from '../jobs/jobs.service';
import { profileJob, type ProfileJob } from '../jobs/profile-job';
import { ProfileReader } from '../profiles/profile-reader';
import { serveRead } from '../profiles/read-response';
import type { DiffQueryDto } from './dto/diff-query.dto';

/**
 * Differential outputs between two CPU profile jobs (or two nodes of one). Each side is read as a job's
 * merged flame graph is (profiles/profile-reader.ts: a cursor, summed per stack in the database, folded into
 * a trie), both in one slot of the read gate: two jobs over thousands of nodes never hold their rows.
 */
@Injectable()
export class DiffService {
  constructor(
    private readonly reader: ProfileReader,
    private readonly jobs: JobsService,
  ) {}

  /** The target's flame graph, coloured by the change of each call path's share since the base. */
  async svg(res: Response, q: DiffQueryDto): Promise<void> {
    const { base, target } = await this.check(q);
    await serveRead(this.reader.gate, res, async (signal) => {
      const { b, t } = await this.read(q, signal);
      const style = diffFrameStyle(b, t);
      const where = (p: ProfileJob, node?: string): string => `${p.id.slice(0, 8)}${node === undefined ? '' : ` on ${node}`}`;
      const svg = renderFlameGraphSvg(t, {
        title: `Differential CPU profile · ${where(base, q.baseNode)} → ${where(target, q.targetNode)}`,
        subtitle:
          `base ${style.baseTotal.toLocaleString('en-US')} samples · target ${style.targetTotal.toLocaleString('en-US')} samples · ` +
          'width: target · red: share grew, blue: share shrank',
        frameStyle: style.frameStyle,
      });
      res.statusCode = 200;
      res.setHeader('Content-Type', 'image/svg+xml; charset=utf-8');
      res.end(svg);
    });
  }

  /** "path base_count target_count" lines, like difffolded.pl. */
  async folded(res: Response, q: DiffQueryDto): Promise<void> {
    await this.check(q);
    await serveRead(this.reader.gate, res, async (signal) => {
      const { b, t } = await this.read(q, signal);
      const text = diffFolded(b, t);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(text);
    });
  }

  /** Both sides' checks (404 naming the job or node; a 422 says which side), before any read slot is taken. */
  private async check(q: DiffQueryDto): Promise<{ base: ProfileJob; target: ProfileJob }> {
    const side = async (which: 'base' | 'target', jobId: string, node?: string): Promise<ProfileJob> => {
      try {
        return await profileJob(this.jobs, jobId, node, {}, async () => {
          await this.reader.checkJobNode(jobId, node);
          return this.reader.hasSamples({ jobId, node });
        });
      } catch (err) {
        if (err instanceof UnprocessableEntityException) throw new UnprocessableEntityException(`${which}: ${err.message}`);
        throw err;
      }
    };
    return { base: await side('base', q.base, q.baseNode), target: await side('target', q.target, q.targetNode) };
  }

  /** Each side's stacks merged over its nodes (or its one node). */
  private async read(q: DiffQueryDto, signal: AbortSignal): Promise<{ b: StackCount[]; t: StackCount[] }> {
    const b = (await this.reader.merged({ jobId: q.base, node: q.baseNode }, signal)).stacks();
    const t = (await this.reader.merged({ jobId: q.target, node: q.targetNode }, signal)).stacks();
    return { b, t };
  }
}

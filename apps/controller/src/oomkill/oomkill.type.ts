import type { StartRun } from '@tracefleet/proto';
import { badField } from '../common/bad-field';
import type { JobRequest } from '../common/job-request';
import { MAX_EVENTS, type SharedJobFields } from '../common/job-fields';
import { MAX_RECEIVE_MESSAGE_BYTES, runIdField, strings, type FieldCaps } from '../common/wire-shape';
import { OomkillFields } from './oomkill.dto';
import { OOMKILL_OPENAPI } from './oomkill.openapi';

export const DEFAULT_MAX_EVENTS = 1000;
/** Kills one batch may carry: the agent sends at most 1,000 (KILLS_PER_BATCH). */
export const MAX_BATCH_KILLS = 2000;

export interface OomkillParams {
  maxEvents: number;
}

/**
 * The oomkill job type, whole: its request fields and their limits, its StartRun part, its wire caps and its links.
 * job-types/registry.ts is the only place that lists it; oomkill.service.ts stores its results.
 */
export const OOMKILL = {
  name: 'oomkill',
  fields: ['maxEvents'] as const,
  dto: OomkillFields,

  docs: {
    description:
      'OOM kills (libbpf-tools oomkill) from the oom:mark_victim tracepoint: each kill with the victim (pid, comm, uid, ' +
      'oom_score_adj, its memory in KiB: total VM, anon/file/shmem RSS, page tables) and the trigger (the task whose allocation ' +
      'or memory-cgroup charge ran out), merged across nodes and per node. The target names the victim.',
    openapi: OOMKILL_OPENAPI,
    fields: {
      maxEvents: { description: 'Kills kept per node; past it they are only counted (overBudget).', default: DEFAULT_MAX_EVENTS },
    },
  },

  /** Checked again here, for a caller that did not go through the DTO. */
  params(body: JobRequest<OomkillFields & SharedJobFields>): OomkillParams {
    const maxEvents = body.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (typeof maxEvents !== 'number' || !Number.isInteger(maxEvents) || maxEvents < 0 || maxEvents > MAX_EVENTS) badField('maxEvents', `must be an integer in [0, ${MAX_EVENTS}]`);
    return { maxEvents };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    const p = params as unknown as OomkillParams;
    return { $case: 'oomkill', value: { maxEvents: p.maxEvents } };
  },

  links(base: string): Record<string, string> {
    return { oomkill: `${base}/oomkill`, oomkillText: `${base}/oomkill.txt` };
  },

  /** AgentMessage fields 60 and 61: checked on the wire before they are decoded (agents/batch-limits.ts). */
  wire: [
    {
      field: 60,
      type: 'oomKills',
      maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
      shape: {
        1: runIdField,
        3: strings,
        4: { name: 'kills', kind: 'msg', total: 'kills', shape: { 15: { name: 'loadavg', kind: 'str', maxLen: 64 } } },
      },
      totals: { kills: MAX_BATCH_KILLS, strings: 2 * MAX_BATCH_KILLS },
    },
    { field: 61, type: 'oomkillReport', maxBytes: 4096, shape: { 1: runIdField }, totals: {} },
  ] as readonly FieldCaps[],
};

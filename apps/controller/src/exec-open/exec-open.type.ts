import type { StartRun } from '@tracefleet/proto';
import { badField } from '../common/bad-field';
import type { JobRequest } from '../common/job-request';
import { MAX_EVENTS, type SharedJobFields } from '../common/job-fields';
import { MAX_RECEIVE_MESSAGE_BYTES, runIdField, strings, type FieldCaps } from '../common/wire-shape';
import { EXEC_OPEN_EVENTS, ExecOpenFields } from './exec-open.dto';
import { EXEC_OPEN_OPENAPI } from './exec-open.openapi';

export const DEFAULT_MAX_EVENTS = 100_000;
/** Events one batch may carry: the agent sends 1,000 (EVENTS_PER_BATCH). */
export const MAX_BATCH_EVENTS = 5_000;
/** Bytes of one path or argument on the wire: the kernel reads 255 and 127 bytes, escapes make at most 4 bytes of one. */
export const MAX_STRING_BYTES = 1_024;
/** argv entries of one exec (EXECOPEN_MAX_ARGS in packages/bpf/src/execopen/execopen.h), with a margin. */
export const MAX_ARGS = 32;

export interface ExecOpenParams {
  exec: boolean;
  open: boolean;
  failedOnly: boolean;
  maxEvents: number;
}

const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/**
 * The exec-open job type, whole: its request fields and their limits, its StartRun part, its wire caps and its links.
 * job-types/registry.ts is the only place that lists it; exec-open.service.ts stores its results.
 */
export const EXEC_OPEN = {
  name: 'exec-open',
  fields: ['events', 'failedOnly', 'maxEvents'] as const,
  dto: ExecOpenFields,

  docs: {
    description:
      'Execs (execsnoop) and opens (opensnoop) from the syscalls tracepoints (execve, execveat; open, openat, openat2): every ' +
      'call of the target, reported when it returns, with pid, ppid, comm, the file name and argv (at most 20 arguments of 127 ' +
      'bytes) or the path (255 bytes) and flags, and the return code (an fd or -errno). Events are stored in the order each node ' +
      'saw them return, per node and merged. Strings read from the traced process have control bytes escaped as \\xNN.',
    openapi: EXEC_OPEN_OPENAPI,
    fields: {
      events: { description: 'What to trace: exec, open or both.', default: ['exec', 'open'] },
      failedOnly: { description: 'Only calls that returned an error (execsnoop -x, opensnoop -x).', default: false },
      maxEvents: { description: 'Events kept per node; past it they are only counted (overBudget).', default: DEFAULT_MAX_EVENTS },
    },
  },

  /** Checked again here, for a caller that did not go through the DTO. */
  params(body: JobRequest<ExecOpenFields & SharedJobFields>): ExecOpenParams {
    const events = body.events ?? [...EXEC_OPEN_EVENTS];
    if (!Array.isArray(events) || events.length === 0 || events.length > 2) badField('events', 'must be a non-empty array of exec and open');
    events.forEach((e, i) => {
      if (!(EXEC_OPEN_EVENTS as readonly unknown[]).includes(e)) badField(`events[${i}]`, 'must be exec or open');
    });
    const failedOnly = body.failedOnly ?? false;
    if (typeof failedOnly !== 'boolean') badField('failedOnly', 'must be a boolean');
    const maxEvents = body.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (!isInt(maxEvents, 0, MAX_EVENTS)) badField('maxEvents', `must be an integer in [0, ${MAX_EVENTS}]`);
    return { exec: events.includes('exec'), open: events.includes('open'), failedOnly, maxEvents };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    const p = params as unknown as ExecOpenParams;
    return { $case: 'execOpen', value: { exec: p.exec, open: p.open, failedOnly: p.failedOnly, maxEvents: p.maxEvents } };
  },

  links(base: string): Record<string, string> {
    return { execOpen: `${base}/exec-open`, execOpenText: `${base}/exec-open.txt` };
  },

  /** AgentMessage fields 40 and 41: checked on the wire before they are decoded (agents/batch-limits.ts). */
  wire: [
    {
      field: 40,
      type: 'execOpenEvents',
      maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
      shape: {
        1: runIdField,
        3: strings,
        4: {
          name: 'events',
          kind: 'msg',
          total: 'events',
          shape: {
            2: { name: 'syscall', kind: 'str', maxLen: 16 },
            11: { name: 'path', kind: 'str', maxLen: MAX_STRING_BYTES },
            12: { name: 'args', kind: 'str', maxLen: MAX_STRING_BYTES, maxPer: MAX_ARGS },
          },
        },
      },
      totals: { events: MAX_BATCH_EVENTS, strings: 100_000 },
    },
    { field: 41, type: 'execOpenReport', maxBytes: 64 * 1024, shape: { 1: runIdField }, totals: {} },
  ] as readonly FieldCaps[],
};

import type { StartRun } from '@tracefleet/proto';
import { badField } from '../common/bad-field';
import type { JobRequest } from '../common/job-request';
import { MAX_EVENTS, type SharedJobFields } from '../common/job-fields';
import { MAX_RECEIVE_MESSAGE_BYTES, runIdField, strings, type FieldCaps } from '../common/wire-shape';
import { MAX_MAX_SOCKETS, MAX_PORTS, MIN_MAX_SOCKETS, TcpFields } from './tcp.dto';
import { TCP_OPENAPI } from './tcp.openapi';
import { TCP_SLOTS } from './tcp.view';

export const DEFAULT_MAX_EVENTS = 100_000;
export const DEFAULT_MAX_SOCKETS = 16_384;
/** Connections one batch may carry: the agent sends 5,000 (CONNECTIONS_PER_BATCH). */
export const MAX_BATCH_CONNECTIONS = 10_000;

export interface TcpParams {
  ports: number[];
  /** 0: both families. */
  family: number;
  maxEvents: number;
  maxSockets: number;
}

const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/**
 * The tcp job type, whole: its request fields and their limits, its StartRun part, its wire caps and its links.
 * job-types/registry.ts is the only place that lists it; tcp.service.ts stores its results.
 */
export const TCP = {
  name: 'tcp',
  fields: ['ports', 'family', 'maxEvents', 'maxSockets'] as const,
  dto: TcpFields,

  docs: {
    description:
      'TCP connections (tcplife) and connect latency (tcpconnlat) from the sock:inet_sock_set_state tracepoint (tp_btf): every ' +
      'connection of the target that closes, with pid, comm, addresses, ports, bytes and lifetime, and a log2 histogram (µs) of ' +
      'active connect latency, merged across nodes and per node. The target is the task that connected (or, for an accepted ' +
      'socket, the one that closed it).',
    openapi: TCP_OPENAPI,
    fields: {
      ports: { description: `Only connections whose local or remote port is one of these (at most ${MAX_PORTS}).` },
      family: { description: 'Only IPv4 (4) or IPv6 (6) connections; both when absent.' },
      maxEvents: { description: 'Connections kept per node; past it they are only counted (overBudget). The histogram counts every connect.', default: DEFAULT_MAX_EVENTS },
      maxSockets: { description: 'Sockets each node follows at once; births beyond are counted (noStart).', default: DEFAULT_MAX_SOCKETS },
    },
  },

  /** Checked again here, for a caller that did not go through the DTO. */
  params(body: JobRequest<TcpFields & SharedJobFields>): TcpParams {
    const ports = body.ports ?? [];
    if (!Array.isArray(ports) || ports.length > MAX_PORTS) badField('ports', `must be an array of at most ${MAX_PORTS} ports`);
    ports.forEach((p, i) => {
      if (!isInt(p, 1, 65535)) badField(`ports[${i}]`, 'must be an integer in [1, 65535]');
    });
    const family = body.family ?? 0;
    if (family !== 0 && family !== 4 && family !== 6) badField('family', 'must be 4 or 6');
    const maxEvents = body.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (!isInt(maxEvents, 0, MAX_EVENTS)) badField('maxEvents', `must be an integer in [0, ${MAX_EVENTS}]`);
    const maxSockets = body.maxSockets ?? DEFAULT_MAX_SOCKETS;
    if (!isInt(maxSockets, MIN_MAX_SOCKETS, MAX_MAX_SOCKETS)) badField('maxSockets', `must be an integer in [${MIN_MAX_SOCKETS}, ${MAX_MAX_SOCKETS}]`);
    return { ports: [...new Set(ports)], family, maxEvents, maxSockets };
  },

  spec(params: Record<string, unknown>): NonNullable<StartRun['spec']> {
    const p = params as unknown as TcpParams;
    return { $case: 'tcp', value: { ports: p.ports, family: p.family, maxEvents: p.maxEvents, maxSockets: p.maxSockets } };
  },

  links(base: string): Record<string, string> {
    return { tcp: `${base}/tcp`, tcpText: `${base}/tcp.txt`, tcpSvg: `${base}/tcp.svg` };
  },

  /** AgentMessage fields 30 and 31: checked on the wire before they are decoded (agents/batch-limits.ts). */
  wire: [
    {
      field: 30,
      type: 'tcpConnections',
      maxBytes: MAX_RECEIVE_MESSAGE_BYTES,
      shape: {
        1: runIdField,
        3: strings,
        4: {
          name: 'connections',
          kind: 'msg',
          total: 'connections',
          shape: { 4: { name: 'saddr', kind: 'str', maxLen: 64 }, 5: { name: 'daddr', kind: 'str', maxLen: 64 }, 14: { name: 'pidSource', kind: 'str', maxLen: 16 } },
        },
      },
      totals: { connections: MAX_BATCH_CONNECTIONS, strings: 100_000 },
    },
    {
      field: 31,
      type: 'tcpReport',
      maxBytes: 64 * 1024,
      shape: { 1: runIdField, 2: { name: 'connectSlots', kind: 'num', maxPer: TCP_SLOTS } },
      totals: {},
    },
  ] as readonly FieldCaps[],
};

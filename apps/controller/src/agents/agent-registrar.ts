import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import type { NodeIdentity } from '@tracefleet/pki';
import { PROTOCOL_VERSION, type Register } from '@tracefleet/proto';
import type { ControllerEnv } from '../config/env';
import { EnrollError } from '../enrollment/bootstrap-token';
import type { NodeCertificatesService } from '../enrollment/node-certificates.service';
import type { NodesService } from '../nodes/nodes.service';
import type { Registered } from '../nodes/register-many';
import type { RunsService } from '../runs/runs.service';
import type { RunHandover } from '../runs/run-handover';
import type { AgentCommandQueue } from '../queue/agent-commands';
import { GatedWrites } from '../runs/gated-writes';
import { StoreGate } from '../prisma/store-gate';
import type { AgentSession } from './agent.gateway';

/**
 * Registrations recorded at once, each a batch of up to REGISTRATIONS_PER_BATCH: a fleet reconnecting
 * together (a replica restarted, a network back) waits here, holding at most this many pooled connections,
 * instead of taking every one and timing out in the pool; the agent waits for its `registered` meanwhile.
 */
const REGISTRATION_BATCHES = 2;
const REGISTRATIONS_PER_BATCH = 200;

type Call = AgentSession['call'];

/** One agent's Register waiting to be recorded; `out` receives its session. */
interface Waiting {
  call: Call;
  reg: Register;
  peer: NodeIdentity;
  out: { session?: AgentSession };
}

/**
 * Records agents' registrations in batches: the registrations waiting when a batch starts are checked and
 * written together — one read of their certificates (NodeCertificatesService.refusals), one transaction for
 * their nodes (register-many.ts), one read and at most two writes to hand their runs over (RunHandover.handOverMany)
 * and one read of the runs waiting for them. One at a time, each took about eight round trips with four at once:
 * 500 agents connecting together waited 3.5–6.7 s (BENCHMARKS.md, fleet: registration).
 */
export class AgentRegistrar {
  private readonly log = new Logger('AgentRegistrar');
  private readonly batches = new GatedWrites<Waiting>(new StoreGate(REGISTRATION_BATCHES), REGISTRATIONS_PER_BATCH, (w, settle) => this.recordAll(w, settle));

  constructor(
    private readonly env: ControllerEnv,
    private readonly certs: NodeCertificatesService,
    private readonly nodes: NodesService,
    private readonly handover: RunHandover,
    private readonly runs: RunsService,
    private readonly commands: AgentCommandQueue,
    /** The gateway's sessions by node name: a recorded registration's session is put there. */
    private readonly sessions: Map<string, AgentSession>,
  ) {}

  /** Registrations waiting for a batch (metrics, tests). */
  get queued(): number {
    return this.batches.queued;
  }

  /** Records the agent's registration on this replica; rejects with an EnrollError for a refusal, the storage error otherwise. */
  async register(call: Call, reg: Register, peer: NodeIdentity): Promise<AgentSession> {
    if (reg.protocolVersion !== PROTOCOL_VERSION) {
      throw new EnrollError(status.FAILED_PRECONDITION, `protocol version ${reg.protocolVersion} is not supported (controller speaks ${PROTOCOL_VERSION})`);
    }
    if (reg.nodeName !== peer.nodeName) {
      throw new EnrollError(status.PERMISSION_DENIED, `the client certificate is for node ${peer.nodeName}; it cannot register as ${JSON.stringify(reg.nodeName.slice(0, 80))}`);
    }
    const out: Waiting['out'] = {};
    await this.batches.write({ call, reg, peer, out });
    if (!out.session) throw new Error(`registration of ${reg.nodeName} settled without a session`);
    return out.session;
  }

  /**
   * A batch: each name once per round (a node registering twice in one batch — its agent reconnected at once —
   * is recorded after its first registration, which its second then supersedes, as it would one at a time).
   */
  private async recordAll(waiting: Waiting[], settle: (i: number, err?: unknown) => void): Promise<void> {
    let left = waiting.map((w, i) => ({ w, i }));
    while (left.length > 0) {
      const names = new Set<string>();
      const round = left.filter(({ w }) => !names.has(w.reg.nodeName) && names.add(w.reg.nodeName));
      const taken = new Set(round);
      left = left.filter((x) => !taken.has(x));
      await this.recordRound(round, settle);
    }
  }

  private async recordRound(round: { w: Waiting; i: number }[], settle: (i: number, err?: unknown) => void): Promise<void> {
    const refusals = await this.certs.refusals(round.map(({ w }) => w.peer));
    const admitted = round.filter(({ i }, k) => {
      const refusal = refusals[k];
      if (refusal) settle(i, new EnrollError(status.PERMISSION_DENIED, refusal));
      return !refusal;
    });
    const sessionIds = admitted.map(() => randomUUID());
    const recorded = await this.recordNodes(admitted.map(({ w }, k) => ({ reg: w.reg, sessionId: sessionIds[k] })));
    const live: { w: Waiting; i: number; session: AgentSession; previousReplicaId: string | null }[] = [];
    admitted.forEach(({ w, i }, k) => {
      const r = recorded[k];
      if (r instanceof Error) return settle(i, r);
      if (r.refused !== undefined) return settle(i, new EnrollError(status.ALREADY_EXISTS, r.refused));
      const { call, reg, peer } = w;
      const previous = this.sessions.get(reg.nodeName);
      const session: AgentSession = { sessionId: sessionIds[k], nodeId: r.nodeId, nodeName: reg.nodeName, facts: reg, peer, call, backlog: 0, origin: { acked: false } };
      this.sessions.set(reg.nodeName, session);
      // The same node reconnected before its old stream was noticed as dead (here, or on a replica that died).
      previous?.call.end();
      live.push({ w, i, session, previousReplicaId: r.previousReplicaId });
    });
    const where = (l: (typeof live)[number]): string =>
      `on replica ${this.env.replicaId}${l.previousReplicaId && l.previousReplicaId !== this.env.replicaId ? `, was on ${l.previousReplicaId}` : ''}`;
    let ended: { runId: string; status: string }[][] = live.map(() => []);
    try {
      // Runs the agents still hold move to their new sessions; started ones they do not hold were lost with their previous process.
      const handed = await this.handover.handOverMany(
        live.map((l) => ({ nodeId: l.session.nodeId, nodeName: l.session.nodeName, sessionId: l.session.sessionId, heldRunIds: l.w.reg.heldRunIds, where: where(l) })),
      );
      ended = handed.map((h) => h.ended);
      // Runs not started yet follow their node here: their start may be queued on a replica that is gone.
      const pending = await this.runs.pendingRunIdsOf(live.map((l) => l.session.nodeId));
      await Promise.all(
        live.flatMap((l) =>
          (pending.get(l.session.nodeId) ?? []).map((runId) =>
            this.commands.send(this.env.replicaId, { name: 'start-run', data: { runId, hops: 0 } }, `start-${runId}-${l.session.sessionId}`),
          ),
        ),
      );
    } catch (err) {
      // Not fatal for the sessions: the sweep and the deadline still end those runs.
      this.log.error(`${live.length} agent(s) registering: settling runs of earlier sessions failed: ${(err as Error).message}`);
    }
    live.forEach((l, k) => {
      const { call, reg } = l.w;
      call.write({ msg: { $case: 'registered', value: { nodeId: l.session.nodeId, heartbeatIntervalMs: this.env.heartbeatIntervalMs } } });
      // Runs that ended here while the agent was away (past the grace period, or their deadline): it stops them;
      // the results it still sends for them are acknowledged and dropped.
      for (const e of ended[k]) call.write({ msg: { $case: 'stopRun', value: { runId: e.runId, reason: `the run already ended on the controller (${e.status})` } } });
      const was = l.previousReplicaId && l.previousReplicaId !== this.env.replicaId ? ` (was on ${l.previousReplicaId})` : '';
      this.log.log(
        `agent ${reg.nodeName} registered on replica ${this.env.replicaId}${was} (kernel ${reg.kernelRelease}, ${reg.capabilities.join(',') || 'no capabilities'})`,
      );
      l.w.out.session = l.session;
      settle(l.i);
    });
  }

  /**
   * The round's nodes in one transaction. Should it fail (one agent's values PostgreSQL refuses, say, or the
   * database away), each is recorded alone, so that one agent's bad registration fails only its own.
   */
  private async recordNodes(items: { reg: Register; sessionId: string }[]): Promise<(Registered | Error)[]> {
    try {
      return await this.nodes.registerMany(items);
    } catch (err) {
      if (items.length === 1) return [err as Error];
      this.log.warn(`recording ${items.length} registrations together failed (${(err as Error).message}); recording each alone`);
      const out: (Registered | Error)[] = [];
      for (const item of items) out.push(await this.nodes.registerMany([item]).then((r) => r[0], (e: Error) => e));
      return out;
    }
  }
}

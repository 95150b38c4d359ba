import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Server, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { NodeIdentity } from '@tracefleet/pki';
import {
  CertRenewalService,
  type AgentMessage,
  type ControllerMessage,
  type Register,
  type ListUsdt,
  type Target,
  type TargetCheckResult,
  type UsdtListResult,
} from '@tracefleet/proto';
import { ENV, type ControllerEnv } from '../config/env';
import { FleetCaService } from '../enrollment/fleet-ca.service';
import { NodeCertificatesService } from '../enrollment/node-certificates.service';
import { EnrollError } from '../enrollment/bootstrap-token';
import { peerIdentity } from '../enrollment/peer';
import { renewalService } from '../enrollment/enrollment.server';
import { NodesService } from '../nodes/nodes.service';
import { RunsService } from '../runs/runs.service';
import { RunHandover } from '../runs/run-handover';
import type { DeliveryOrigin } from '../runs/delivery';
import { AgentCommandQueue } from '../queue/agent-commands';
import { CheckedAgentLinkService, checkOf, decodeWire, type WireMessage } from './agent-decoder';
import { IngestBudget } from './ingest-budget';
import { Paced } from './paced';
import { HoldDuty } from './hold-duty';
import { PrismaService } from '../prisma/prisma.service';
import { MAX_RECEIVE_MESSAGE_BYTES } from './batch-limits';
import { BatchGuard } from './batch-guard';
import { registrationFailure, sessionErrorText } from './registration-failure';
import { AgentRegistrar } from './agent-registrar';

type Call = ServerDuplexStream<WireMessage, ControllerMessage>;

export interface AgentSession {
  /** This stream's id; the Node row and the runs started on it carry it. */
  sessionId: string;
  nodeId: string;
  nodeName: string;
  facts: Register;
  /** The client certificate the session was opened with: its node name is the only one it may register. */
  peer: NodeIdentity;
  call: Call;
  /** Result batches received and not yet stored. */
  backlog: number;
  /** Its messages' delivery: numbered (acknowledged) or not, and whether storage failed for them. */
  origin: DeliveryOrigin;
}

const REGISTER_TIMEOUT_MS = 10_000;
/** Paused streams resumed per turn of the event loop (Paced): each hands over a message to decode at once. */
const RESUMES_PER_TURN = 16;
/** The longest a command holds every session unread (IngestBudget.forCommand, HoldDuty); past it results flow beside it. */
const COMMAND_HOLD_MAX_MS = 2000;
/** On SIGTERM, how long result writes under way may take before the sessions are ended anyway. */
const DRAIN_MS = 10_000;
/**
 * Result batches of one agent not yet stored: past HIGH the stream is paused, so HTTP/2 flow
 * control holds the agent's writes back (it waits for 'drain') instead of the controller
 * buffering without bound; below LOW it resumes.
 */
const BACKLOG_HIGH = 16;
const BACKLOG_LOW = 4;
/** Transport keepalive of agent connections: a ping after this much silence... */
const KEEPALIVE_MS = 20_000;
/** ...and the connection is closed when no answer comes within this. */
const KEEPALIVE_TIMEOUT_MS = 10_000;

/**
 * The gRPC side of one controller replica: one bidirectional stream per agent connected to it.
 * Mutual TLS: only a node certificate chained to the fleet CA gets through the handshake, and the
 * node name it carries (issued, unrevoked, unexpired per PostgreSQL) is the only one the session may
 * register. Like any TLS server it checks the certificate when the session opens: a session outlives
 * its certificate's expiry (runs are not cut once a day); revocation ends it explicitly (endSession).
 * Records the session in the node registry (PostgreSQL),
 * routes results to RunsService, and fails the session's runs when its stream ends. Commands for
 * these agents reach this replica through its queue (AgentRouter); `send` is the local last hop.
 */
@Injectable()
export class AgentGateway implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private readonly log = new Logger(AgentGateway.name);
  private readonly sessions = new Map<string, AgentSession>();
  private readonly pending = new Map<string, (answer: unknown) => void>();
  /** Sessions heard from since the last heartbeat tick, by session id. */
  private readonly heard = new Map<string, AgentSession>();
  private heardTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  /** SIGTERM: new sessions are refused and live ones told to go to another replica. */
  private draining = false;
  private server: Server | undefined;
  boundAddress = '';
  /** Registrations, recorded in batches (agent-registrar.ts). */
  private readonly registrar: AgentRegistrar;
  /** Decoded result messages not yet stored, all sessions together: at the cap every stream is paused. */
  readonly budget: IngestBudget<AgentSession>;
  /** Commands first (StoreGate.onCommands): how long commands may hold every session unread (IngestBudget.forCommand). */
  readonly holdDuty = new HoldDuty(COMMAND_HOLD_MAX_MS, (on) => this.budget.forCommand(on));
  /**
   * Streams to resume, RESUMES_PER_TURN a turn. Whether one still may be read is asked again at its turn: the
   * budget may have held every session again meanwhile (it resumes them itself later), or its own backlog grown.
   */
  private readonly resumes = new Paced<AgentSession>(RESUMES_PER_TURN, (s) => {
    if (this.mayResume(s)) s.call.resume();
  });

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly nodes: NodesService,
    private readonly runs: RunsService,
    handover: RunHandover,
    commands: AgentCommandQueue,
    private readonly guard: BatchGuard,
    private readonly fleetCa: FleetCaService,
    private readonly certs: NodeCertificatesService,
    prisma: PrismaService,
  ) {
    this.budget = new IngestBudget<AgentSession>(
      { maxMessages: env.ingestInflight, maxBytes: env.ingestInflightBytes },
      () => this.sessions.values(),
      (s) => s.call.pause(),
      (s) => this.resumes.add(s),
    );
    prisma.storeGate.onCommands((running) => this.holdDuty.commands(running));
    this.registrar = new AgentRegistrar(env, certs, nodes, handover, runs, commands, this.sessions);
  }

  /** Registrations received and not yet recorded (metrics). */
  get registrationsWaiting(): number {
    return this.registrar.queued;
  }

  /** Paused streams waiting for their turn to be resumed (metrics). */
  get resumesWaiting(): number {
    return this.resumes.waiting;
  }

  async onModuleInit(): Promise<void> {
    await this.fleetCa.ready();
    const server = new Server({
      'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
      // Pings find a peer that vanished without closing its connection, also while its stream is paused.
      'grpc.keepalive_time_ms': KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    });
    // Messages are checked against their caps before they are decoded (agents/batch-limits.ts).
    server.addService(CheckedAgentLinkService, { session: (call: Call) => this.onSession(call) });
    server.addService(CertRenewalService, renewalService(this.certs, this.fleetCa, this.log));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.env.grpcAddr, this.fleetCa.credentials(true), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    this.boundAddress = this.env.grpcAddr.replace(/:\d+$/, `:${port}`);
    this.heardTimer = setInterval(() => void this.flushHeard(), Math.min(1000, Math.max(50, Math.floor(this.env.heartbeatIntervalMs / 2))));
    this.heardTimer.unref();
    this.log.log(`agent link listening on ${this.boundAddress} (mutual TLS: node certificates of the fleet CA)`);
  }

  /**
   * The drain on SIGTERM (Nest runs it before PostgreSQL and Redis are closed): refuse new sessions, stop
   * reading the live ones (what they send next goes to another replica), let the writes already under way
   * finish (acknowledged as usual), record the last signs of life, then end each session with UNAVAILABLE
   * so its agent reconnects at once to another address and sends again what was not acknowledged.
   */
  async onModuleDestroy(): Promise<void> {
    this.draining = true;
    clearInterval(this.heardTimer);
    const sessions = [...this.sessions.values()];
    for (const s of sessions) s.call.pause();
    const started = Date.now();
    const settled = await this.runs.idle(DRAIN_MS);
    await this.flushHeard();
    for (const s of sessions) if (!s.call.cancelled && !s.call.destroyed) this.sendElsewhere(s.call);
    this.log.log(
      `drained: ${sessions.length} agent session(s) sent elsewhere; result writes under way ${settled ? `finished in ${Date.now() - started} ms` : `still running after ${DRAIN_MS} ms (their agents send them again)`}`,
    );
  }

  /** Ends a stream with UNAVAILABLE: its agent reconnects at once to the next replica it knows. */
  private sendElsewhere(call: Call): void {
    call.emit('error', { code: status.UNAVAILABLE, details: `controller replica ${this.env.replicaId} is shutting down; connect to another` });
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.heardTimer);
    for (const s of this.sessions.values()) s.call.end();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      const t = setTimeout(() => {
        this.server?.forceShutdown();
        resolve();
      }, 3000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  isConnected(nodeName: string): boolean {
    return this.sessions.has(nodeName);
  }

  connectedNodeNames(): string[] {
    return [...this.sessions.keys()];
  }

  session(nodeName: string): AgentSession | undefined {
    return this.sessions.get(nodeName);
  }

  /** Ends the node's session on this replica with a status the agent sees (revocation). False when it has none here. */
  endSession(nodeName: string, code: status, reason: string): boolean {
    const s = this.sessions.get(nodeName);
    if (!s) return false;
    s.call.emit('error', { code, details: reason });
    return true;
  }

  send(nodeName: string, msg: ControllerMessage, written?: () => void): boolean {
    const s = this.sessions.get(nodeName);
    if (!s) return false;
    s.call.write(msg, written);
    return true;
  }

  /** Asks each named node whether the target exists there; nodes that do not answer in time count as "no answer". */
  async checkTarget(nodeNames: string[], target: Target, timeoutMs = 3000): Promise<Map<string, TargetCheckResult | undefined>> {
    const answers = new Map<string, TargetCheckResult | undefined>();
    await Promise.all(
      nodeNames.map(async (name) => {
        const answer = await this.request<TargetCheckResult>(name, (requestId) => ({ $case: 'checkTarget', value: { requestId, target } }), timeoutMs);
        answers.set(name, answer === null ? { requestId: '', found: false, detail: 'node not connected' } : answer);
      }),
    );
    return answers;
  }

  /** The USDT probes a node finds in a binary or a process; undefined when the node does not answer in time. */
  listUsdt(nodeName: string, source: ListUsdt['source'], timeoutMs = 15_000): Promise<UsdtListResult | undefined | null> {
    return this.request<UsdtListResult>(nodeName, (requestId) => ({ $case: 'listUsdt', value: { requestId, source } }), timeoutMs);
  }

  /**
   * One request/response over a node's stream, matched by request id.
   * Resolves null when the node is not connected, undefined on timeout.
   */
  private request<T>(nodeName: string, build: (requestId: string) => ControllerMessage['msg'], timeoutMs: number): Promise<T | undefined | null> {
    const requestId = randomUUID();
    // The answer comes on the session's stream: a command running meanwhile must not hold it unread.
    const s = this.sessions.get(nodeName);
    const unspare = s ? this.budget.spare(s) : () => undefined;
    return new Promise<T | undefined | null>((resolve) => {
      const t = setTimeout(() => {
        this.pending.delete(requestId);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(requestId, (r) => {
        clearTimeout(t);
        this.pending.delete(requestId);
        resolve(r as T);
      });
      if (!this.send(nodeName, { msg: build(requestId) })) {
        clearTimeout(t);
        this.pending.delete(requestId);
        resolve(null);
      }
    }).finally(unspare);
  }

  private onSession(call: Call): void {
    let peer: NodeIdentity;
    try {
      peer = peerIdentity(call);
    } catch (err) {
      const e = err as EnrollError;
      this.log.warn(`refused an agent from ${call.getPeer()}: ${e.message}`);
      call.emit('error', { code: e.code ?? status.UNAUTHENTICATED, details: e.message });
      return;
    }
    if (this.draining) return this.sendElsewhere(call);
    let session: AgentSession | undefined;
    const timer = setTimeout(() => {
      if (!session) call.emit('error', { code: status.DEADLINE_EXCEEDED, details: 'no register message within 10 s' });
    }, REGISTER_TIMEOUT_MS);

    // A paused stream buffers one message (encoded) in its readable side instead of Node's default 16:
    // with thousands of agents held back by the ingest budget, what they buffer is what stays bounded.
    shrinkReadBuffer(call as unknown as Parameters<typeof shrinkReadBuffer>[0]);
    call.on('data', (w: WireMessage) => {
      const msg = decodeWire(w);
      if (!session) {
        if (msg.msg?.$case !== 'register') {
          call.emit('error', { code: status.FAILED_PRECONDITION, details: 'the first message must be register' });
          return;
        }
        clearTimeout(timer);
        const reg = msg.msg.value;
        void this.registrar.register(call, reg, peer).then(
          (s) => {
            session = s;
            // The stream may have ended while the registration was being written.
            if (call.cancelled || call.destroyed) closed('ended during registration');
          },
          (err: Error) => {
            const f = registrationFailure(err);
            if (f.refused) this.log.warn(`refused a registration from ${call.getPeer()}: ${err.message}`);
            else this.log.error(`registration from ${call.getPeer()} failed: ${err.message}`);
            call.emit('error', { code: f.code, details: f.details });
          },
        );
        return;
      }
      if (this.guard.admit(session, msg)) this.route(session, msg);
    });
    const closed = (why: string): void => {
      clearTimeout(timer);
      if (!session) return;
      const s = session;
      session = undefined;
      if (this.sessions.get(s.nodeName) === s) this.sessions.delete(s.nodeName);
      this.budget.forget(s);
      this.resumes.delete(s);
      this.log.log(`agent ${s.nodeName} disconnected from replica ${this.env.replicaId}: ${why}`);
      // Its runs go on: the agent keeps their results and sends them from its next session, here or on
      // another replica (RunHandover); they fail only if it stays silent past TRACEFLEET_RUN_GRACE_MS.
      void this.nodes
        .sessionEnded(s.nodeId, s.sessionId, `session on replica ${this.env.replicaId} ended: ${why}`)
        .catch((e) => this.log.error(`mark ${s.nodeName} unreachable: ${e}`));
    };
    call.on('end', () => {
      closed('stream ended');
      call.end();
    });
    call.on('error', (err: Error) => closed(sessionErrorText(err)));
    call.on('cancelled', () => closed('cancelled'));
  }

  /**
   * Writes the signs of life heard since the last tick in one statement. Sessions whose stream this
   * replica has paused (it is behind storing their batches) count as heard: their heartbeats wait
   * behind those batches, and a dead peer still ends the stream (socket closed, or no answer to the
   * transport's keepalive pings). A session that is no longer its node's current one is closed.
   */
  private async flushHeard(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const s of this.sessions.values()) if (s.call.isPaused()) this.heard.set(s.sessionId, s);
      if (this.heard.size === 0) return;
      const heard = [...this.heard.values()];
      this.heard.clear();
      const current = await this.nodes.heartbeatMany(heard.map((s) => ({ nodeId: s.nodeId, sessionId: s.sessionId })));
      for (const s of heard) {
        // The node registered again elsewhere: this stream is a leftover; ending it tells a live agent to reconnect.
        if (!current.has(s.sessionId) && this.sessions.get(s.nodeName) === s) {
          this.log.warn(`agent ${s.nodeName}: session ${s.sessionId} was superseded; closing it`);
          s.call.end();
        }
      }
    } catch (err) {
      this.log.error(`recording heartbeats: ${(err as Error).message}`);
    } finally {
      this.flushing = false;
    }
  }

  /**
   * A result message taken from the session: counted against its own backlog (past HIGH its stream
   * pauses) and against the replica's ingest budget (at its cap every stream pauses) until stored.
   */
  private throttle(s: AgentSession, stored: Promise<boolean>, bytes: number): void {
    const release = this.budget.take(s, bytes);
    if (++s.backlog >= BACKLOG_HIGH && !s.call.isPaused()) s.call.pause();
    void stored.finally(() => {
      release();
      if (--s.backlog <= BACKLOG_LOW && this.mayResume(s)) this.resumes.add(s);
    });
  }

  /** A paused session may be read again: not draining, its own backlog low, and the ingest budget not holding it. */
  private mayResume(s: AgentSession): boolean {
    return !this.draining && s.backlog <= BACKLOG_LOW && !this.budget.holds(s) && s.call.isPaused();
  }

  /**
   * Once a numbered run message is applied, the agent is told it may forget it (Ack, by the run's
   * delivery number). When storage failed for it, the session ends with UNAVAILABLE: the agent keeps
   * everything not acknowledged and sends it again from its next session.
   */
  private acknowledge(s: AgentSession, runId: string, delivery: bigint | undefined, applied: Promise<boolean>): void {
    if (delivery === undefined) return;
    void applied.then((ok) => {
      if (s.call.cancelled || s.call.destroyed || s.call.writableEnded) return;
      if (ok) {
        s.call.write({ msg: { $case: 'ack', value: { runId, delivery } } });
      } else if (s.origin.unavailable && !s.origin.ended) {
        s.origin.ended = true;
        this.log.warn(`agent ${s.nodeName}: results could not be stored (${s.origin.unavailable}); ending its session, it will send them again`);
        s.call.emit('error', { code: status.UNAVAILABLE, details: `the controller could not store results (${s.origin.unavailable}); send them again later` });
      }
    });
  }

  /** A run message taken from the session: held against its limits until applied, then acknowledged. */
  private take(s: AgentSession, runId: string, delivery: bigint | undefined, bytes: number, applied: Promise<boolean>): void {
    this.throttle(s, applied, bytes);
    this.acknowledge(s, runId, delivery, applied);
  }

  private route(s: AgentSession, msg: AgentMessage): void {
    const m = msg.msg;
    const bytes = checkOf(msg)?.bytes ?? 0;
    const delivery = msg.delivery;
    if (delivery !== undefined) s.origin.acked = true;
    // Any message is a sign of life: behind a backlog of batches a heartbeat arrives late, the batches do not.
    this.heard.set(s.sessionId, s);
    switch (m?.$case) {
      case 'heartbeat':
        break; // heard, as any message is (above)
      case 'targetCheckResult':
      case 'usdtListResult':
        this.pending.get(m.value.requestId)?.(m.value);
        break;
      case 'runEvent':
        // Counted like results: a fleet's runs starting or ending at once are as many messages in flight.
        this.take(s, m.value.runId, delivery, bytes, this.runs.onEvent(s.nodeId, m.value, s.origin));
        break;
      case 'profileBatch':
        this.take(s, m.value.runId, delivery, bytes, this.runs.onBatch(s.nodeId, m.value, s.origin));
        break;
      case 'runFinished':
        this.take(s, m.value.runId, delivery, bytes, this.runs.onFinished(s.nodeId, m.value, s.origin));
        break;
      default: {
        // A job type's results (each type's service registers where they go: common/result-stores.ts).
        const value = m?.value as { runId: string; seq?: bigint } | undefined;
        const stored = m && value ? this.runs.onResult(s.nodeId, m.$case, value, s.origin) : undefined;
        if (stored) this.take(s, value!.runId, delivery, bytes, stored);
        else this.log.warn(`agent ${s.nodeName} sent an unexpected ${m?.$case ?? 'empty'} message`);
      }
    }
  }
}

/**
 * Sets the readable high-water mark of a server stream to one message. grpc-js reads a message per
 * `_read` and Node's object-mode default (16) would have it read 16 ahead into a paused stream; the
 * field is Node's own stream state (stable across Node versions; a stream without it is left as is).
 */
export function shrinkReadBuffer(call: { _readableState?: { highWaterMark: number } }): void {
  if (call._readableState && typeof call._readableState.highWaterMark === 'number') call._readableState.highWaterMark = 1;
}

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  AgentLinkClient,
  PROTOCOL_VERSION,
  type AgentMessage,
  type ControllerMessage,
} from '@tracefleet/proto';
import type { AgentConfig } from './config';
import { AGENT_VERSION, hostFacts } from './host';
import { overAgentBounds } from './message-bounds';
import { policyMessage } from './policy';
import { BATCH_BOUNDS } from './runs/registry';
import { untrustedServer, type NodeCredentials } from './identity';

export interface LinkHandlers {
  onMessage(msg: ControllerMessage): void;
  /** Registered on a new session: what was not acknowledged can be sent (again). */
  onConnected?(): void;
  /** The session ended: nothing can be sent until the next one (runs go on; the outbox keeps their results). */
  onSessionLost(reason: string): void;
  /**
   * The controller refused this agent for good: another agent holds this node name's live session
   * (ALREADY_EXISTS). The link stops retrying; the agent should stop and say why.
   */
  onRefused?(reason: string): void;
  /**
   * The controller refused this node's certificate (revoked, or not this fleet's): nothing can be
   * delivered until the node enrolls again, so its runs should stop. The link keeps retrying.
   */
  onCredentialsRefused?(reason: string): void;
}

/** Held run ids one Register names at most: the controller's cap (agents/batch-limits.ts); runs past it are failed there as lost. */
const MAX_HELD_RUNS = 4096;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

/** Full jitter: a random wait in [0, min(max, min·2^attempt)]. */
export function backoffMs(attempt: number, rand: () => number = Math.random): number {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.max(BACKOFF_MIN_MS / 2, Math.floor(rand() * cap));
}

/**
 * Which address to try next: after a session or an attempt fails, the next one in the list, so
 * an agent whose controller replica died reaches another one on its first retry.
 */
export function nextAddrIndex(current: number, count: number): number {
  return count <= 1 ? 0 : (current + 1) % count;
}

/**
 * The first address an agent tries: its node name's place in the list (FNV-1a of the name, mod the
 * count). Every agent given the same list of replicas starts on its own, so a fleet spreads over the
 * replicas evenly instead of piling onto the first; it moves on from there as nextAddrIndex says.
 */
export function firstAddrIndex(nodeName: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (const b of Buffer.from(nodeName, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h % count;
}

/** What the agent logs about a failed link, with what to do when it is not transient. */
export function linkFailure(addr: string, err: Pick<ServiceError, 'code' | 'details' | 'message'>): string {
  const what = `${status[err.code] ?? err.code}: ${err.details || err.message}`;
  if (err.code === status.UNAVAILABLE && untrustedServer(err)) {
    return `refused the controller at ${addr}: the TLS handshake failed, its certificate does not chain to the fleet CA (TRACEFLEET_CA_CERT) or does not name ${addr.replace(/:\d+$/, '')} (${what}); nothing was sent or started`;
  }
  if (err.code === status.PERMISSION_DENIED || err.code === status.UNAUTHENTICATED) {
    return `${what} — this node's certificate was refused; if the node was revoked (DELETE /api/v1/nodes/NAME), enroll it again with a new bootstrap token after removing its state directory`;
  }
  return what;
}

/** Waits for the stream's 'drain'; rejects when the stream closes or fails first (a writer never waits forever). */
function drained(call: ClientDuplexStream<AgentMessage, ControllerMessage>): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      call.off('drain', onDrain);
      call.off('close', onClose);
      call.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('the controller link closed'));
    const onError = (err: Error): void => done(err);
    call.on('drain', onDrain);
    call.on('close', onClose);
    call.on('error', onError);
  });
}

/**
 * The agent's side of the AgentLink stream: registers, heartbeats, and reconnects with bounded
 * exponential backoff and jitter, moving through the controller replicas' addresses
 * (TRACEFLEET_CONTROLLER_GRPC, in the order given, from the one its node name picks: firstAddrIndex;
 * from the first with TRACEFLEET_CONTROLLER_ORDER=given) on each reconnect. Always mutual TLS: the fleet
 * CA is the only trust root, and the node's certificate (NodeCredentials) is what names it.
 */
export class ControllerLink {
  private readonly clients = new Map<string, AgentLinkClient>();
  /** The certificate generation the clients were built with: after a renewal they are rebuilt. */
  private clientsGeneration = -1;
  private addrIndex = 0;
  private call: ClientDuplexStream<AgentMessage, ControllerMessage> | undefined;
  private registered = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closing = false;
  /** Why the link is not registered (the last failure, or that it is still connecting): /health/ready says it. */
  private downReason = 'not registered with a controller yet';
  /** This agent process, in every Register: the controller tells a reconnect of it from a second agent with its name. */
  readonly instanceId = randomUUID();
  runningRunIds: () => string[] = () => [];
  /** Runs this agent still holds (running, or with results not acknowledged), named in Register. */
  heldRunIds: () => string[] = () => [];

  constructor(
    private readonly cfg: AgentConfig,
    private readonly handlers: LinkHandlers,
    private readonly log: (msg: string) => void,
    private readonly identity: NodeCredentials,
  ) {
    if (cfg.controllerAddrs.length === 0) throw new Error('no controller address');
    this.addrIndex = cfg.controllerOrder === 'given' ? 0 : firstAddrIndex(cfg.nodeName, cfg.controllerAddrs.length);
  }

  get connected(): boolean {
    return this.registered;
  }

  /** Undefined while registered; else why not. */
  get notReadyReason(): string | undefined {
    return this.registered ? undefined : this.downReason;
  }

  /** The controller address in use (or being tried). */
  get controllerAddr(): string {
    return this.cfg.controllerAddrs[this.addrIndex];
  }

  private client(addr: string): AgentLinkClient {
    if (this.clientsGeneration !== this.identity.generation) {
      // A renewed certificate: new channels, so the next handshake presents it.
      for (const old of this.clients.values()) old.close();
      this.clients.clear();
      this.clientsGeneration = this.identity.generation;
    }
    let c = this.clients.get(addr);
    if (!c) {
      c = new AgentLinkClient(addr, this.identity.credentials(), {
        'grpc.keepalive_time_ms': 15_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': 16 * 1024 * 1024,
      });
      this.clients.set(addr, c);
    }
    return c;
  }

  start(): void {
    this.connect();
  }

  /**
   * Sends one message, waiting for the stream to drain when gRPC asks for it, else for a turn of the event
   * loop: grpc-js completes a write at once while the call's retry buffer has room, so a backlog sent in
   * one go (the outbox after a reconnect) would encode in microtasks without reading the socket, and the
   * controller's keepalive (no PING answer within 10 s) would drop the connection (seen with the fleet
   * bench's simulated agents: 25 s without a socket read).
   */
  async send(msg: AgentMessage): Promise<void> {
    const call = this.call;
    if (!call || !this.registered) throw new Error('not connected to the controller');
    const over = overAgentBounds(msg, BATCH_BOUNDS);
    if (over) throw new Error(`not sent: ${over}`);
    if (!call.write(msg)) await drained(call);
    else await nextTurn();
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeat);
    const call = this.call;
    if (call) {
      call.end();
      await Promise.race([once(call, 'close'), new Promise((r) => setTimeout(r, 2000))]);
    }
    for (const c of this.clients.values()) c.close();
  }

  private connect(): void {
    const addr = this.controllerAddr;
    const call = this.client(addr).session();
    this.call = call;
    const facts = hostFacts();
    call.write({
      msg: {
        $case: 'register',
        value: {
          nodeName: this.cfg.nodeName,
          labels: this.cfg.labels,
          kernelRelease: facts.kernelRelease,
          btf: facts.btf,
          protocolVersion: PROTOCOL_VERSION,
          capabilities: facts.capabilities,
          agentVersion: AGENT_VERSION,
          cpus: facts.cpus,
          policy: this.cfg.policy && policyMessage(this.cfg.policy),
          instanceId: this.instanceId,
          heldRunIds: this.heldRunIds().slice(0, MAX_HELD_RUNS),
        },
      },
    });
    call.on('data', (msg: ControllerMessage) => {
      if (msg.msg?.$case === 'registered') {
        this.registered = true;
        this.attempt = 0;
        this.log(`registered with ${addr} as ${this.cfg.nodeName} (node ${msg.msg.value.nodeId})`);
        this.startHeartbeat(call, msg.msg.value.heartbeatIntervalMs || 5000);
        this.handlers.onConnected?.();
        return;
      }
      this.handlers.onMessage(msg);
    });
    let ended = false;
    const lost = (why: string): void => {
      if (ended) return;
      ended = true;
      const wasRegistered = this.registered;
      this.registered = false;
      this.downReason = `controller link to ${addr} down: ${why}`;
      this.call = undefined;
      clearInterval(this.heartbeat);
      if (wasRegistered) this.handlers.onSessionLost(why);
      if (this.closing) return;
      const wait = backoffMs(this.attempt++);
      this.addrIndex = nextAddrIndex(this.addrIndex, this.cfg.controllerAddrs.length);
      this.log(`controller link to ${addr} down (${why}); reconnecting to ${this.controllerAddr} in ${wait} ms`);
      this.reconnectTimer = setTimeout(() => this.connect(), wait);
    };
    call.on('error', (err: ServiceError) => {
      if (err.code === status.ALREADY_EXISTS && !this.closing) {
        // Retrying would only take the name from the other agent, or be refused again: the usual
        // teardown, without the reconnect.
        this.closing = true;
        lost('refused: another agent holds this node name');
        this.log(`refused by the controller at ${addr}: ${err.details || err.message}`);
        this.handlers.onRefused?.(err.details || err.message);
        return;
      }
      if (err.code === status.PERMISSION_DENIED || err.code === status.UNAUTHENTICATED) this.handlers.onCredentialsRefused?.(err.details || err.message);
      lost(linkFailure(addr, err));
    });
    call.on('end', () => lost('stream ended by the controller'));
  }

  private startHeartbeat(call: ClientDuplexStream<AgentMessage, ControllerMessage>, intervalMs: number): void {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      call.write({
        msg: {
          $case: 'heartbeat',
          value: { sentAtUnixMs: BigInt(Date.now()), runningRunIds: this.runningRunIds() },
        },
      });
    }, intervalMs);
    this.heartbeat.unref();
  }
}

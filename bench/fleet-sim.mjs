// fleet's simulated agents: forked by fleet.mjs with TRACEFLEET_FLEET_SIM=1, each child runs a share of
// the agents over the real gRPC protocol (AgentLink.Session through the generated ts-proto client) and
// talks to the parent over IPC. Also the batch every agent sends, and the clock both sides measure with
// (latencies subtract a child's timestamps from the parent's).
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// A realistic batch: 50 distinct stacks of depth 20 (root = the process name), counts adding up to
// 400 samples (99 Hz × 4 CPUs × ~1 s, what one agent flushes per second on a busy 4-CPU node).
export const STACKS = 50;
export const DEPTH = 20;
export const SAMPLES_PER_BATCH = 400;
const RATE_BATCH_MS = 1000;
/** Writes one simulator process makes in a turn of its event loop at most (nextTurn). */
const WRITES_PER_TURN = 64;

export const now = () => performance.timeOrigin + performance.now();

/** The synthetic profile every simulated node sends (one service across the fleet: the same frames). */
export function syntheticBatch() {
  let seed = 42;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const libs = ['libc.so.6', 'libssl.so.3', 'app', 'libz.so.1', 'libstdc++.so.6'];
  const pool = Array.from({ length: 200 }, (_, i) =>
    i % 10 === 9 ? `${['tcp_sendmsg', 'do_syscall_64', 'vfs_read', 'schedule', 'copy_user_generic'][i % 5]}_${i}_[k]` : `${libs[i % 5].split('.')[0]}::module_${i % 17}::function_${i}`,
  );
  const strings = ['sim-service', ...pool];
  // A skewed distribution, as profiles are (a few hot paths), adding up to exactly SAMPLES_PER_BATCH.
  const weights = Array.from({ length: STACKS }, () => 1 + (rand(4) === 0 ? rand(40) : rand(8)));
  const total = weights.reduce((a, w) => a + w, 0);
  const counts = weights.map((w) => Math.max(1, Math.floor((w / total) * SAMPLES_PER_BATCH)));
  counts[weights.indexOf(Math.max(...weights))] += SAMPLES_PER_BATCH - counts.reduce((a, c) => a + c, 0);
  const stacks = [];
  for (let s = 0; s < STACKS; s++) {
    // Stacks share prefixes as real call trees do: 5 groups of 10 with a common 8-frame trunk.
    const trunk = Array.from({ length: 8 }, (_, d) => 1 + ((Math.floor(s / 10) * 8 + d) % 40));
    const frames = [0, ...trunk];
    while (frames.length < DEPTH) frames.push(1 + 40 + rand(160));
    stacks.push({ frames, count: BigInt(counts[s]), origin: 0 });
  }
  if (counts.some((c) => c < 1) || counts.reduce((a, c) => a + c, 0) !== SAMPLES_PER_BATCH) throw new Error('synthetic counts do not add up');
  return { strings, stacks };
}

// ---------------------------------------------------------------------------------------------
// Simulator (child process)

async function simulator() {
  const require = createRequire(join(root, 'apps/node-agent/package.json'));
  const { credentials, connectivityState, makeGenericClientConstructor, Metadata } = require('@grpc/grpc-js');
  const { AgentLinkService, AgentMessage, PROTOCOL_VERSION, ProfileBatch, RunEventKind } = require('@tracefleet/proto');
  const { BinaryWriter } = createRequire(join(root, 'packages/proto/package.json'))('@bufbuild/protobuf/wire');
  // The agent's own choice of first replica (FNV-1a of the node name), from the agent's built code.
  const { firstAddrIndex } = require('./dist/link.js');
  const { strings, stacks } = syntheticBatch();

  // The batch is the same every time but for its run, seq and delivery number, so it is encoded once here and
  // each one sent is those three fields around the same bytes: encoding 50 stacks a batch took about a quarter
  // of this process's CPU (a --cpu-prof of it, FLEET_SIM_NODE_ARGS), on the CPUs the replicas are measured on,
  // where a real agent spends it on its own host. The client sends such bytes as they are; anything else it
  // encodes as the generated client does. Checked below against the generated encoder, byte for byte.
  const batchBody = ProfileBatch.encode({ runId: '', seq: 0n, strings, stacks, origins: [] }).finish();
  const batchBytes = (runId, seq, delivery) => {
    const w = new BinaryWriter();
    // AgentMessage.profile_batch (4) { run_id (1), seq (2), then strings and stacks as encoded once }, delivery (20).
    w.uint32((4 << 3) | 2).fork().uint32((1 << 3) | 2).string(runId).uint32((2 << 3) | 0).uint64(seq).raw(batchBody).join();
    const b = w.uint32((20 << 3) | 0).uint64(delivery).finish();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  };
  const expected = AgentMessage.encode({ delivery: 7n, msg: { $case: 'profileBatch', value: { runId: '0b7c2a52-9d53-4a53-8d0e-6c1c5a0f1e2d', seq: 300n, strings, stacks, origins: [] } } }).finish();
  if (Buffer.compare(Buffer.from(expected), batchBytes('0b7c2a52-9d53-4a53-8d0e-6c1c5a0f1e2d', 300n, 7n)) !== 0) throw new Error('the pre-encoded batch differs from the generated encoder');
  const session = AgentLinkService.session;
  const AgentLinkClient = makeGenericClientConstructor(
    { ...AgentLinkService, session: { ...session, requestSerialize: (v) => (Buffer.isBuffer(v) ? v : session.requestSerialize(v)) } },
    'tracefleet.v1.AgentLink',
  );
  const agents = [];
  let mode = { kind: 'rate' };
  const jobs = new Map(); // jobId → { starts: [{name, at}], batches, samples, firstBatchAt, lastBatchAt, finished }
  const jobStats = (jobId) => {
    let j = jobs.get(jobId);
    if (!j) jobs.set(jobId, (j = { starts: [], batches: 0, samples: 0, firstBatchAt: null, lastBatchAt: null, finished: 0, stopped: 0 }));
    return j;
  };
  const send = (msg) => process.send(msg);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();

  function connect(a, addrs, tls) {
    // Like the agent: the first address its node name picks from the list.
    const addr = addrs[firstAddrIndex(a.name, addrs.length)];
    a.addr = addr;
    // Its own subchannel: one TCP connection (and TLS handshake) per agent, as separate hosts would have;
    // mutual TLS with the node certificate the parent enrolled for it.
    const creds = credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem));
    a.client = new AgentLinkClient(addr, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.keepalive_time_ms': 15_000 });
    a.call = a.client.session(new Metadata());
    a.runs = new Map();
    // When its connection is up (TCP and the TLS handshake done): the registration's own time is measured from there.
    a.readyAt = undefined;
    const channel = a.client.getChannel();
    const watch = () => {
      const state = channel.getConnectivityState(false);
      if (state === connectivityState.READY) a.readyAt ??= now();
      else if (state !== connectivityState.SHUTDOWN) channel.watchConnectivityState(state, Infinity, watch);
    };
    watch();
    a.call.on('error', (err) => {
      if (a.closing) return;
      if (!a.registered) {
        // A registration the controller did not take (UNAVAILABLE, or any other refusal): retried after 1-2 s, as the
        // agent's backoff does; counted, with the reason.
        send({ ev: 'retry', name: a.name, message: `${err.code} ${err.message}` });
        a.client.close();
        setTimeout(() => !a.closing && connect(a, addrs, tls), 1000 + Math.random() * 1000);
        return;
      }
      send({ ev: 'error', name: a.name, message: err.message });
    });
    a.call.on('end', () => {
      if (!a.closing && a.registered) send({ ev: 'error', name: a.name, message: 'stream ended by the controller' });
    });
    a.call.on('data', (msg) => {
      const m = msg.msg;
      if (m?.$case === 'registered') {
        a.registered = true;
        // Like the real agent's link: heartbeats are written without waiting for 'drain', so on a backed-up
        // stream they queue behind the batches already written.
        a.heartbeat = setInterval(() => {
          if (!a.closing) a.call.write(AgentMessage.fromPartial({ msg: { $case: 'heartbeat', value: { sentAtUnixMs: BigInt(Date.now()), runningRunIds: [...a.runs.keys()] } } }));
        }, m.value.heartbeatIntervalMs || 5000);
        send({ ev: 'registered', name: a.name, addr: a.addr, at: now(), readyAt: a.readyAt });
      } else if (m?.$case === 'startRun') {
        const at = now();
        jobStats(m.value.jobId).starts.push({ name: a.name, at });
        // A write the link refused (the connection dropped under it) is reported, not left to crash the process.
        runProfile(a, m.value).catch((err) => send({ ev: 'error', name: a.name, message: `run ${m.value.runId}: ${err.message}` }));
      } else if (m?.$case === 'stopRun') {
        const r = a.runs.get(m.value.runId);
        if (r) r.stopped = true;
      }
    });
    a.call.write(AgentMessage.fromPartial({
      msg: {
        $case: 'register',
        value: {
          nodeName: a.name,
          labels: a.labels,
          kernelRelease: release(),
          btf: true,
          protocolVersion: PROTOCOL_VERSION,
          capabilities: ['cpu-profile'],
          agentVersion: 'fleet-sim',
          cpus: 4,
          instanceId: `${a.name}-${process.pid}-${Date.now()}`,
          heldRunIds: [],
        },
      },
    }));
  }

  /**
   * A turn of this process's event loop for a write the stream took at once, at most WRITES_PER_TURN of them a
   * turn. grpc-js completes a write at once while the call's retry buffer has room, so a thousand flooding agents
   * in one process would otherwise encode batches in microtasks for tens of seconds without reading a socket (the
   * controller's keepalive, no PING answer within 10 s, dropped every connection of the process). Yielding one
   * turn per write was not enough: every agent wrote once a turn, a turn of 1,000 writes took this process
   * 200-800 ms under a flood, and a StartRun waited unread that long (BENCHMARKS.md, fleet) — a real agent is
   * one process, not held by 999 others. The waiting writes go on in the order they came, WRITES_PER_TURN a turn,
   * with the sockets read between turns.
   */
  // A pump is scheduled exactly while writes wait: the first to wait schedules it, and it schedules itself again
  // while some are left (those it lets go wait again only after it has returned: their continuations are microtasks).
  const waiting = [];
  const pump = () => {
    for (const go of waiting.splice(0, WRITES_PER_TURN)) go();
    if (waiting.length > 0) setImmediate(pump);
  };
  const nextTurn = () =>
    new Promise((go) => {
      if (waiting.push(go) === 1) setImmediate(pump);
    });

  /**
   * Writes one message; resolves when the stream can take more (HTTP/2 flow control, the controller's pause)
   * and this process has a turn for it (nextTurn). As the agent's link does (ControllerLink.send). A write it
   * did not take waits for 'drain' at once (listening only after a turn could miss it). `msg`: a message as
   * fromPartial takes it, or one already encoded (batchBytes).
   */
  async function write(a, msg) {
    if (a.closing) return false;
    // fromPartial: every field the protocol has, defaults for those a simulated agent does not fill.
    if (a.call.write(Buffer.isBuffer(msg) ? msg : AgentMessage.fromPartial(msg))) {
      await nextTurn();
      return false;
    }
    await once(a.call, 'drain');
    return true;
  }

  async function runProfile(a, start) {
    const runId = start.runId;
    const stats = jobStats(start.jobId);
    // Numbered per run as the agent's outbox does (AgentMessage.delivery): the controller acknowledges each.
    const run = { stopped: false, delivery: 0n };
    const numbered = (msg) => ({ ...msg, delivery: ++run.delivery });
    a.runs.set(runId, run);
    // Its first write in a later turn: the other agents' StartRuns read in this turn are timestamped as they
    // arrive, not after this agent's RunEvent is encoded and written (a real agent's arrival waits for no other).
    await nextTurn();
    await write(a, numbered({ msg: { $case: 'runEvent', value: { runId, kind: RunEventKind.RUN_EVENT_KIND_STARTED, message: '', atUnixMs: BigInt(Date.now()) } } }));
    const end = now() + start.durationSec * 1000;
    const flood = mode.kind === 'flood';
    let seq = 0n;
    let samples = 0n;
    const batch = () => {
      seq += 1n;
      samples += BigInt(SAMPLES_PER_BATCH);
      const t = now();
      stats.firstBatchAt = Math.min(stats.firstBatchAt ?? t, t);
      stats.lastBatchAt = Math.max(stats.lastBatchAt ?? t, t);
      stats.batches += 1;
      stats.samples += SAMPLES_PER_BATCH;
      return batchBytes(runId, seq, ++run.delivery);
    };
    if (flood) {
      while (!run.stopped && !a.closing && now() < end) await write(a, batch());
    } else {
      // One batch about every second, as the real agent's flush timer: each interval drawn from 0.8-1.2 s
      // (TracingRun.jitteredFlushMs), so that a fleet's batches do not all land on the same millisecond.
      const jittered = () => RATE_BATCH_MS * (0.8 + Math.random() * 0.4);
      for (let at = now() + jittered(); at <= end && !run.stopped && !a.closing; at += jittered()) {
        await new Promise((r) => setTimeout(r, Math.max(0, at - now())));
        if (!run.stopped) await write(a, batch());
      }
    }
    if (run.stopped) stats.stopped += 1;
    await write(
      a,
      numbered({
        msg: {
          $case: 'runFinished',
          value: { runId, ok: true, reason: '', targetExited: false, samplesTaken: samples, samplesDroppedKernel: 0n, samplesDroppedAgent: 0n, samplesSent: samples, lastSeq: seq },
        },
      }),
    );
    a.runs.delete(runId);
    stats.finished += 1;
  }

  process.on('message', async (cmd) => {
    if (cmd.cmd === 'connect') {
      for (const { name, labels, tls } of cmd.agents) {
        const a = { name, labels, closing: false };
        agents.push(a);
        connect(a, cmd.addrs, tls);
      }
    } else if (cmd.cmd === 'mode') {
      mode = cmd.mode;
      send({ ev: 'mode', mode });
    } else if (cmd.cmd === 'report') {
      const j = jobs.get(cmd.jobId) ?? jobStats(cmd.jobId);
      send({ ev: 'report', jobId: cmd.jobId, ...j });
    } else if (cmd.cmd === 'close' || cmd.cmd === 'disconnect') {
      // disconnect: every agent ends its session (the bench connects them again, to other replicas); close: and the process exits.
      const leaving = agents.splice(0);
      for (const a of leaving) {
        a.closing = true;
        clearInterval(a.heartbeat);
        a.call?.end();
      }
      await Promise.race([Promise.all(leaving.map((a) => (a.call && !a.call.destroyed ? once(a.call, 'close').catch(() => undefined) : undefined))), new Promise((r) => setTimeout(r, 5000))]);
      for (const a of leaving) a.client?.close();
      send({ ev: cmd.cmd === 'close' ? 'closed' : 'disconnected', count: leaving.length });
      if (cmd.cmd === 'close') setTimeout(() => process.exit(0), 100);
    } else if (cmd.cmd === 'lag') {
      // This process's event-loop delay over the last window (the StartRun times it reports include it).
      send({ ev: 'lag', p50Ms: lag.percentile(50) / 1e6, p99Ms: lag.percentile(99) / 1e6, maxMs: lag.max / 1e6 });
      lag.reset();
    }
  });
  // The bench process died: no orphaned agents holding connections.
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'ready' });
}

if (process.env.TRACEFLEET_FLEET_SIM === '1') await simulator();

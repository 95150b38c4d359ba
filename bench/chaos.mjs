// chaos: the faults of issue 15 injected on this machine, one after the other, each in the middle of a
// 40 s cpu-profile on three real agents (two on the host, one in its own network namespace). Per fault:
// samples taken vs stored, lost, batches sent again and dropped as duplicates, time from the fault's end
// to the first batch stored, the most an agent's outbox held, batches spooled or dropped. Target: 0 lost.
// Its own stack: one controller replica, a Redis of its own (shut down without saving in one row), the
// controller listening on every address (the namespace's agent dials the veth's host address).
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { harness, publish, root, sleep, waitFor, waitJob, machine } from './lib.mjs';

const require = createRequire(import.meta.url);
const { pgCtl, OwnRedis, NetnsLink } = require(join(root, 'e2e/dist/faults.js'));
const { startStack, freePort, buildC } = harness;

const JOB_SEC = Number(process.env.CHAOS_JOB_SEC ?? 40);
const FAULT_AT_MS = 8000;
const HZ = 99;

export async function chaosBench() {
  const tag = randomBytes(3).toString('hex');
  const rows = [];
  const hot = spawn(buildC('hot'), ['0'], { stdio: 'ignore' });
  try {
    await oneReplica(tag, hot.pid, rows);
    await rollingRestart(tag, hot.pid, rows);
  } finally {
    if (hot.exitCode === null) hot.kill('SIGKILL');
  }
  const table = [
    `## Faults mid-job (issue 15): nothing lost`,
    '',
    `\`npm run bench -- chaos\`: each fault injected ${FAULT_AT_MS / 1000} s into a ${JOB_SEC} s cpu-profile (${HZ} Hz, one busy process) on three agents`,
    'of one controller replica (two agents on the host, one in its own network namespace whose outbox keeps nothing in memory:',
    'all its batches go through its spool on disk); the rolling restart on two replicas with three agents on the host.',
    '"Sent" is what the agents put in batches (taken − dropped in kernel/agent); "lost" = sent − stored. Recovery: from the end of the fault to',
    'the first batch stored (for the link row, of the cut agent). Outbox peak: the most one agent held unacknowledged',
    `(its log when it registers again). Machine: ${machine().cpus} CPUs, kernel ${machine().kernel}.`,
    '',
    '| Fault | Job | Samples sent | Stored | Lost | Duplicates dropped | Recovery | Outbox peak | Spooled / dropped batches |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.fault} | ${r.status} | ${r.samplesSent} | ${r.samplesStored} | ${r.lost} | ${r.duplicatesDropped} | ${r.recoveryMs === null ? 'none in 120 s' : `${(r.recoveryMs / 1000).toFixed(1)} s`} | ${r.outboxPeakKiB} KiB | ${r.batchesSpooled} / ${r.batchesOverflowed} |`),
  ].join('\n');
  publish('chaos', { machine: machine(), jobSec: JOB_SEC, faultAtMs: FAULT_AT_MS, hz: HZ, rows }, table);
}

/**
 * The faults on one replica with its own Redis: the controller listens on every address; two agents on the
 * host, one in a network namespace (its outbox keeps nothing in memory: every batch goes through its spool).
 */
async function oneReplica(tag, pid, rows) {
  const link = new NetnsLink(tag);
  const redis = new OwnRedis(await freePort());
  let stack;
  try {
    link.create();
    await redis.start();
    const grpcPort = await freePort();
    const enrollPort = await freePort();
    stack = await startStack({
      agent: false,
      env: {
        REDIS_URL: redis.url,
        TRACEFLEET_GRPC_ADDR: `0.0.0.0:${grpcPort}`,
        TRACEFLEET_ENROLL_ADDR: `0.0.0.0:${enrollPort}`,
        TRACEFLEET_GRPC_TLS_SANS: link.hostIp,
        TRACEFLEET_RUN_GRACE_MS: '120000',
      },
    });
    const fleet = `chaos-${tag}`;
    const local = (n) => stack.startAgent(`${fleet}-${n}`, `fleet=${fleet}`, [`127.0.0.1:${grpcPort}`], { TRACEFLEET_ENROLL_ADDR: `127.0.0.1:${enrollPort}` });
    await local('a1');
    await local('a2');
    const cutNode = `${fleet}-ns`;
    await stack.startAgent(cutNode, `fleet=${fleet}`, [`${link.hostIp}:${grpcPort}`], { TRACEFLEET_ENROLL_ADDR: `${link.hostIp}:${enrollPort}`, TRACEFLEET_AGENT_OUTBOX_MB: '0' }, { netns: link.ns });
    const restartAfter = async (signal) => {
      stack.controller.kill(signal);
      await new Promise((r) => stack.controller.once('exit', r));
      await sleep(5000);
      await stack.restartReplica(0);
    };
    const faults = [
      { name: 'controller SIGKILL, started again after 5 s', nodes: 'all', inject: () => restartAfter('SIGKILL') },
      { name: 'controller SIGTERM (drain), started again after 5 s', nodes: 'all', inject: () => restartAfter('SIGTERM') },
      {
        name: 'PostgreSQL stopped for 30 s',
        nodes: 'all',
        inject: async () => {
          pgCtl('stop');
          try {
            await sleep(30_000);
          } finally {
            pgCtl('start');
          }
        },
      },
      {
        name: 'Redis shut down without saving, started again after 10 s',
        nodes: 'all',
        inject: async () => {
          await redis.shutdownNosave();
          await sleep(10_000);
          await redis.start();
        },
      },
      {
        name: "one agent's network link down for 20 s",
        nodes: [cutNode],
        inject: async () => {
          link.cut();
          try {
            await sleep(20_000);
          } finally {
            link.restore();
          }
        },
      },
    ];
    for (const f of faults) rows.push(await measure(stack, fleet, pid, f));
  } finally {
    pgCtl('start');
    await stack?.stop();
    redis.kill();
    link.remove();
  }
}

/** A rolling restart needs two replicas: a stack of its own, three agents on the host knowing both. */
async function rollingRestart(tag, pid, rows) {
  let stack;
  try {
    stack = await startStack({ replicas: 2, agent: false, env: { TRACEFLEET_RUN_GRACE_MS: '120000' } });
    const [A, B] = stack.replicas;
    const fleet = `chaos-roll-${tag}`;
    await stack.startAgent(`${fleet}-r1`, `fleet=${fleet}`, [A.grpcAddr, B.grpcAddr]);
    await stack.startAgent(`${fleet}-r2`, `fleet=${fleet}`, [A.grpcAddr, B.grpcAddr]);
    await stack.startAgent(`${fleet}-r3`, `fleet=${fleet}`, [B.grpcAddr, A.grpcAddr]);
    const restart = async (i) => {
      const r = stack.replicas[i];
      r.controller.kill('SIGTERM');
      await new Promise((done) => (r.controller.exitCode !== null || r.controller.signalCode !== null ? done() : r.controller.once('exit', done)));
      await stack.restartReplica(i);
    };
    const inject = async () => {
      await restart(0);
      await sleep(3000);
      await restart(1);
    };
    rows.push(await measure(stack, fleet, pid, { name: 'rolling restart: replica A, then B (SIGTERM, started again)', nodes: 'all', inject }));
  } finally {
    await stack?.stop();
  }
}

/** One fault in the middle of a job on every agent of `fleet`; what the job shows once it ends. */
async function measure(stack, fleet, pid, f) {
  console.log(`[chaos] ${f.name}`);
  const logFrom = stack.logs.length;
  const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: JOB_SEC, frequencyHz: HZ, target: { pid }, nodes: { labels: { fleet } } });
  if (created.status !== 201) throw new Error(`POST /jobs: ${created.status} ${created.text}`);
  const id = created.json.id;
  await waitFor(async () => (await stack.api('GET', `/jobs/${id}`)).json?.runs?.every((r) => r.status === 'running'), 20_000, 'runs to be running');
  await sleep(FAULT_AT_MS);
  const faultAt = Date.now();
  await f.inject();
  const faultEnd = Date.now();
  const affected = (job) => job.runs.filter((r) => f.nodes === 'all' || f.nodes.includes(r.node));
  const storedNow = async () => {
    const res = await stack.api('GET', `/jobs/${id}`).catch(() => undefined);
    return res?.status === 200 ? affected(res.json).reduce((a, r) => a + r.samplesStored, 0) : undefined;
  };
  let base;
  for (let i = 0; i < 100 && base === undefined; i++) base = await storedNow() ?? (await sleep(100), undefined);
  let recoveryMs;
  while (recoveryMs === undefined && Date.now() - faultEnd < 120_000) {
    const s = await storedNow();
    if (s !== undefined && s > base) recoveryMs = Date.now() - faultEnd;
    else await sleep(100);
  }
  const job = await waitJob(stack, id, 180_000);
  const runs = job.runs;
  const sum = (k) => runs.reduce((a, r) => a + (r[k] ?? 0), 0);
  const sent = sum('samplesTaken') - sum('samplesDroppedKernel') - sum('samplesDroppedAgent');
  const peaks = [...stack.logs.slice(logFrom).join('').matchAll(/at most ([\d.]+) KiB held since the last session began/g)].map((m) => Number(m[1]));
  const row = {
    fault: f.name,
    faultMs: faultEnd - faultAt,
    status: job.status,
    samplesTaken: sum('samplesTaken'),
    samplesSent: sent,
    samplesStored: sum('samplesStored'),
    lost: sent - sum('samplesStored'),
    samplesLostTransit: sum('samplesLostTransit'),
    duplicatesDropped: sum('duplicatesDropped'),
    batchesSpooled: sum('batchesSpooled'),
    batchesOverflowed: sum('batchesOverflowed'),
    recoveryMs: recoveryMs ?? null,
    outboxPeakKiB: peaks.length ? Math.max(...peaks) : 0,
    reasons: runs.filter((r) => r.reason).map((r) => `${r.node}: ${r.reason}`),
  };
  console.log(`[chaos] ${JSON.stringify(row)}`);
  return row;
}

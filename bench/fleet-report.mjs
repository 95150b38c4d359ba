// The fleet bench's table for BENCHMARKS.md (between <!-- fleet:start --> and <!-- fleet:end -->).
import { cpuSplitText, errorCell, fmt } from './fleet-lib.mjs';

const n = (x) => Math.round(x).toLocaleString('en-US');
const mib = (x) => (x === null || x === undefined ? 'n/a' : `${x.toFixed(0)} MiB`);
const lat = (d) => `${fmt(d.p50Ms)} / ${fmt(d.p99Ms)} / ${fmt(d.maxMs)}`;
/** Whether jobs' steps include starts relayed through other replicas (several replicas). */
const relayed = (steps) => steps.some((x) => x.relay !== undefined);
/** The steps on the replica that took a job, as stepTriples lists them. */
const OWN_STEPS = 'plan / store / send / flush';
/** What stepTriples lists. */
const stepNames = (steps) =>
  relayed(steps) ? `${OWN_STEPS} / forward on the replica that took the job; on the others, taken / StartRuns written (means, from enqueue)` : OWN_STEPS;
/**
 * Jobs' steps (bench/fleet.mjs stepsOf): "plan / store / send / flush" ms on the replica that took them, each job
 * (flush: until its StartRuns had gone to the agents' connections); with relays, forward and relay too.
 */
const stepTriples = (steps) =>
  steps.map((x) => `${x.plan} / ${x.store} / ${x.send} / ${x.flush ?? 'n/a'}` + (relayed(steps) ? ` / ${x.forward ?? 'n/a'}; ${x.relayWait ?? 'n/a'} / ${x.relay ?? 'n/a'}` : '')).join(', ');
/** A dispatch round's steps, as a cell's tail. */
const stepsCell = (d) => (d.steps?.length ? `; ${relayed(d.steps) ? stepNames(d.steps) : `${OWN_STEPS} on the replica`}: ${stepTriples(d.steps)} ms` : '');
const target = (d) => (d.p99Ms < 1000 ? 'met' : 'NOT met');

function floodRows(f, label, replicas) {
  const perReplica = replicas > 1 ? ` (by replica: ${f.storedByReplica.map((x) => n(x)).join(' / ')} samples)` : '';
  return [
    `| ${label}: samples stored per second (first batch → job completed; while all were sending) | ${n(f.samplesPerSecStored)}; ${f.samplesPerSecStoredWhileSending === null ? 'n/a' : n(f.samplesPerSecStoredWhileSending)}${perReplica} |`,
    `| ${label}: sent / stored, lost in transit, seq gaps, failed runs, drain after the last batch | ${n(f.samplesSent)} / ${n(f.samplesStored)}, ${f.samplesLostTransit}, ${f.seqGaps}, ${f.failedRunCount} (job ${f.status}), ${f.drainAfterLastBatchSec.toFixed(1)} s |`,
    `| ${label}: controller peak RSS (sampled every 50 ms${replicas > 1 ? ', per replica' : ''}) / CPU (% of one CPU) | ${f.peakRssMiB.slice(0, replicas).map(mib).join(' / ')} / ${f.cpuPercentOfOneCpu.slice(0, replicas).map((x) => `${x.toFixed(0)} %`).join(' / ')} |`,
    ...(f.cpuSplit ? [`| ${label}: the machine's CPU, % of one CPU (every replica, idle ones too) | ${cpuSplitText(f.cpuSplit)} |`] : []),
    ...(f.startRunUnderFlood
      ? [`| ${label}: POST /jobs → StartRun at every agent, jobs posted during the flood: p50 / p99 / max (target p99 < 1 s: ${target(f.startRunUnderFlood)}) | ${lat(f.startRunUnderFlood)} (loop delay p99 ${fmt(f.simLag.p99Ms)}) |`]
      : []),
    ...(f.heapPeaks?.[0]?.loopDelayMaxMs !== undefined
      ? [
          `| ${label}: controller event-loop delay while flooding, largest${f.heapPeaks[0].loopDelayMedianMaxMs !== undefined ? ' in a second (median) / largest' : ''}${replicas > 1 ? ' (per replica)' : ''}${f.probeSteps?.length ? `; the jobs posted during it, steps ${relayed(f.probeSteps) ? `(${stepNames(f.probeSteps)}, ms)` : `on the replica that took them (${OWN_STEPS}, ms)`}` : ''} | ` +
            `${f.heapPeaks.slice(0, replicas).map((h) => (h.loopDelayMedianMaxMs !== undefined ? `${fmt(h.loopDelayMedianMaxMs ?? NaN)} / ` : '') + fmt(h.loopDelayMaxMs)).join('; ')}` +
            `${f.probeSteps?.length ? `; ${stepTriples(f.probeSteps)}` : ''} |`,
        ]
      : []),
    `| ${label}: longest silence in the node registry (a node is unreachable after 15 s) / controller ERROR lines | ${f.maxHeartbeatSilenceSec.toFixed(1)} s / ${errorCell(f.controllerLog)} |`,
  ];
}

export function fleetTable(r) {
  const o = r.one;
  const s = r.several;
  const rows = [
    `## Fleet: ${r.agents} simulated agents, one and ${r.replicas} controller replicas`,
    '',
    `Run ${r.date} on ${r.machine.cpus} CPUs, kernel ${r.machine.kernel}; the controller replicas, PostgreSQL, Redis and the load generator (${r.workers} processes of`,
    `grpc-js clients of AgentLink.Session, mutual TLS, one TCP connection each) share the machine; raw figures in bench/results/fleet.json. Each agent's`,
    `ProfileBatch holds ${r.batch.stacks} stacks of depth ${r.batch.depth} (${r.batch.samples} samples, ${r.batch.frameNames} frame names, ${r.batch.bytes} bytes; the same service on every node).`,
    `StartRun times are taken in the load generator's processes, whose own event-loop delay is part of them (shown). ${r.agents} nodes enrolled through the real path in ${r.enrollSec.toFixed(0)} s.`,
    '',
    '| measure | figure |',
    '|---|---|',
    `| One replica: RSS idle → ${o.memorySteps.slice(1).map((x) => x.agents).join(', ')} agents connected and heartbeating (lowest of 20 samples over 10 s; median in brackets) | ${o.memorySteps.map((x) => `${x.floorMiB.toFixed(0)} (${x.medianMiB.toFixed(0)})`).join(' → ')} MiB |`,
    `| One replica: memory per connected agent (slope of the floor over the four steps) | ${o.marginalPerAgentKiB.toFixed(0)} KiB |`,
    `| One replica: registration, ${o.registration[0].burst} agents connecting at once: p50 / p99 / max (each step); registrations the controller refused as UNAVAILABLE and the agent retried (whole run) | ${o.registration.map(lat).join('; ')}; ${r.registrationRetries ?? 0} |`,
    ...(o.registration.every((x) => x.afterConnection)
      ? [`| One replica: the same registrations from each agent's connection being up (TCP and TLS done) to its \`registered\`: p50 / p99 / max (each step) | ${o.registration.map((x) => lat(x.afterConnection)).join('; ')} |`]
      : []),
    ...(o.dispatchIdle
      ? [
          `| One replica: dispatch idle, POST /jobs (${r.agents} nodes by label) → StartRun at every agent, ${o.dispatchIdle.count / r.agents} jobs: p50 / p99 / max (target p99 < 1 s: ${target(o.dispatchIdle)}) | ${lat(o.dispatchIdle)} (POST answered in ${fmt(o.dispatchIdle.medianPostMs)}; load generator's loop delay p99 ${fmt(o.dispatchIdle.simLag.p99Ms)}${stepsCell(o.dispatchIdle)}) |`,
        ]
      : []),
    ...(o.dispatchWhileSending
      ? [
          `| One replica: dispatch while every agent sends a batch a second for another job: p50 / p99 / max (target p99 < 1 s: ${target(o.dispatchWhileSending)}) | ${lat(o.dispatchWhileSending)} (POST answered in ${fmt(o.dispatchWhileSending.medianPostMs)}; loop delay p99 ${fmt(o.dispatchWhileSending.simLag.p99Ms)}${stepsCell(o.dispatchWhileSending)}; those jobs ended ${(o.dispatchWhileSending.statuses ?? []).join(', ')}) |`,
          ...(o.dispatchWhileSending.backgroundJob?.samplesPerSecStored
            ? [
                `| One replica: every agent sending a batch a second: samples sent / stored per second (first batch → job completed), drain after the last batch, controller CPU (% of one CPU) | ${n(o.dispatchWhileSending.backgroundJob.samplesPerSecSent)} / ${n(o.dispatchWhileSending.backgroundJob.samplesPerSecStored)}, ${o.dispatchWhileSending.backgroundJob.drainAfterLastBatchSec.toFixed(1)} s, ${o.dispatchWhileSending.backgroundJob.cpuPercentOfOneCpu.toFixed(0)} %${o.dispatchWhileSending.backgroundJob.cpuSplit ? `; the machine: ${cpuSplitText(o.dispatchWhileSending.backgroundJob.cpuSplit)}` : ''} |`,
              ]
            : []),
        ]
      : []),
    ...(o.floodSmall ? floodRows(o.floodSmall, `One replica, flood by ${o.floodSmall.agents} agents`, 1) : []),
    ...(o.floodAll ? floodRows(o.floodAll, `One replica, flood by all ${o.floodAll.agents} agents`, 1) : []),
  ];
  if (r.partial) rows.splice(2, 0, `**Partial run**: ${r.partial}`, '');
  if (o.mergedRead) {
    const m = o.mergedRead;
    rows.push(`| One replica: the merged outputs of the ${r.agents}-agent flood job (${n(o.floodAll.samplesStored)} samples; fleet-read.mjs) | ${m.summary} |`);
  }
  if (s?.floodAll) {
    rows.push(
      `| ${r.replicas} replicas: agents per replica (each agent's first address by its node name) / RSS floor per replica with them connected | ${s.agentsPerReplica.join(' / ')} / ${s.rssPerReplica.map((x) => mib(x.floorMiB)).join(' / ')} |`,
      `| ${r.replicas} replicas: registration of all ${r.agents} at once: p50 / p99 / max${s.registration.afterConnection ? '; from each connection being up' : ''} | ${lat(s.registration)}${s.registration.afterConnection ? `; ${lat(s.registration.afterConnection)}` : ''} |`,
      `| ${r.replicas} replicas: dispatch idle: p50 / p99 / max (target p99 < 1 s: ${target(s.dispatchIdle)}) | ${lat(s.dispatchIdle)} (loop delay p99 ${fmt(s.dispatchIdle.simLag.p99Ms)}${stepsCell(s.dispatchIdle)}) |`,
      ...(s.dispatchWhileSending
        ? [
            `| ${r.replicas} replicas: dispatch while every agent sends a batch a second for another job: p50 / p99 / max (target p99 < 1 s: ${target(s.dispatchWhileSending)}) | ${lat(s.dispatchWhileSending)} (POST answered in ${fmt(s.dispatchWhileSending.medianPostMs)}; loop delay p99 ${fmt(s.dispatchWhileSending.simLag.p99Ms)}${stepsCell(s.dispatchWhileSending)}; those jobs ended ${s.dispatchWhileSending.statuses.join(', ')}) |`,
            `| ${r.replicas} replicas: every agent sending a batch a second: samples sent / stored per second, drain after the last batch, CPU by replica (% of one CPU) | ${n(s.dispatchWhileSending.backgroundJob.samplesPerSecSent)} / ${n(s.dispatchWhileSending.backgroundJob.samplesPerSecStored)}, ${s.dispatchWhileSending.backgroundJob.drainAfterLastBatchSec.toFixed(1)} s, ${s.dispatchWhileSending.backgroundJob.cpuPercentByReplica.map((x) => `${x.toFixed(0)} %`).join(' / ')}${s.dispatchWhileSending.backgroundJob.cpuSplit ? `; ${cpuSplitText(s.dispatchWhileSending.backgroundJob.cpuSplit, { replicas: false })}` : ''} |`,
          ]
        : []),
      ...floodRows(s.floodAll, `${r.replicas} replicas, flood by all ${s.floodAll.agents} agents`, r.replicas),
      ...(s.remoteCommandHolds
        ? [`| ${r.replicas} replicas: holds for the other replicas' commands through these phases (FleetCommands), ended / at their 3 s bound / refused messages, by replica | ${s.remoteCommandHolds.map((h) => `${h.ended} / ${h.bound} / ${h.refused}`).join('; ')} |`]
        : []),
    );
  }
  if (r.retention?.summary) rows.push(`| Retention of a day of samples (fleet-retention.mjs; its own section below) | ${r.retention.summary} |`);
  return rows.join('\n');
}

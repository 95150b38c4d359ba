/**
 * V8 flags the controller is started with (infra/systemd/tracefleet-controller.service, the image's entrypoint,
 * infra/start.mjs, the e2e harness, the package's `start`). They size the heap at start-up, which is why they are
 * command-line flags: `v8.setFlagsFromString` after start does not resize it.
 *
 * --max-old-space-size=384: the old generation's bound (docs/ARCHITECTURE.md, "Memory under a flood"). Without it
 *   V8 lets the garbage of a flood grow the heap to what the machine offers.
 * --max-semi-space-size=32: young-generation semi-spaces of up to 32 MiB instead of 16. A replica that ingests at
 *   full speed allocates fast, and what it holds for a moment (a batch waiting for a storage slot, a write's
 *   arrays) outlived two scavenges of the small young generation, was promoted, and had to be found dead by full
 *   collections: a perf profile of three replicas while 2,000 agents sent gave ~31 % of their CPU to the
 *   collector. A/B, three replicas on one 2-CPU machine (BENCHMARKS.md, fleet): stored 593 k samples/s against
 *   516-526 k while every agent sent, 705 k against 592 k under the flood, peak RSS about the same.
 */
export const CONTROLLER_NODE_FLAGS: readonly string[] = ['--max-old-space-size=384', '--max-semi-space-size=32'];

/** The flags of CONTROLLER_NODE_FLAGS this process was started without (each by its name, any value), for a warning at start. */
export function missingControllerFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map((a) => a.split('=')[0].replace(/_/g, '-')));
  return CONTROLLER_NODE_FLAGS.filter((f) => !given.has(f.split('=')[0]));
}

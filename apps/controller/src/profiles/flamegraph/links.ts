/** The links to a job's flame graph routes (jobs/profiles.controller.ts), for the job types whose results are stacks. */
export const flameGraphLinks = (base: string): { flamegraphSvg: string; flamegraphFolded: string } => ({
  flamegraphSvg: `${base}/flamegraph.svg`,
  flamegraphFolded: `${base}/flamegraph.folded`,
});

/** tracefleet nodes */
import { Command } from 'commander';
import { act, common, context, type Deps } from '../context';
import { EXIT, printJson, table, when } from '../output';

interface NodesFlags {
  selector?: string;
  status?: string;
  capability?: string;
  json?: boolean;
}

export function registerNodes(program: Command, deps: Deps): void {
  const cmd = common(
    new Command('nodes')
      .description('the fleet: nodes with status, labels, kernel and job types')
      .option('-l, --selector <selector>', "label selector: 'env=prod,zone in (a,b),!canary'")
      .option('--status <states>', 'comma-separated: connected, unreachable, gone')
      .option('--capability <type>', 'nodes that can run this job type'),
  );
  cmd.action(
    act(deps, async (flags: NodesFlags) => {
      const ctx = context(flags, deps);
      const nodes: any[] = await ctx.api.get('/nodes', { labelSelector: flags.selector, status: flags.status, capability: flags.capability });
      if (ctx.json) {
        printJson(ctx.io, nodes);
        return EXIT.ok;
      }
      ctx.io.out(
        table(
          ['NAME', 'STATUS', 'LABELS', 'KERNEL', 'CPUS', 'LAST SEEN', 'JOB TYPES'],
          nodes.map((n) => [
            n.name,
            n.status,
            Object.entries(n.labels ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
            n.kernelRelease,
            n.cpus,
            when(n.lastSeenAt),
            (n.capabilities ?? []).join(','),
          ]),
        ),
      );
      return EXIT.ok;
    }),
  );
  program.addCommand(cmd);
}

/** tracefleet diff BASE TARGET -o diff.svg: the differential flame graph of two cpu-profile jobs. */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { act, common, context, type Deps } from '../context';
import { CliError, EXIT, bytes, clean, printJson } from '../output';
import { diffFormatOf } from '../parse';

export function registerDiff(program: Command, deps: Deps): void {
  const cmd = common(
    new Command('diff')
      .description('differential flame graph of two cpu-profile jobs: red grew since the base, blue shrank')
      .argument('<base>', 'the base job id')
      .argument('<target>', 'the target job id')
      .requiredOption('-o, --output <file>', '*.svg (flame graph) or *.folded (both counts per path)')
      .option('--base-node <name>', "only this node's samples of the base")
      .option('--target-node <name>', "only this node's samples of the target"),
  );
  cmd.addHelpText('after', '\nExample:\n  tracefleet diff 3f1c2a9e-... 9e8d7c6b-... -o diff.svg\n');
  cmd.action(
    act(deps, async (base: string, target: string, flags: { output: string; baseNode?: string; targetNode?: string; json?: boolean }) => {
      const format = diffFormatOf(flags.output);
      const ctx = context(flags, deps);
      const body = await ctx.api.bytes(`/diff/flamegraph.${format}`, { base, target, baseNode: flags.baseNode, targetNode: flags.targetNode });
      try {
        writeFileSync(flags.output, body);
      } catch (err) {
        throw new CliError(`cannot write ${flags.output}: ${(err as Error).message}`);
      }
      if (ctx.json) printJson(ctx.io, { base, target, output: { file: flags.output, format, bytes: body.length } });
      else ctx.io.err(`wrote ${clean(flags.output)} (${bytes(body.length)})\n`);
      return EXIT.ok;
    }),
  );
  program.addCommand(cmd);
}

import type { Logger } from '@nestjs/common';
import { ACTIVE_RUN } from '../common/run-status';

/**
 * Whether an agent's message about run `runId` may apply to `run` (its row, if one was found): an agent
 * reports only on its own runs, and only while they are active. Says why not in the log.
 */
export function isOwnActiveRun<R extends { nodeId: string; status: string }>(log: Logger, nodeId: string, runId: string, run: R | undefined): run is R {
  if (!run || run.nodeId !== nodeId) {
    log.warn(`node ${nodeId} reported on run ${runId}, which is not its own; ignored`);
    return false;
  }
  if (!(ACTIVE_RUN as readonly string[]).includes(run.status)) {
    log.warn(`run ${runId} is already ${run.status}; late message ignored`);
    return false;
  }
  return true;
}

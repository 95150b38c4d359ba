import { Injectable, Logger } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import type { AgentMessage } from '@tracefleet/proto';
import { PrismaService } from '../prisma/prisma.service';
import { checkOf } from './agent-decoder';
import { describeRefusal, SessionBudget } from './session-budget';
import type { AgentSession } from './agent.gateway';

/**
 * Applies the batch limits to a session's messages: a message over a cap (found before decoding,
 * agent-decoder.ts) or past its run's byte budget is refused — not stored, not routed — counted on
 * the node (Node.batchesRefused, shown by GET /api/v1/nodes/:name) and logged with the node and the
 * limit. ABUSE_REFUSALS refusals within ABUSE_WINDOW_MS end the session with RESOURCE_EXHAUSTED;
 * the agent reconnects through its usual backoff. Other sessions are not touched.
 */
@Injectable()
export class BatchGuard {
  private readonly log = new Logger('BatchLimits');
  private readonly budgets = new WeakMap<AgentSession, SessionBudget>();

  constructor(private readonly prisma: PrismaService) {}

  /** True when the message may be routed. */
  admit(s: AgentSession, msg: AgentMessage): boolean {
    const check = checkOf(msg);
    if (!check) return true; // not from the checked decoder (tests that route directly)
    let budget = this.budgets.get(s);
    if (!budget) this.budgets.set(s, (budget = new SessionBudget()));
    const violation = check.violation ?? budget.admit(check);
    if (!violation) return true;
    const why = describeRefusal(check, violation);
    const end = budget.refuse(Date.now());
    this.log.warn(`agent ${s.nodeName}: ${why}${end ? `; ${budget.refusedTotal} refused on this session, ending it` : ''}`);
    void this.prisma.node
      .update({ where: { id: s.nodeId }, data: { batchesRefused: { increment: 1 }, lastRefusal: why.slice(0, 500), lastRefusalAt: new Date() } })
      .catch((err: Error) => this.log.error(`agent ${s.nodeName}: counting a refused message failed: ${err.message}`));
    if (end) {
      const details = `session ended after ${budget.refusedTotal} refused messages; last: ${why}`;
      // An Error (not a bare status) so that the gateway's close handler logs the reason too.
      s.call.emit('error', Object.assign(new Error(details), { code: status.RESOURCE_EXHAUSTED, details }));
    }
    return false;
  }
}

import { isTransientDbError } from '../prisma/transient';

/**
 * Where a run's messages came from: one agent session, and whether its messages carry delivery numbers
 * (acknowledged delivery, agent.proto AgentMessage.delivery). Once storage has failed for one of its
 * messages (`unavailable` set), nothing more from that session is applied: applying later messages
 * would move a run's seq past the one that failed, and the agent sends them all again, in order, on
 * its next session.
 */
export interface DeliveryOrigin {
  /** The session's messages are numbered: what is not applied will come again, so nothing is counted lost. */
  acked: boolean;
  /** Why storage failed for this session (PostgreSQL unavailable past the retries); undefined while it works. */
  unavailable?: string;
  /** The session was ended for it (once). */
  ended?: boolean;
}

/**
 * Storing failed past the retries for a reason that may pass (the database is down or overloaded): the
 * message is not acknowledged, its session is ended, and the agent keeps it and sends it again.
 */
export class StorageUnavailable extends Error {}

/** Whether a failure should leave the message to the agent (it will come again) rather than count it. */
export function leaveToAgent(err: unknown, origin: DeliveryOrigin | undefined): boolean {
  return !!origin?.acked && (err instanceof StorageUnavailable || isTransientDbError(err));
}

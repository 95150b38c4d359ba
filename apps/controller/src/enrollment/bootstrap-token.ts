import { createHash, randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';

/** An enrollment refusal: the gRPC status the agent sees and a reason that names what is wrong (never a secret). */
export class EnrollError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** Bootstrap tokens are stored as their SHA-256 (hex): a database reader cannot enroll with what it reads. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A new bootstrap token: `tfb_` and 32 random bytes in base64url (43 characters). */
export const newToken = (): string => `tfb_${randomBytes(32).toString('base64url')}`;

/** What a presented token must look like before any lookup: printable, 16–256 characters. */
export const TOKEN_RE = /^[\x21-\x7e]{16,256}$/;

export interface TokenRow {
  maxUses: number;
  uses: number;
  expiresAt: Date;
  nodeName: string | null;
}

/**
 * Why a known bootstrap token cannot enroll `nodeName` now, or null when it can. The database applies
 * the same rule atomically when it counts the use; this says why it did not.
 */
export function tokenRefusal(row: TokenRow | null, nodeName: string, now: Date): EnrollError | null {
  if (!row) return new EnrollError(status.UNAUTHENTICATED, 'unknown bootstrap token');
  if (row.expiresAt.getTime() <= now.getTime()) return new EnrollError(status.PERMISSION_DENIED, `bootstrap token expired at ${row.expiresAt.toISOString()}`);
  if (row.uses >= row.maxUses) return new EnrollError(status.PERMISSION_DENIED, `bootstrap token used up (${row.uses} of ${row.maxUses} uses)`);
  if (row.nodeName !== null && row.nodeName !== nodeName) return new EnrollError(status.PERMISSION_DENIED, `bootstrap token is for node ${row.nodeName}, not ${nodeName}`);
  return null;
}

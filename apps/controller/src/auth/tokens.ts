import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of a presented secret with the configured one. */
export function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * A stable, non-secret name for a token in logs and the audit log: the first 16 hex digits (64 bits) of
 * its SHA-256. The tokens are random secrets of 24+ characters, so the prefix tells nothing about them.
 */
export function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

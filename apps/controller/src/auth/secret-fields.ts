import { seesSecrets, type Scope } from './scopes';

/**
 * Request fields that may hold literal secrets and are shown only to a token with the ssl-capture scope.
 * `redactPatterns` are regexes written to match credentials, often the credential itself
 * (`sk_live_4eC39HqLyjWDarjtT1zdp7dc`). The other ssl-capture fields are header names, paths and
 * limits: no secrets. Without the scope the field is omitted and `<field>Hidden` gives how many entries it had.
 */
export const SECRET_FIELDS = ['redactPatterns'] as const;
const MAX_DEPTH = 32;

/** `value` as a token with these scopes may see it: a copy without secret fields, or `value` itself. */
export function hideSecrets<T>(value: T, scopes: readonly Scope[]): T {
  return seesSecrets(scopes) ? value : (strip(value, 0) as T);
}

function strip(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  // Views are built from stored JSON a few levels deep; anything deeper is cut rather than walked.
  if (depth > MAX_DEPTH) return null;
  if (Array.isArray(value)) return value.map((v) => strip(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if ((SECRET_FIELDS as readonly string[]).includes(k)) {
      out[`${k}Hidden`] = Array.isArray(v) ? v.length : 1;
      continue;
    }
    if ((SECRET_FIELDS as readonly string[]).some((f) => k === `${f}Hidden`)) continue; // never let stored data forge the count
    out[k] = strip(v, depth + 1);
  }
  return out;
}

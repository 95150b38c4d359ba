import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Tracepoint attachment looks up event ids under tracefs, which some hosts do not mount at boot.
 * Mounts it (the agent runs as root) when missing; throws naming the command when that fails.
 */
export function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`tracefs is not mounted and \`mount -t tracefs tracefs /sys/kernel/tracing\` failed: ${(err as Error).message}`);
  }
}

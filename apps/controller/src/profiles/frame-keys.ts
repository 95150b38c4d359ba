import { createHash } from 'node:crypto';

export type FrameKind = 'user' | 'kernel' | 'jit';

/** Agents mark kernel frames with "_[k]" and JIT frames with "_[j]", as folded-stack tools do. */
export function frameKind(name: string): FrameKind {
  if (name.endsWith('_[k]')) return 'kernel';
  if (name.endsWith('_[j]')) return 'jit';
  return 'user';
}

export function frameKey(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export function stackKey(frameIds: number[]): string {
  return createHash('sha256').update(frameIds.join(',')).digest('hex');
}

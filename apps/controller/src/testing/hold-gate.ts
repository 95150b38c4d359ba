import type { StoreGate } from '../prisma/store-gate';

/**
 * Holds every slot of `gate` until the returned function is called (which resolves once they are free
 * again): writes that arrive meanwhile wait for a slot together, as they do under load.
 */
export function holdGate(gate: StoreGate): () => Promise<void> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const holders = Array.from({ length: gate.slots }, () => gate.run(() => held));
  return async () => {
    release();
    await Promise.all(holders);
  };
}

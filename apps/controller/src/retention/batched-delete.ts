/** What a retention sweep needs from the database (PrismaService, or a fake in tests). */
export interface RawExecutor {
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
}

/**
 * The loop every retention sweep shares: run `deleteBatch(batch)` (one short DELETE of at most `batch` rows, so
 * inserts are never held up for long) until a batch comes back short, at most `maxBatches` times; what is left
 * goes in the next tick (`more`).
 */
export async function deleteInBatches(
  deleteBatch: (batch: number) => PromiseLike<number>,
  batch: number,
  maxBatches: number,
): Promise<{ deleted: number; batches: number; more: boolean }> {
  let deleted = 0;
  for (let batches = 1; batches <= maxBatches; batches++) {
    const n = await deleteBatch(batch);
    deleted += n;
    if (n < batch) return { deleted, batches, more: false };
  }
  return { deleted, batches: maxBatches, more: true };
}

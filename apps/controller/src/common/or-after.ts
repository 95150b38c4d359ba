/**
 * What `work` settles with, or what `late()` returns (or throws) once `ms` passed without it. The timer is
 * cleared as soon as either comes first and never keeps the process alive; `work` itself is not cancelled.
 */
export async function orAfter<T, L>(work: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (err) {
        reject(err);
      }
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

import IORedis from 'ioredis';
import { redact } from './service-urls';

/** A connection to the Redis at `url` for a spec to inspect with; unreachable is a failure that names it, never a skip. */
export async function connectRedis(url: string): Promise<IORedis> {
  const conn = new IORedis(url, { maxRetriesPerRequest: null, lazyConnect: true });
  try {
    await conn.connect();
    await conn.ping();
  } catch (err) {
    conn.disconnect();
    throw new Error(`Redis is not reachable at ${redact(url)} (${(err as Error).message}); run npm run setup`);
  }
  return conn;
}

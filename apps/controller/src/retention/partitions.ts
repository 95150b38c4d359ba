// Day partitions of the tables that grow with every sample (PostgreSQL declarative partitioning, RANGE on a
// date column): made ahead of time, and on retention dropped whole instead of deleted row by row. The
// partitions, and one DEFAULT partition per table that keeps a row whose day has no partition yet, live in
// the schema "tf_partitions", which Prisma does not introspect; queries go through the parent table.
//
// Every change runs in a short transaction of its own that first takes one advisory lock (replicas
// take turns; whoever comes second finds the work done) and sets a lock_timeout, so a long query holding the
// parent table makes the step fail and come back next tick rather than queue every insert behind it.
//
// Plain SQL through a small interface (not Prisma's client), so bench/fleet-retention.mjs runs the very same
// code with a pg client.

/** One SQL session: `query` runs a statement with $1.. parameters and returns its rows. */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

/** Runs `work` in a transaction of its own (committed when it resolves, rolled back when it throws). */
export interface PartitionDb {
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
}

export const PARTITION_SCHEMA = 'tf_partitions';
/** Days made ahead of today (today included and then this many more). */
export const PARTITION_AHEAD_DAYS = 7;
/** How long a step waits for a table lock before giving up until the next tick. */
export const PARTITION_LOCK_TIMEOUT_MS = 2000;
/** One key for all partition maintenance (pg_advisory_xact_lock). */
const LOCK_KEY = "hashtext('tracefleet:partitions')";
/** Job states a job never leaves (job-retention.ts deletes such jobs; a partition with others' rows is kept). */
const ENDED_STATES = "('completed', 'partial', 'failed', 'stopped')";

/** A table partitioned by day. */
export interface DailyTable {
  /** The parent table (schema public). */
  table: string;
  /** Its date partition key. */
  column: string;
  /**
   * A statement answering one row `{ busy: boolean }`: does the partition (a qualified, quoted name) still hold
   * a row of a job that is queued or running? Such a partition is kept past the cutoff.
   */
  busySql(partition: string): string;
}

/** ProfileSample: partitioned on "day", its profile's creation day (migration 20261205210000_partitioned_samples). */
export const PROFILE_SAMPLES: DailyTable = {
  table: 'ProfileSample',
  column: 'day',
  // From the few unfinished jobs' profiles into the partition's primary key (profileId first): no scan of it.
  busySql: (p) => `SELECT EXISTS (
      SELECT 1 FROM "Job" j JOIN "Profile" pr ON pr."jobId" = j."id"
      WHERE j."status" NOT IN ${ENDED_STATES} AND EXISTS (SELECT 1 FROM ${p} ps WHERE ps."profileId" = pr."id")) AS "busy"`,
};

/**
 * An event table partitioned on "day", the day a row was stored (migration 20261205211000_partitioned_events);
 * busy while a run of an unfinished job has a row in it (every one has an index leading with "runId").
 */
export function eventTable(table: string): DailyTable {
  return {
    table,
    column: 'day',
    busySql: (p) => `SELECT EXISTS (
        SELECT 1 FROM "Job" j JOIN "JobRun" r ON r."jobId" = j."id"
        WHERE j."status" NOT IN ${ENDED_STATES} AND EXISTS (SELECT 1 FROM ${p} e WHERE e."runId" = r."id")) AS "busy"`,
  };
}

/** SslEvent (migration 20261205212000_partitioned_ssl_events): also dropped by its expiry sweep (dropExpired). */
export const SSL_EVENTS: DailyTable = eventTable('SslEvent');

/** Partitioned event tables. */
export const EVENT_TABLES: DailyTable[] = [...['TcpConnection', 'ExecOpenEvent', 'UsdtEvent', 'OomKill'].map(eventTable), SSL_EVENTS];

export const DAILY_TABLES: DailyTable[] = [PROFILE_SAMPLES, ...EVENT_TABLES];

export interface Partition {
  name: string;
  /** First day in it (YYYY-MM-DD); undefined for the DEFAULT partition. */
  from?: string;
  /** First day after it. */
  to?: string;
}

const DAY_MS = 86_400_000;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The UTC day of `t` as YYYY-MM-DD. */
export function isoDay(t: Date): string {
  return t.toISOString().slice(0, 10);
}

function addDays(day: string, n: number): string {
  return isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS));
}

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const qualified = (name: string): string => `${q(PARTITION_SCHEMA)}.${q(name)}`;
/** A day as an SQL literal; only ever built from isoDay (checked again here: it goes into DDL text). */
function dayLiteral(day: string): string {
  if (!ISO_DAY.test(day)) throw new Error(`not a day: ${day}`);
  return `'${day}'`;
}

export const partitionName = (t: DailyTable, day: string): string => `${t.table}_p${day.replace(/-/g, '')}`;
export const defaultPartitionName = (t: DailyTable): string => `${t.table}_default`;

const BOUND = /^FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)$/;

/** The partitions of `t` with their ranges, oldest first (the DEFAULT one last). */
export async function listPartitions(sql: Sql, t: DailyTable): Promise<Partition[]> {
  const rows = await sql.query<{ name: string; bound: string }>(
    `SELECT c.relname AS "name", pg_get_expr(c.relpartbound, c.oid) AS "bound"
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass($1)`,
    [q(t.table)],
  );
  const parts = rows.map((r): Partition => {
    if (r.bound === 'DEFAULT') return { name: r.name };
    const m = BOUND.exec(r.bound);
    if (!m) throw new Error(`partition ${r.name} of ${t.table} has a range this code does not read: ${r.bound}`);
    return { name: r.name, from: m[1], to: m[2] };
  });
  return parts.sort((a, b) => (a.from === undefined ? 1 : b.from === undefined ? -1 : a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}

const covers = (parts: Partition[], day: string): boolean => parts.some((p) => p.from !== undefined && p.from <= day && day < p.to!);

async function locked<T>(db: PartitionDb, work: (sql: Sql) => Promise<T>): Promise<T> {
  return db.transaction(async (sql) => {
    await sql.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`);
    await sql.query(`SELECT set_config('lock_timeout', $1, true)`, [`${PARTITION_LOCK_TIMEOUT_MS}ms`]);
    return work(sql);
  });
}

/**
 * Makes the partition of `day` unless one covers it already. Rows of that day that fell into the DEFAULT
 * partition meanwhile are moved into it first (PostgreSQL refuses to attach a range the DEFAULT partition
 * has rows of). The table is made apart and then attached: ATTACH PARTITION takes a weaker lock on the parent
 * than CREATE TABLE ... PARTITION OF. Returns whether it made one and how many rows it moved.
 */
export async function ensurePartition(db: PartitionDb, t: DailyTable, day: string): Promise<{ created: boolean; moved: number }> {
  return locked(db, async (sql) => {
    const parts = await listPartitions(sql, t);
    if (covers(parts, day)) return { created: false, moved: 0 };
    const name = qualified(partitionName(t, day));
    const from = dayLiteral(day);
    const to = dayLiteral(addDays(day, 1));
    await sql.query(`CREATE TABLE ${name} (LIKE ${q(t.table)} INCLUDING DEFAULTS)`);
    let moved = 0;
    if (parts.some((p) => p.from === undefined)) {
      const [row] = await sql.query<{ n: number }>(
        `WITH m AS (DELETE FROM ${qualified(defaultPartitionName(t))} WHERE ${q(t.column)} >= ${from} AND ${q(t.column)} < ${to} RETURNING *),
           i AS (INSERT INTO ${name} SELECT * FROM m RETURNING 1)
         SELECT count(*)::int AS "n" FROM i`,
      );
      moved = row.n;
    }
    await sql.query(`ALTER TABLE ${q(t.table)} ATTACH PARTITION ${name} FOR VALUES FROM (${from}) TO (${to})`);
    return { created: true, moved };
  });
}

export interface AheadResult {
  created: string[];
  /** Rows taken out of the DEFAULT partition into a new one. */
  moved: number;
}

/** Makes the partitions of `today` and the `ahead` days after it that do not exist yet. Idempotent. */
export async function ensureAhead(db: PartitionDb, t: DailyTable, now: Date, ahead = PARTITION_AHEAD_DAYS): Promise<AheadResult> {
  const result: AheadResult = { created: [], moved: 0 };
  const today = isoDay(now);
  for (let i = 0; i <= ahead; i++) {
    const day = addDays(today, i);
    const r = await ensurePartition(db, t, day);
    if (r.created) result.created.push(partitionName(t, day));
    result.moved += r.moved;
  }
  return result;
}

export interface DropResult {
  dropped: string[];
  /** Past the cutoff but still holding rows of a queued or running job. */
  kept: string[];
}

/**
 * Drops each partition of `t` that `candidate` picks unless `keep` (run under the lock, just before the DROP)
 * says otherwise. Each partition in a transaction of its own.
 */
async function dropPartitions(
  db: PartitionDb,
  t: DailyTable,
  candidate: (p: Partition) => boolean,
  keep: (sql: Sql, partition: string) => Promise<boolean>,
): Promise<DropResult> {
  const result: DropResult = { dropped: [], kept: [] };
  const old = (await db.transaction((sql) => listPartitions(sql, t))).filter((p) => p.to !== undefined && candidate(p));
  for (const p of old) {
    const gone = await locked(db, async (sql) => {
      const still = (await listPartitions(sql, t)).some((x) => x.name === p.name);
      if (!still) return undefined; // another replica dropped it
      if (await keep(sql, qualified(p.name))) return false;
      await sql.query(`DROP TABLE ${qualified(p.name)}`);
      return true;
    });
    if (gone === true) result.dropped.push(p.name);
    else if (gone === false) result.kept.push(p.name);
  }
  return result;
}

/**
 * Drops the partitions of `t` whose range ended by `cutoff` (every row in them is older than it), unless one
 * still holds a row of a job that is not over (`t.busySql`).
 */
export function dropBefore(db: PartitionDb, t: DailyTable, cutoff: Date): Promise<DropResult> {
  const last = isoDay(cutoff); // a range ending on or before the cutoff's day ended before the cutoff
  return dropPartitions(db, t, (p) => p.to! <= last, async (sql, part) => (await sql.query<{ busy: boolean }>(t.busySql(part)))[0].busy);
}

/**
 * SslEvent's expiry: drops the partitions of days before today (no row is stored into them any more) whose
 * rows have all expired ("expiresAt" <= now; the expiresAt index answers). The row sweep does the rest.
 */
export function dropExpired(db: PartitionDb, now: Date, t: DailyTable = SSL_EVENTS): Promise<DropResult> {
  const today = isoDay(now);
  return dropPartitions(db, t, (p) => p.to! <= today, async (sql, part) => {
    const [row] = await sql.query<{ live: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${part} WHERE "expiresAt" > $1) AS "live"`, [now]);
    return row.live;
  });
}

/** Rows and partitions per table, for metrics: the DEFAULT partition's rows are ones that had no day to go to. */
export async function partitionStats(sql: Sql, t: DailyTable): Promise<{ partitions: number; defaultRows: number }> {
  const parts = await listPartitions(sql, t);
  const [row] = await sql.query<{ n: number }>(`SELECT count(*)::int AS "n" FROM ${qualified(defaultPartitionName(t))}`);
  return { partitions: parts.filter((p) => p.from !== undefined).length, defaultRows: row.n };
}

/** What PartitionDb needs of a pg Pool (pg's Pool, or PrismaService.pool). */
export interface PgPool {
  connect(): Promise<{ query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>; release(err?: Error | boolean): void }>;
}

/** A PartitionDb on a pg pool: each transaction on a connection of its own (BEGIN ... COMMIT, ROLLBACK on error). */
export function poolPartitionDb(pool: PgPool): PartitionDb {
  return {
    async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
      const c = await pool.connect();
      let broken: Error | undefined;
      try {
        await c.query('BEGIN');
        const result = await work({ query: async <R>(text: string, params?: unknown[]) => (await c.query(text, params)).rows as R[] });
        await c.query('COMMIT');
        return result;
      } catch (err) {
        await c.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        c.release(broken);
      }
    },
  };
}

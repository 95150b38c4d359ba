-- The event tables partitioned by day like ProfileSample (20261205210000_partitioned_samples): TcpConnection,
-- ExecOpenEvent, UsdtEvent and OomKill get "day", the UTC day a row was stored (its default: inserts need not
-- name it), in the primary key with "id" (ids still come from the table's one sequence, so they stay unique
-- and ordered across partitions). Partitions and a DEFAULT partition each live in "tf_partitions".
-- Existing rows get their job's creation day (no stored time was kept) and partitions for those days.
-- SslEvent is not partitioned (yet): its own expiresAt sweep deletes its rows.

CREATE SCHEMA IF NOT EXISTS "tf_partitions";

DO $$
DECLARE
    t text;
    d date;
BEGIN
    FOREACH t IN ARRAY ARRAY['TcpConnection', 'ExecOpenEvent', 'UsdtEvent', 'OomKill'] LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_unpartitioned');
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t || '_unpartitioned', t || '_runId_fkey');
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', t || '_unpartitioned', t || '_pkey', t || '_unpartitioned_pkey');
        -- Same columns and defaults (the id default still takes the table's sequence), plus the key.
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS, "day" DATE NOT NULL DEFAULT ((now() AT TIME ZONE ''UTC''::text))::date) PARTITION BY RANGE ("day")',
                       t, t || '_unpartitioned');
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY ("id", "day")', t, t || '_pkey');
        EXECUTE format('CREATE TABLE "tf_partitions".%I PARTITION OF %I DEFAULT', t || '_default', t);
        FOR d IN EXECUTE format('SELECT DISTINCT (j."createdAt")::date FROM "JobRun" r JOIN "Job" j ON j."id" = r."jobId"
                                 WHERE EXISTS (SELECT 1 FROM %I e WHERE e."runId" = r."id")', t || '_unpartitioned')
        LOOP
            EXECUTE format('CREATE TABLE "tf_partitions".%I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           t || '_p' || to_char(d, 'YYYYMMDD'), t, d, d + 1);
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT e.*, (j."createdAt")::date FROM %I e JOIN "JobRun" r ON r."id" = e."runId" JOIN "Job" j ON j."id" = r."jobId"',
                       t, t || '_unpartitioned');
        EXECUTE format('ALTER SEQUENCE %I OWNED BY %I."id"', t || '_id_seq', t);
        EXECUTE format('DROP TABLE %I', t || '_unpartitioned');
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE', t, t || '_runId_fkey');
    END LOOP;
END $$;

-- The read paths' indexes (the old ones went with the old tables).
CREATE INDEX "TcpConnection_runId_id_idx" ON "TcpConnection"("runId", "id");
CREATE INDEX "ExecOpenEvent_runId_id_idx" ON "ExecOpenEvent"("runId", "id");
CREATE INDEX "UsdtEvent_runId_probe_tsNs_idx" ON "UsdtEvent"("runId", "probe", "tsNs");
CREATE INDEX "OomKill_runId_id_idx" ON "OomKill"("runId", "id");

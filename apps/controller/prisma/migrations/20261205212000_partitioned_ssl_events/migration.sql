-- SslEvent partitioned by day like the other event tables (20261205211000_partitioned_events): "day", the
-- UTC day a row was stored, in the primary key with "id". Its expiresAt sweep drops a past day's partition
-- whose rows have all expired (retention/partitions.ts dropExpired) and deletes the rest row by row as before.
-- Existing rows get their job's creation day.

CREATE SCHEMA IF NOT EXISTS "tf_partitions";

ALTER TABLE "SslEvent" RENAME TO "SslEvent_unpartitioned";
ALTER TABLE "SslEvent_unpartitioned" DROP CONSTRAINT "SslEvent_jobId_fkey";
ALTER TABLE "SslEvent_unpartitioned" DROP CONSTRAINT "SslEvent_runId_fkey";
ALTER TABLE "SslEvent_unpartitioned" DROP CONSTRAINT "SslEvent_stackId_fkey";
ALTER TABLE "SslEvent_unpartitioned" RENAME CONSTRAINT "SslEvent_pkey" TO "SslEvent_unpartitioned_pkey";
DROP INDEX "SslEvent_expiresAt_idx";
DROP INDEX "SslEvent_jobId_id_idx";
DROP INDEX "SslEvent_jobId_nodeName_pid_sslPtr_tsNs_id_idx";
DROP INDEX "SslEvent_runId_idx";

CREATE TABLE "SslEvent" (LIKE "SslEvent_unpartitioned" INCLUDING DEFAULTS,
    "day" DATE NOT NULL DEFAULT ((now() AT TIME ZONE 'UTC'::text))::date,

    CONSTRAINT "SslEvent_pkey" PRIMARY KEY ("id", "day")
) PARTITION BY RANGE ("day");

CREATE TABLE "tf_partitions"."SslEvent_default" PARTITION OF "SslEvent" DEFAULT;

DO $$
DECLARE
    d date;
BEGIN
    FOR d IN SELECT DISTINCT (j."createdAt")::date FROM "Job" j WHERE EXISTS (SELECT 1 FROM "SslEvent_unpartitioned" e WHERE e."jobId" = j."id")
    LOOP
        EXECUTE format('CREATE TABLE "tf_partitions".%I PARTITION OF "SslEvent" FOR VALUES FROM (%L) TO (%L)',
                       'SslEvent_p' || to_char(d, 'YYYYMMDD'), d, d + 1);
    END LOOP;
END $$;

INSERT INTO "SslEvent" SELECT e.*, (j."createdAt")::date FROM "SslEvent_unpartitioned" e JOIN "Job" j ON j."id" = e."jobId";

ALTER SEQUENCE "SslEvent_id_seq" OWNED BY "SslEvent"."id";
DROP TABLE "SslEvent_unpartitioned";

-- CreateIndex
CREATE INDEX "SslEvent_expiresAt_idx" ON "SslEvent"("expiresAt");
CREATE INDEX "SslEvent_jobId_id_idx" ON "SslEvent"("jobId", "id");
CREATE INDEX "SslEvent_jobId_nodeName_pid_sslPtr_tsNs_id_idx" ON "SslEvent"("jobId", "nodeName", "pid", "sslPtr", "tsNs", "id");
CREATE INDEX "SslEvent_runId_idx" ON "SslEvent"("runId");

-- AddForeignKey
ALTER TABLE "SslEvent" ADD CONSTRAINT "SslEvent_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "SslEvent" ADD CONSTRAINT "SslEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "SslEvent" ADD CONSTRAINT "SslEvent_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "Stack"("id") ON DELETE SET NULL ON UPDATE CASCADE;

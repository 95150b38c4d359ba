-- ProfileSample partitioned by day (PostgreSQL declarative partitioning, RANGE on "day"): retention drops a
-- whole day's partition instead of deleting its rows one by one (retention/partitions.ts).
-- "day" is the UTC day the sample's profile was created: constant per profile (functionally dependent on
-- "profileId"), so adding it to the primary key keeps the upsert's meaning.
-- The partitions (and a DEFAULT partition, the safety net for a day with no partition yet) live in the
-- schema "tf_partitions", which Prisma does not introspect; the partition manager creates days ahead.

CREATE SCHEMA IF NOT EXISTS "tf_partitions";

ALTER TABLE "ProfileSample" RENAME TO "ProfileSample_unpartitioned";
ALTER TABLE "ProfileSample_unpartitioned" DROP CONSTRAINT "ProfileSample_profileId_fkey";
ALTER TABLE "ProfileSample_unpartitioned" DROP CONSTRAINT "ProfileSample_stackId_fkey";
ALTER TABLE "ProfileSample_unpartitioned" RENAME CONSTRAINT "ProfileSample_pkey" TO "ProfileSample_unpartitioned_pkey";

CREATE TABLE "ProfileSample" (
    "profileId" UUID NOT NULL,
    "stackId" INTEGER NOT NULL,
    "count" BIGINT NOT NULL,
    "originId" INTEGER NOT NULL DEFAULT 0,
    "day" DATE NOT NULL DEFAULT ((now() AT TIME ZONE 'UTC'::text))::date,

    CONSTRAINT "ProfileSample_pkey" PRIMARY KEY ("profileId","stackId","originId","day")
) PARTITION BY RANGE ("day");

CREATE TABLE "tf_partitions"."ProfileSample_default" PARTITION OF "ProfileSample" DEFAULT;

-- One partition per day the existing samples need (the manager makes today and the days ahead at boot).
DO $$
DECLARE
    d date;
BEGIN
    FOR d IN SELECT DISTINCT (p."createdAt")::date FROM "Profile" p
             WHERE EXISTS (SELECT 1 FROM "ProfileSample_unpartitioned" ps WHERE ps."profileId" = p."id")
    LOOP
        EXECUTE format('CREATE TABLE "tf_partitions".%I PARTITION OF "ProfileSample" FOR VALUES FROM (%L) TO (%L)',
                       'ProfileSample_p' || to_char(d, 'YYYYMMDD'), d, d + 1);
    END LOOP;
END $$;

INSERT INTO "ProfileSample" ("profileId", "stackId", "count", "originId", "day")
SELECT ps."profileId", ps."stackId", ps."count", ps."originId", (p."createdAt")::date
FROM "ProfileSample_unpartitioned" ps JOIN "Profile" p ON p."id" = ps."profileId";

DROP TABLE "ProfileSample_unpartitioned";

-- AddForeignKey
ALTER TABLE "ProfileSample" ADD CONSTRAINT "ProfileSample_profileId_fkey" FOREIGN KEY ("profileId") REFERENCES "Profile"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ProfileSample" ADD CONSTRAINT "ProfileSample_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "Stack"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

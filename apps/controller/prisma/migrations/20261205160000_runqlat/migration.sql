-- The runqlat job type (apps/controller/src/runqlat/runqlat.prisma).

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'runqlat';

-- CreateTable
CREATE TABLE "RunqlatHistogram" (
    "runId" UUID NOT NULL,
    "cgroupId" BIGINT NOT NULL,
    "slots" BIGINT[],
    "totalNs" BIGINT NOT NULL,

    CONSTRAINT "RunqlatHistogram_pkey" PRIMARY KEY ("runId","cgroupId")
);

-- CreateTable
CREATE TABLE "RunqlatTotals" (
    "runId" UUID NOT NULL,
    "latencies" BIGINT NOT NULL,
    "noStart" BIGINT NOT NULL,
    "noHist" BIGINT NOT NULL,
    "final" BOOLEAN NOT NULL,

    CONSTRAINT "RunqlatTotals_pkey" PRIMARY KEY ("runId")
);

-- AddForeignKey
ALTER TABLE "RunqlatHistogram" ADD CONSTRAINT "RunqlatHistogram_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RunqlatTotals" ADD CONSTRAINT "RunqlatTotals_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'usdt';

-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN     "attached" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "UsdtProbeCount" (
    "runId" UUID NOT NULL,
    "probe" TEXT NOT NULL,
    "count" BIGINT NOT NULL,
    "eventsCaptured" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "UsdtProbeCount_pkey" PRIMARY KEY ("runId","probe")
);

-- CreateTable
CREATE TABLE "UsdtPairStat" (
    "runId" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "count" BIGINT NOT NULL,
    "totalNs" BIGINT NOT NULL,
    "buckets" BIGINT[],
    "unmatchedEnds" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "UsdtPairStat_pkey" PRIMARY KEY ("runId","label")
);

-- CreateTable
CREATE TABLE "UsdtOccurrence" (
    "id" SERIAL NOT NULL,
    "runId" UUID NOT NULL,
    "label" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "tid" INTEGER NOT NULL,
    "beginNs" BIGINT NOT NULL,
    "durationNs" BIGINT NOT NULL,
    "args" BIGINT[],
    "stack" TEXT[],

    CONSTRAINT "UsdtOccurrence_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UsdtEvent" (
    "id" BIGSERIAL NOT NULL,
    "runId" UUID NOT NULL,
    "probe" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "tid" INTEGER NOT NULL,
    "tsNs" BIGINT NOT NULL,
    "args" BIGINT[],
    "str" TEXT,

    CONSTRAINT "UsdtEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "UsdtOccurrence_runId_label_durationNs_idx" ON "UsdtOccurrence"("runId", "label", "durationNs");

-- CreateIndex
CREATE INDEX "UsdtEvent_runId_probe_tsNs_idx" ON "UsdtEvent"("runId", "probe", "tsNs");

-- AddForeignKey
ALTER TABLE "UsdtProbeCount" ADD CONSTRAINT "UsdtProbeCount_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsdtPairStat" ADD CONSTRAINT "UsdtPairStat_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsdtOccurrence" ADD CONSTRAINT "UsdtOccurrence_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsdtEvent" ADD CONSTRAINT "UsdtEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

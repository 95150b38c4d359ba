-- The biolatency job type (apps/controller/src/biolatency/biolatency.prisma).

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'biolatency';

-- CreateTable
CREATE TABLE "BiolatencyHistogram" (
    "runId" UUID NOT NULL,
    "disk" TEXT NOT NULL,
    "major" INTEGER NOT NULL,
    "minor" INTEGER NOT NULL,
    "pid" INTEGER NOT NULL,
    "comm" TEXT NOT NULL,
    "latency" BIGINT[],
    "size" BIGINT[],
    "totalNs" BIGINT NOT NULL,
    "totalBytes" BIGINT NOT NULL,

    CONSTRAINT "BiolatencyHistogram_pkey" PRIMARY KEY ("runId","major","minor","pid","comm")
);

-- CreateTable
CREATE TABLE "BiolatencyTotals" (
    "runId" UUID NOT NULL,
    "ios" BIGINT NOT NULL,
    "startFull" BIGINT NOT NULL,
    "noStart" BIGINT NOT NULL,
    "noHist" BIGINT NOT NULL,
    "histogramsLeftOut" BIGINT NOT NULL,
    "final" BOOLEAN NOT NULL,

    CONSTRAINT "BiolatencyTotals_pkey" PRIMARY KEY ("runId")
);

-- AddForeignKey
ALTER TABLE "BiolatencyHistogram" ADD CONSTRAINT "BiolatencyHistogram_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "BiolatencyTotals" ADD CONSTRAINT "BiolatencyTotals_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

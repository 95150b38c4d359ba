-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'memleak';

-- CreateTable
CREATE TABLE "MemleakSnapshot" (
    "id" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "takenAt" TIMESTAMP(3) NOT NULL,
    "final" BOOLEAN NOT NULL DEFAULT false,
    "totalBytes" BIGINT NOT NULL,
    "totalCount" BIGINT NOT NULL,
    "allocsSeen" BIGINT NOT NULL,
    "allocsTraced" BIGINT NOT NULL,
    "freesMatched" BIGINT NOT NULL,
    "untracked" BIGINT NOT NULL,
    "stackErrors" BIGINT NOT NULL,
    "scale" DOUBLE PRECISION NOT NULL DEFAULT 1,

    CONSTRAINT "MemleakSnapshot_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "MemleakStackStat" (
    "snapshotId" UUID NOT NULL,
    "stackId" INTEGER NOT NULL,
    "bytes" BIGINT NOT NULL,
    "count" BIGINT NOT NULL,
    "oldestAgeMs" BIGINT NOT NULL,

    CONSTRAINT "MemleakStackStat_pkey" PRIMARY KEY ("snapshotId","stackId")
);

-- CreateIndex
CREATE UNIQUE INDEX "MemleakSnapshot_runId_seq_key" ON "MemleakSnapshot"("runId", "seq");

-- AddForeignKey
ALTER TABLE "MemleakSnapshot" ADD CONSTRAINT "MemleakSnapshot_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MemleakStackStat" ADD CONSTRAINT "MemleakStackStat_snapshotId_fkey" FOREIGN KEY ("snapshotId") REFERENCES "MemleakSnapshot"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MemleakStackStat" ADD CONSTRAINT "MemleakStackStat_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "Stack"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

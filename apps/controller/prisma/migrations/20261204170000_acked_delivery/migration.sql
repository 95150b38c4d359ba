-- Acknowledged delivery: batches sent again after they were stored, and the agent's spool counters.
-- AlterTable
ALTER TABLE "JobRun" ADD COLUMN     "batchesOverflowed" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "batchesSpooled" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "duplicatesDropped" INTEGER NOT NULL DEFAULT 0;

-- POST /jobs/:id/stop: a stopped job ends `stopped` and names the token that stopped it.
-- AlterEnum
ALTER TYPE "JobStatus" ADD VALUE 'stopped';

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "stoppedBy" TEXT;

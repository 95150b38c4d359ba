-- The off-cpu job type (apps/controller/src/off-cpu): its results are profile batches, stored as cpu-profile's.

-- AlterEnum
ALTER TYPE "JobType" ADD VALUE 'off_cpu';

-- syscount's report totals move from a JobRun column to a table of the syscount folder's own
-- (apps/controller/src/syscount/syscount.prisma); totals stored so far move with them.

-- CreateTable
CREATE TABLE "SyscountTotals" (
    "runId" UUID NOT NULL,
    "totals" JSONB NOT NULL,

    CONSTRAINT "SyscountTotals_pkey" PRIMARY KEY ("runId")
);

-- AddForeignKey
ALTER TABLE "SyscountTotals" ADD CONSTRAINT "SyscountTotals_runId_fkey" FOREIGN KEY ("runId") REFERENCES "JobRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Move the stored totals
INSERT INTO "SyscountTotals" ("runId", "totals") SELECT "id", "syscountReport" FROM "JobRun" WHERE "syscountReport" IS NOT NULL;

-- AlterTable
ALTER TABLE "JobRun" DROP COLUMN "syscountReport";

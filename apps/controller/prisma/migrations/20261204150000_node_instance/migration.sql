-- The agent process holding a node's session, and registrations refused because another instance held it.
-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "duplicatesRefused" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "instanceId" TEXT,
ADD COLUMN     "lastDuplicate" TEXT,
ADD COLUMN     "lastDuplicateAt" TIMESTAMP(3);

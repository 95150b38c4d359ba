-- AlterTable
ALTER TABLE "Node" ADD COLUMN "policy" JSONB;

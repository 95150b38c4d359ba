-- Origins of usdt and ssl-capture events (issue 16): where the process ran; 0 = not known.
-- AlterTable
ALTER TABLE "SslEvent" ADD COLUMN     "originId" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "UsdtEvent" ADD COLUMN     "originId" INTEGER NOT NULL DEFAULT 0;

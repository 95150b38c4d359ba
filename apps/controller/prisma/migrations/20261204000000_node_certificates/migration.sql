-- CreateTable
CREATE TABLE "BootstrapToken" (
    "id" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "description" TEXT,
    "nodeName" TEXT,
    "maxUses" INTEGER NOT NULL,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "BootstrapToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "NodeCertificate" (
    "serial" TEXT NOT NULL,
    "nodeName" TEXT NOT NULL,
    "caFingerprint" TEXT NOT NULL,
    "notBefore" TIMESTAMP(3) NOT NULL,
    "notAfter" TIMESTAMP(3) NOT NULL,
    "issuedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "via" TEXT NOT NULL,
    "bootstrapTokenId" UUID,
    "renewedFrom" TEXT,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "NodeCertificate_pkey" PRIMARY KEY ("serial")
);

-- CreateIndex
CREATE UNIQUE INDEX "BootstrapToken_tokenHash_key" ON "BootstrapToken"("tokenHash");

-- CreateIndex
CREATE INDEX "NodeCertificate_nodeName_notAfter_idx" ON "NodeCertificate"("nodeName", "notAfter");

-- AddForeignKey
ALTER TABLE "NodeCertificate" ADD CONSTRAINT "NodeCertificate_bootstrapTokenId_fkey" FOREIGN KEY ("bootstrapTokenId") REFERENCES "BootstrapToken"("id") ON DELETE SET NULL ON UPDATE CASCADE;


import { Global, Injectable, Module } from '@nestjs/common';
import type { Prisma } from '../generated/prisma/client';

type Tx = Prisma.TransactionClient;

/** The run a result belongs to, as runs/ found it (owned by the sending node). */
export interface ResultRun {
  id: string;
  jobId: string;
}

/**
 * Stores one numbered batch of a run inside `tx`, the transaction in which runs/ claimed the batch's seq
 * (so a batch sent twice is stored once, even by two replicas); returns the samples or events kept.
 */
export type BatchStore = (run: ResultRun, batch: never, tx: Tx) => Promise<bigint>;
/** Stores a run's one-off report (sent before RunFinished). */
export type ReportStore = (run: ResultRun, report: never) => Promise<void>;

/**
 * Where each job type's results go, by AgentMessage case. Each type's service registers its own when
 * it is created; runs/ orders, deduplicates and counts them without knowing the types, and agents/
 * routes every result message here.
 */
@Injectable()
export class ResultStores {
  private readonly batches = new Map<string, BatchStore>();
  private readonly reports = new Map<string, ReportStore>();

  batch<T>(msgCase: string, store: (run: ResultRun, batch: T, tx: Tx) => Promise<bigint>): void {
    if (this.batches.has(msgCase) || this.reports.has(msgCase)) throw new Error(`a store for ${msgCase} is registered twice`);
    this.batches.set(msgCase, store as BatchStore);
  }

  report<T>(msgCase: string, store: (run: ResultRun, report: T) => Promise<void>): void {
    if (this.batches.has(msgCase) || this.reports.has(msgCase)) throw new Error(`a store for ${msgCase} is registered twice`);
    this.reports.set(msgCase, store as ReportStore);
  }

  batchStore(msgCase: string): BatchStore | undefined {
    return this.batches.get(msgCase);
  }

  reportStore(msgCase: string): ReportStore | undefined {
    return this.reports.get(msgCase);
  }
}

/** Global: one ResultStores for the app's modules (AppModule's services and each job type's module). */
@Global()
@Module({ providers: [ResultStores], exports: [ResultStores] })
export class ResultStoresModule {}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { CertRenewalClient, EnrollmentClient, type IssuedCertificate } from '@tracefleet/proto';
import { BACKDATE_MS, chainsTo, checkPrivateFile, createNodeCsr, ensurePrivateDir, nodeIdentity, writePrivateFile, type NodeIdentity } from '@tracefleet/pki';
import type { IdentityConfig } from './config';

/** A refusal the agent cannot get past by retrying (bad token, name taken, no token): it stops, saying why. */
export class IdentityError extends Error {}

/** Statuses worth another attempt: the controller is down, restarting, or busy. */
const TRANSIENT = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.INTERNAL, status.ABORTED, status.RESOURCE_EXHAUSTED, status.UNKNOWN]);
const CALL_TIMEOUT_MS = 15_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * When to renew: two thirds into the certificate's life (kubelet renews between 70 and 90 %), counted
 * from when it was issued (the fleet's certificates start BACKDATE_MS before that, for clock skew).
 */
export function renewAt(notBefore: Date, notAfter: Date): number {
  const end = notAfter.getTime();
  const from = Math.min(notBefore.getTime() + BACKDATE_MS, end);
  return from + Math.floor(((end - from) * 2) / 3);
}

/** A TLS failure that means the controller's certificate is not one of this fleet (rogue, or misconfigured). */
export function untrustedServer(err: { details?: string; message?: string }): boolean {
  return /certificate|self[- ]signed|unable to (get|verify)|CERT_|Hostname\/IP does not match|altnames|handshake/i.test(`${err.details ?? ''} ${err.message ?? ''}`);
}

interface Held {
  keyPem: string;
  certPem: string;
  id: NodeIdentity;
}

/**
 * The node's client certificate: read from the state directory when it is still good (chains to the
 * fleet CA, names this node, key 0600), otherwise enrolled with the bootstrap token; renewed over the
 * mutual-TLS link at two thirds of its life. Every change bumps `generation` so the link builds new
 * channels with the new certificate on its next connect.
 */
export class NodeCredentials {
  private held: Held | undefined;
  private caPem = '';
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  generation = 0;

  constructor(
    private readonly cfg: IdentityConfig,
    private readonly nodeName: string,
    private readonly log: (msg: string) => void,
    /** The controller address the link uses now (renewal goes there, over mutual TLS). */
    private readonly controllerAddr: () => string,
  ) {}

  private get keyFile(): string {
    return join(this.cfg.stateDir, 'node.key');
  }

  private get certFile(): string {
    return join(this.cfg.stateDir, 'node.crt');
  }

  get identity(): NodeIdentity | undefined {
    return this.held?.id;
  }

  /** Loads or enrolls; resolves once the node holds a certificate. Throws IdentityError when it cannot. */
  async ensure(): Promise<void> {
    try {
      this.caPem = readFileSync(this.cfg.caCertFile, 'utf8');
    } catch (err) {
      throw new IdentityError(`TRACEFLEET_CA_CERT=${this.cfg.caCertFile}: ${(err as Error).message}`);
    }
    ensurePrivateDir(this.cfg.stateDir);
    const kept = await this.readKept();
    if (kept) {
      this.held = kept;
      this.log(`using certificate ${kept.id.serial} for node ${this.nodeName} from ${this.certFile} (valid until ${kept.id.notAfter.toISOString()})`);
    } else {
      await this.enroll();
    }
    this.scheduleRenewal();
  }

  /** gRPC credentials for the agent link: the fleet CA as the only trust root, and this node's key and certificate. */
  credentials(): ChannelCredentials {
    if (!this.held) throw new Error('no node certificate yet');
    return credentials.createSsl(Buffer.from(this.caPem), Buffer.from(this.held.keyPem), Buffer.from(this.held.certPem));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.renewTimer);
  }

  /** The kept key and certificate, if they are still good for this node; why not is logged. */
  private async readKept(): Promise<Held | undefined> {
    if (!existsSync(this.certFile) && !existsSync(this.keyFile)) return undefined;
    try {
      checkPrivateFile(this.keyFile);
      const keyPem = readFileSync(this.keyFile, 'utf8');
      const certPem = readFileSync(this.certFile, 'utf8');
      const id = nodeIdentity(certPem);
      if (id.nodeName !== this.nodeName) throw new Error(`it is for node ${id.nodeName}, not ${this.nodeName}`);
      if (!(await chainsTo(certPem, this.caPem))) throw new Error('it does not chain to the fleet CA, or has expired');
      return { keyPem, certPem, id };
    } catch (err) {
      this.log(`not using the certificate in ${this.cfg.stateDir}: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async enroll(): Promise<void> {
    const token = this.cfg.enrollmentToken;
    if (!token) {
      throw new IdentityError(`no valid certificate in ${this.cfg.stateDir} and no TRACEFLEET_ENROLLMENT_TOKEN to enroll with (create one: POST /api/v1/enrollment-tokens)`);
    }
    const { keyPem, csrPem } = await createNodeCsr(this.nodeName);
    const issued = await this.withRetries('enrollment', (attempt) => {
      const addr = this.cfg.enrollAddrs[attempt % this.cfg.enrollAddrs.length];
      // Server-only TLS: the controller proves it holds a certificate of the fleet CA before the token is sent.
      const client = new EnrollmentClient(addr, credentials.createSsl(Buffer.from(this.caPem)));
      const md = new Metadata();
      md.set('authorization', `Bearer ${token}`);
      return this.unary<IssuedCertificate>(addr, client, (cb) => client.enroll({ nodeName: this.nodeName, csrPem }, md, { deadline: Date.now() + CALL_TIMEOUT_MS }, (e, r) => cb(e, r?.certificate)));
    });
    await this.adopt(keyPem, issued, 'enrolled');
  }

  private async renew(): Promise<void> {
    const { keyPem, csrPem } = await createNodeCsr(this.nodeName);
    const addr = this.controllerAddr();
    const client = new CertRenewalClient(addr, this.credentials());
    const issued = await this.unary<IssuedCertificate>(addr, client, (cb) => client.renew({ csrPem }, new Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (e, r) => cb(e, r?.certificate)));
    await this.adopt(keyPem, issued, 'renewed');
  }

  /** Checks what the controller sent (names this node, chains to the CA we hold), then keeps it: key 0600 first, then the certificate. */
  private async adopt(keyPem: string, issued: IssuedCertificate, how: string): Promise<void> {
    const id = nodeIdentity(issued.certificatePem);
    if (id.nodeName !== this.nodeName) throw new IdentityError(`the controller issued a certificate for ${id.nodeName}, not ${this.nodeName}`);
    if (!(await chainsTo(issued.certificatePem, this.caPem))) throw new IdentityError('the controller issued a certificate that does not chain to the fleet CA (TRACEFLEET_CA_CERT)');
    writePrivateFile(this.keyFile, keyPem, 0o600);
    writePrivateFile(this.certFile, issued.certificatePem, 0o644);
    this.held = { keyPem, certPem: issued.certificatePem, id };
    this.generation++;
    this.log(`${how}: certificate ${id.serial} for node ${this.nodeName} until ${id.notAfter.toISOString()}, key in ${this.keyFile} (0600)`);
  }

  private scheduleRenewal(): void {
    if (this.closed || !this.held) return;
    const at = renewAt(this.held.id.notBefore, this.held.id.notAfter);
    this.scheduleRenewalIn(Math.max(0, at - Date.now()), 0);
  }

  private scheduleRenewalIn(ms: number, failures: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      void this.renew().then(
        () => this.scheduleRenewal(),
        (err: Error) => {
          const left = (this.held?.id.notAfter.getTime() ?? 0) - Date.now();
          this.log(`certificate renewal failed (${describe(err)}); ${left > 0 ? `${Math.round(left / 1000)} s of validity left` : 'the certificate has expired'}`);
          if (left <= 0 && this.cfg.enrollmentToken) {
            void this.enroll().then(
              () => this.scheduleRenewal(),
              (e: Error) => {
                this.log(`re-enrollment failed: ${describe(e)}`);
                this.scheduleRenewalIn(RETRY_MAX_MS, failures + 1);
              },
            );
            return;
          }
          // Retry well before expiry: at most a tenth of what is left, at least a few seconds apart.
          const wait = Math.min(RETRY_MAX_MS * 2 ** Math.min(failures, 4), Math.max(2000, Math.floor(left / 10)));
          this.scheduleRenewalIn(wait, failures + 1);
        },
      );
    }, Math.min(ms, 2_147_483_647));
    this.renewTimer.unref();
  }

  private unary<T>(addr: string, client: { close(): void }, call: (cb: (e: ServiceError | null, r: T | undefined) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      call((e, r) => {
        client.close();
        if (e) reject(Object.assign(e, { addr }));
        else if (!r) reject(new IdentityError(`${addr} answered without a certificate`));
        else resolve(r);
      }),
    );
  }

  /** Retries transient failures with backoff, across the enrollment addresses; a refusal is final. */
  private async withRetries<T>(what: string, attempt: (n: number) => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt(n);
      } catch (err) {
        const e = err as ServiceError & { addr?: string };
        if (this.closed) throw new IdentityError(`${what} abandoned: shutting down`);
        if (e instanceof IdentityError) throw e;
        if (e.code === status.UNAVAILABLE && untrustedServer(e)) {
          this.log(`refused the controller at ${e.addr}: its certificate does not chain to the fleet CA (${e.details}); nothing was sent to it`);
        } else if (!TRANSIENT.has(e.code)) {
          throw new IdentityError(`${what} refused by ${e.addr}: ${status[e.code] ?? e.code}: ${e.details || e.message}`);
        }
        const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(n, 6)) * (0.5 + Math.random() / 2);
        this.log(`${what} at ${e.addr} failed (${describe(e)}); retrying in ${Math.round(wait)} ms`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}

function describe(err: Error): string {
  const e = err as Partial<ServiceError>;
  return e.code !== undefined ? `${status[e.code] ?? e.code}: ${e.details || e.message}` : err.message;
}

import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Server, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { EnrollmentService, type EnrollRequest, type EnrollResponse, type IssuedCertificate, type RenewRequest, type RenewResponse } from '@tracefleet/proto';
import type { IssuedNodeCert } from '@tracefleet/pki';
import { ENV, type ControllerEnv } from '../config/env';
import { bearer } from '../auth/tokens';
import { FleetCaService } from './fleet-ca.service';
import { NodeCertificatesService } from './node-certificates.service';
import { EnrollError } from './bootstrap-token';
import { peerIdentity } from './peer';

/** An enrollment request is a node name and a ~400-byte CSR; nothing near this is legitimate. */
const MAX_ENROLL_MESSAGE_BYTES = 16 * 1024;

function answer(issued: IssuedNodeCert, caPem: string): IssuedCertificate {
  return { certificatePem: issued.certPem, caPem, notAfterUnixMs: BigInt(issued.notAfter.getTime()) };
}

/** Answers a unary call from a promise: EnrollError → its status and reason; anything else → INTERNAL, logged. */
function reply<T>(log: Logger, what: string, cb: sendUnaryData<T>, work: Promise<T>): void {
  work.then(
    (v) => cb(null, v),
    (err: Error) => {
      if (err instanceof EnrollError) {
        log.warn(`${what} refused: ${err.message}`);
        cb({ code: err.code, details: err.message });
      } else {
        log.error(`${what} failed: ${err.stack ?? err.message}`);
        cb({ code: status.INTERNAL, details: 'internal error' });
      }
    },
  );
}

/**
 * CertRenewal on the agent link's server (mutual TLS): the node named by the presented certificate
 * gets a new one for a new key.
 */
export function renewalService(certs: NodeCertificatesService, fleetCa: FleetCaService, log: Logger): UntypedServiceImplementation {
  return {
    renew: (call: ServerUnaryCall<RenewRequest, RenewResponse>, cb: sendUnaryData<RenewResponse>) => {
      let what = `renewal from ${call.getPeer()}`;
      reply(
        log,
        what,
        cb,
        (async () => {
          const peer = peerIdentity(call);
          what = `renewal of node ${peer.nodeName}`;
          return { certificate: answer(await certs.renew(peer, call.request.csrPem), fleetCa.caPem) };
        })(),
      );
    },
  };
}

/**
 * The enrollment listener (TRACEFLEET_ENROLL_ADDR): server-only TLS with the controller's certificate,
 * so an agent that has only the fleet CA and a bootstrap token can check whom it talks to before it
 * shows the token. Nothing else is served here.
 */
@Injectable()
export class EnrollmentServer implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(EnrollmentServer.name);
  private server: Server | undefined;
  boundAddress = '';

  constructor(
    @Inject(ENV) private readonly env: ControllerEnv,
    private readonly fleetCa: FleetCaService,
    private readonly certs: NodeCertificatesService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.fleetCa.ready();
    const server = new Server({ 'grpc.max_receive_message_length': MAX_ENROLL_MESSAGE_BYTES });
    server.addService(EnrollmentService, {
      enroll: (call: ServerUnaryCall<EnrollRequest, EnrollResponse>, cb: sendUnaryData<EnrollResponse>) => {
        const { nodeName, csrPem } = call.request;
        const token = bearer(call.metadata.get('authorization')[0]?.toString()) ?? '';
        reply(
          this.log,
          `enrollment of ${JSON.stringify(nodeName.slice(0, 80))} from ${call.getPeer()}`,
          cb,
          this.certs.enroll(nodeName, csrPem, token).then((issued) => ({ certificate: answer(issued, this.fleetCa.caPem) })),
        );
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.env.enrollAddr, this.fleetCa.credentials(false), (err, p) => (err ? reject(new Error(`TRACEFLEET_ENROLL_ADDR=${this.env.enrollAddr}: ${err.message}`)) : resolve(p))),
    );
    this.server = server;
    this.boundAddress = this.env.enrollAddr.replace(/:\d+$/, `:${port}`);
    this.log.log(`enrollment listening on ${this.boundAddress} (TLS, bootstrap tokens)`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

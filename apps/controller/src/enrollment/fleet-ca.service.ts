import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ServerCredentials } from '@grpc/grpc-js';
import { checkPrivateFile, issueServerCert, loadCa, type FleetCa } from '@tracefleet/pki';
import { ENV, type ControllerEnv } from '../config/env';

/**
 * The fleet CA this controller signs node certificates with, and the controller's server certificate
 * (from files, or issued by the CA at each boot for the names agents dial). Loaded before anything
 * listens: a missing or loose key stops the controller, naming the variable.
 */
@Injectable()
export class FleetCaService implements OnModuleInit {
  private readonly log = new Logger(FleetCaService.name);
  private loaded: { ca: FleetCa; server: { certPem: string; keyPem: string } } | undefined;
  private loading: Promise<void> | undefined;

  constructor(@Inject(ENV) private readonly env: ControllerEnv) {}

  onModuleInit(): Promise<void> {
    return this.ready();
  }

  /** Loads once; the listeners await it before they bind, whatever order Nest initialises them in. */
  ready(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  private async load(): Promise<void> {
    const p = this.env.pki;
    const read = (file: string, name: string, secret: boolean): string => {
      try {
        if (secret) checkPrivateFile(file);
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new Error(`${name}=${file}: ${(err as Error).message}`);
      }
    };
    let ca: FleetCa;
    try {
      ca = await loadCa(read(p.caCertFile, 'TRACEFLEET_CA_CERT', false), read(p.caKeyFile, 'TRACEFLEET_CA_KEY', true));
    } catch (err) {
      throw new Error(`fleet CA: ${(err as Error).message}`);
    }
    const server =
      p.serverCertFile && p.serverKeyFile
        ? { certPem: read(p.serverCertFile, 'TRACEFLEET_GRPC_TLS_CERT', false), keyPem: read(p.serverKeyFile, 'TRACEFLEET_GRPC_TLS_KEY', true) }
        : await issueServerCert(ca, p.serverNames, 90);
    this.loaded = { ca, server };
    this.log.log(`fleet CA ${ca.cert.subject} (expires ${ca.cert.notAfter.toISOString()}); server certificate ${p.serverCertFile ? `from ${p.serverCertFile}` : `issued for ${p.serverNames.join(', ')}`}`);
  }

  get ca(): FleetCa {
    if (!this.loaded) throw new Error('the fleet CA is not loaded yet');
    return this.loaded.ca;
  }

  get caPem(): string {
    return this.ca.certPem;
  }

  /** SHA-256 (hex) of the CA certificate: which CA issued a stored node certificate. */
  get caFingerprint(): string {
    return createHash('sha256').update(Buffer.from(this.ca.cert.rawData)).digest('hex');
  }

  /**
   * TLS for a gRPC listener. `requireClientCert`: the agent link, where a node certificate chained to
   * the fleet CA is required in the handshake; enrollment has none yet.
   */
  credentials(requireClientCert: boolean): ServerCredentials {
    if (!this.loaded) throw new Error('the fleet CA is not loaded yet');
    const { certPem, keyPem } = this.loaded.server;
    return ServerCredentials.createSsl(Buffer.from(this.loaded.ca.certPem), [{ cert_chain: Buffer.from(certPem), private_key: Buffer.from(keyPem) }], requireClientCert);
  }
}

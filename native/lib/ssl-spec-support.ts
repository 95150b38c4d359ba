// Helpers for ssl.spec.ts: a C TLS client linked with the system's libssl.so.3, an HTTPS server in
// this process (Node links its own OpenSSL statically, and the tracer never traces its own process,
// so the server side adds no events), and where the return-path probe sites of SSL_read/SSL_write are.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { objectPath } from '@tracefleet/bpf';

import { OPENSSL_FUNCTIONS, SslTracer, functionOffsets, type SslFunctionName, type SslRawEvent, type SslStats, type SslTracerOptions } from './index';
import { compileC, tempDir, traceWhileWith } from './spec-support';
import { Target, requireFile } from './usdt-spec-support';

export const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
export const sslObject = (): string => objectPath('ssl');

/**
 * tfsslclient PORT PATH BODY_BYTES plain|ex OUT: prints "ready", waits for a line on stdin, then makes one
 * HTTPS request to 127.0.0.1:PORT with a single SSL_write (or SSL_write_ex) call: a GET of PATH, or a POST of
 * BODY_BYTES bytes when that is > 0. It reads the response with 16 KiB SSL_read (or SSL_read_ex) calls until
 * the server closes, writes what it sent to OUT.sent and what it received to OUT, and prints
 * "done <sent> <received>".
 */
export const TLS_CLIENT_SOURCE = `
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void save(const char *file, const char *data, size_t size) {
  FILE *f = fopen(file, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f)) { perror(file); exit(6); }
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: %s PORT PATH BODY_BYTES plain|ex OUT\\n", argv[0]); return 2; }
  int port = atoi(argv[1]), ex = strcmp(argv[4], "ex") == 0;
  const char *path = argv[2], *out = argv[5];
  long body = atol(argv[3]);
  char line[16], sentFile[4096];
  printf("ready\\n");
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin)) return 2;

  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) { perror("connect"); return 3; }
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) { ERR_print_errors_fp(stderr); return 4; }

  char *req = malloc(1024 + body);
  int n = body > 0
    ? snprintf(req, 1024, "POST %s HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\nContent-Length: %ld\\r\\n\\r\\n", path, body)
    : snprintf(req, 1024, "GET %s HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n", path);
  for (long i = 0; i < body; i++) req[n + i] = 'a' + (i * 7 + i / 26) % 26;
  size_t total = n + body;
  if (ex) {
    size_t written = 0;
    if (SSL_write_ex(ssl, req, total, &written) != 1 || written != total) { ERR_print_errors_fp(stderr); return 5; }
  } else if (SSL_write(ssl, req, (int)total) != (int)total) {
    ERR_print_errors_fp(stderr);
    return 5;
  }
  snprintf(sentFile, sizeof(sentFile), "%s.sent", out);
  save(sentFile, req, total);

  static char buf[16384];
  char *got = NULL;
  size_t received = 0;
  for (;;) {
    size_t r = 0;
    if (ex) {
      if (SSL_read_ex(ssl, buf, sizeof(buf), &r) != 1) break;
    } else {
      int k = SSL_read(ssl, buf, sizeof(buf));
      if (k <= 0) break;
      r = (size_t)k;
    }
    got = realloc(got, received + r);
    memcpy(got + received, buf, r);
    received += r;
  }
  save(out, got ? got : "", received);
  printf("done %zu %zu\\n", total, received);
  fflush(stdout);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return 0;
}
`;

/** Builds tfsslclient into dir; fails naming the Debian package when the OpenSSL headers are missing. */
export function buildClient(dir: string, name = 'tfsslclient'): string {
  requireFile('/usr/include/openssl/ssl.h', 'install libssl-dev (infra/setup.sh lists it) to build the TLS test client');
  requireFile(LIBSSL, 'install libssl3: the tests trace the system OpenSSL');
  return compileC(dir, name, TLS_CLIENT_SOURCE, ['-O1', '-g', '-fno-omit-frame-pointer'], ['-lssl', '-lcrypto']);
}

/** A throwaway self-signed certificate made with the openssl CLI. */
export function makeCertificate(dir: string): { key: Buffer; cert: Buffer } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], {
    stdio: ['ignore', 'ignore', 'pipe'], // its progress dots would clutter the test output; a failure carries them
  });
  return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
}

/** The body the server answers PATH with: the path itself (a unique marker), then `?size=N` bytes of digits. */
export function responseBody(url: string, requestBytes: number): string {
  const size = Number(new URL(url, 'https://localhost').searchParams.get('size') ?? 0);
  return `marker ${url} got ${requestBytes}\n${'0123456789'.repeat(Math.ceil(size / 10)).slice(0, size)}`;
}

export interface Server {
  port: number;
  close(): Promise<void>;
}

export async function startServer(credentials: { key: Buffer; cert: Buffer }): Promise<Server> {
  const server = https.createServer(credentials, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      const body = Buffer.from(responseBody(req.url ?? '/', bytes));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ClientRun {
  pid: number;
  sent: Buffer;
  received: Buffer;
}

/** A started tfsslclient waiting for go(); its pid is known before it touches TLS. */
export class Client {
  readonly target: Target;
  readonly out: string;

  constructor(binary: string, port: number, urlPath: string, opts: { body?: number; api?: 'plain' | 'ex'; out: string }) {
    this.out = opts.out;
    this.target = new Target(binary, [String(port), urlPath, String(opts.body ?? 0), opts.api ?? 'plain', opts.out], { stdin: true });
  }

  get pid(): number {
    return this.target.pid;
  }

  ready(): Promise<void> {
    return this.target.waitFor('ready');
  }

  /** Lets it make its request; resolves with what it sent and received once it exited. */
  async go(): Promise<ClientRun> {
    this.target.child.stdin!.end('go\n');
    await this.target.waitFor('done');
    assert.equal(await this.target.exited, 0, `${this.target.child.spawnfile} failed`);
    return { pid: this.pid, sent: fs.readFileSync(`${this.out}.sent`), received: fs.readFileSync(this.out) };
  }

  kill(): void {
    this.target.kill();
  }
}

/** What a describe() of real TLS clients needs: see useTlsFixture. */
export interface TlsFixture {
  readonly dir: string;
  /** the local HTTPS server (started in before()) */
  server(): Server;
  /** a tfsslclient for `urlPath` against the server (or `port`), with its own output file */
  newClient(urlPath: string, opts?: { body?: number; api?: 'plain' | 'ex'; port?: number }): Client;
}

/** A temp dir, the built client and a local HTTPS server, made in the calling describe()'s before() and removed in its after(). */
export function useTlsFixture(prefix: string): TlsFixture {
  const dir = tempDir(prefix);
  let client = '';
  let server: Server | undefined;
  let runs = 0;
  before(async () => {
    client = buildClient(dir);
    server = await startServer(makeCertificate(dir));
  });
  after(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const started = (): Server => server ?? assert.fail('the TLS server is started in before()');
  return {
    dir,
    server: started,
    newClient: (urlPath, opts = {}) => new Client(client, opts.port ?? started().port, urlPath, { body: opts.body, api: opts.api, out: path.join(dir, `out-${++runs}`) }),
  };
}

/** Entry offsets of the functions in libssl.so.3; fails naming any that is missing. */
export function sslOffsets(file = LIBSSL): Record<SslFunctionName, bigint> {
  const found = functionOffsets(file, [...OPENSSL_FUNCTIONS]);
  for (const name of OPENSSL_FUNCTIONS) assert.equal(typeof found[name], 'bigint', `${file} has no ${name}`);
  return found as Record<SslFunctionName, bigint>;
}

const hex = (bytes: Buffer): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

/**
 * Where a plain uprobe pair goes in OpenSSL 3.0's SSL_read/SSL_write (Debian 12 build): `test %edx,%edx; js`
 * with the arguments still in %rdi/%rsi/%rdx, and the stack-protector check's `sub %fs:0x28,%rdx; jne`,
 * which every return path passes with the return value in %eax. Both are jumps, which the kernel emulates
 * (a uprobe on the first instruction, `sub $0x18,%rsp`, is single-stepped). Fails, showing the bytes, when
 * the function does not have that shape.
 */
export function returnPathSites(file: string, offset: bigint): { entry: bigint; ret: bigint } {
  const fd = fs.openSync(file, 'r');
  const code = Buffer.alloc(128);
  try {
    fs.readSync(fd, code, 0, code.length, Number(offset));
  } finally {
    fs.closeSync(fd);
  }
  const shape = `${file} @0x${offset.toString(16)}: ${hex(code.subarray(0, 72))}`;
  assert.equal(hex(code.subarray(0, 4)), '48 83 ec 18', `not the expected prologue (sub $0x18,%rsp): ${shape}`);
  const js = code.indexOf(Buffer.from([0x85, 0xd2, 0x78])); // test %edx,%edx; js rel8
  const jne = code.indexOf(Buffer.from([0x64, 0x48, 0x2b, 0x14, 0x25, 0x28, 0, 0, 0, 0x75])); // sub %fs:0x28,%rdx; jne rel8
  assert.ok(js > 0 && jne > js, `no test/js entry site or stack-check jne return site: ${shape}`);
  const entry = js + 2;
  const ret = jne + 9;
  // Every path ends in the one `ret` right after the check: `add $0x18,%rsp; xor` x4; `ret`.
  const tail = code.subarray(ret + 2, ret + 15);
  assert.equal(hex(tail), '48 83 c4 18 31 d2 31 c9 31 f6 31 ff c3', `the jne at +${ret} is not followed by the only return: ${shape}`);
  return { entry: offset + BigInt(entry), ret: offset + BigInt(ret) };
}

/** Traces while `during` runs, then stops and closes; returns every event with the final stats. */
export function traceWhile(
  opts: Omit<SslTracerOptions, 'onEvents' | 'objectPath'>,
  during: (tracer: SslTracer) => Promise<void>,
): Promise<{ events: SslRawEvent[]; stats: SslStats }> {
  return traceWhileWith<SslRawEvent, SslStats, SslTracer>((onEvents) => new SslTracer({ objectPath: sslObject(), ...opts, onEvents }), during);
}

/** The data of one process's events of the given functions, in order, with a read's 0/-1 end left out. */
export function stream(events: SslRawEvent[], pid: number, fns: SslFunctionName[]): Buffer {
  return Buffer.concat(events.filter((e) => e.pid === pid && fns.includes(e.fn) && e.length > 0).map((e) => e.data));
}

/**
 * Ports for the servers the tests start (controllers, Redis, TLS twins, metrics endpoints).
 *
 * A port handed out here is listened on by another process a moment later. Asking the kernel for port 0 and
 * closing it (what this did before) hands out a port from the ephemeral range, which the kernel also gives to
 * every outgoing connection on the machine: CI once saw a controller's listen fail with EADDRINUSE because a
 * connection (to PostgreSQL, Redis, ...) took its port in between. So the ports come from below that range, where
 * connect() never picks, each checked free by binding it on every address, and never handed out twice by one
 * process (two calls before the first port is bound would otherwise be able to agree).
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The lowest port handed out; below are well-known and registered services' usual ports. */
const LOWEST = 10_000;
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range), 32768 when it cannot be read. */
export function ephemeralLow(text?: string): number {
  let raw = text;
  if (raw === undefined) {
    try {
      raw = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    } catch {
      return 32_768;
    }
  }
  const low = Number(raw.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > 0 && low <= 65_535 ? low : 32_768;
}

/** Resolves true when `port` can be bound on every address (nothing listens on it, on any address). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '0.0.0.0', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A free TCP port below the ephemeral range that this process has not handed out before. */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  if (high - LOWEST < 1_000) throw new Error(`the ephemeral port range starts at ${high}: too low to keep test servers' ports out of it (net.ipv4.ip_local_port_range)`);
  for (let tries = 0; tries < 500; tries++) {
    const port = randomInt(LOWEST, high);
    if (handedOut.has(port)) continue;
    if (!(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${high} in 500 tries`);
}

/** True when a server's output says its listen failed because the address was taken. */
export function addressTaken(output: string): boolean {
  return /EADDRINUSE|address already in use/i.test(output);
}

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { objectPath } from '@tracefleet/bpf';

import { TcpTracer, layouts, type TcpRawConnection, type TcpStats, type TcpTracerOptions } from './index';
import { Target, ownBpfFds } from './usdt-spec-support';

/**
 * A loopback server and client in one process (comm tf-tcp-pair): the client connects after argv[4] ms, sends
 * argv[1] bytes, the server answers argv[2] bytes, the client holds argv[3] ms and closes; prints the ports.
 */
const PAIR = `
process.title = 'tf-tcp-pair';
const net = require('node:net');
const [cb, sb, hold, delay] = process.argv.slice(1, 5).map(Number);
const host = process.argv[5] || '127.0.0.1';
let closed = 0, cport = 0, sport = 0;
const done = () => { if (++closed === 2) { console.log('done ' + cport + ' ' + sport); setTimeout(() => process.exit(0), 50); } };
const server = net.createServer((s) => {
  let got = 0;
  s.on('data', (d) => { got += d.length; if (got === cb) s.write(Buffer.alloc(sb)); });
  s.on('end', () => s.end());
  s.on('close', () => { server.close(); done(); });
});
server.listen(0, host, () => setTimeout(() => {
  sport = server.address().port;
  const c = net.connect(server.address().port, host, () => { cport = c.localPort; c.write(Buffer.alloc(cb)); });
  let got = 0;
  c.on('data', (d) => { got += d.length; if (got === sb) setTimeout(() => c.end(), hold); });
  c.on('close', () => done());
}, delay));
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Traced {
  connections: TcpRawConnection[];
  stats: TcpStats;
  pid: number;
  ports: [number, number];
}

/** Traces one pair run (client 5000 B, server 3000 B, hold 300 ms) with the options built from its pid. */
async function tracePair(opts: (pid: number) => Omit<TcpTracerOptions, 'objectPath' | 'onEvents' | 'maxEvents'> = () => ({}), host = '127.0.0.1'): Promise<Traced> {
  const target = new Target(process.execPath, ['-e', PAIR, '5000', '3000', '300', '400', host]);
  const connections: TcpRawConnection[] = [];
  let tracer: TcpTracer | undefined;
  try {
    tracer = new TcpTracer({ objectPath: objectPath('tcp'), maxEvents: 1000, onEvents: (c) => connections.push(...c), ...opts(target.pid) });
    tracer.start();
    await target.waitFor('done');
    await sleep(100);
    const stats = await tracer.stop();
    const [, c, s] = target.output.trim().split(' ').map(Number);
    return { connections, stats, pid: target.pid, ports: [c, s] };
  } finally {
    tracer?.close();
    target.kill();
    await target.exited;
  }
}

const mine = (t: Traced) => t.connections.filter((c) => c.pid === t.pid);

describe('TcpTracer (tp_btf sock:inet_sock_set_state, real kernel)', () => {
  test('the addon and tcp.h agree on the event layout', () => {
    const l = layouts().tcp;
    assert.equal(l.size, 104);
    assert.equal(l.sockInfoSize, 48);
    assert.equal(l.histSize, 28 * 8);
    assert.deepEqual(l.offsets, { start_ns: 0, end_ns: 8, connect_ns: 16, rx_bytes: 24, tx_bytes: 32, saddr: 40, daddr: 56, pid: 72, sport: 76, dport: 78, family: 80, active: 82, pid_source: 83, comm: 84 });
    assert.equal(l.TCP_SLOTS, 27);
    assert.equal(l.TCP_MAX_PORTS, 8);
  });

  test('a loopback connection: both sides, with pid, comm, addresses, ports, bytes, lifetime and connect latency', async () => {
    const t = await tracePair((pid) => ({ pid }));
    const [clientPort, serverPort] = t.ports;
    const rows = mine(t);
    assert.equal(rows.length, 2, JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
    const client = rows.find((r) => r.active)!;
    const server = rows.find((r) => !r.active)!;
    for (const r of rows) {
      assert.equal(r.comm, 'tf-tcp-pair');
      assert.equal(r.family, 4);
      assert.equal(r.saddr, '127.0.0.1');
      assert.equal(r.daddr, '127.0.0.1');
    }
    assert.deepEqual([client.sport, client.dport, server.sport, server.dport], [clientPort, serverPort, serverPort, clientPort]);
    assert.equal(client.pidSource, 'connect');
    assert.equal(server.pidSource, 'close', 'the accepted socket is named by the task that closed it');
    // bytes_acked / bytes_received count sequence space: the data plus the FIN.
    assert.ok(client.txBytes >= 5000n && client.txBytes <= 5002n, `client tx ${client.txBytes}`);
    assert.ok(client.rxBytes >= 3000n && client.rxBytes <= 3002n, `client rx ${client.rxBytes}`);
    assert.ok(server.rxBytes >= 5000n && server.rxBytes <= 5002n, `server rx ${server.rxBytes}`);
    const lifeMs = Number(client.endNs - client.startNs) / 1e6;
    assert.ok(lifeMs >= 300 && lifeMs < 2000, `client lifetime ${lifeMs} ms (held 300 ms)`);
    assert.ok(client.connectNs > 0n && client.connectNs < 100_000_000n, `connect ${client.connectNs} ns`);
    assert.equal(server.connectNs, 0n);
    assert.equal(t.stats.connects, 1n, 'one active connect in the histogram');
    assert.equal(t.stats.connectSlots.reduce((a, b) => a + b, 0n), 1n);
    assert.equal(t.stats.connectTotalNs, client.connectNs);
    assert.equal(t.stats.closed, 2n);
    assert.equal(t.stats.kernelDrops + t.stats.overBudget + t.stats.noStart, 0n);
  });

  test('filters: another pid, another comm, a port not used and IPv6 only see nothing; the server port and the comm see both', async () => {
    assert.equal((await tracePair(() => ({ pid: process.pid }))).connections.length, 0, 'pid');
    assert.equal((await tracePair(() => ({ comm: 'not-the-pair' }))).connections.length, 0, 'comm');
    assert.equal(mine(await tracePair(() => ({ ports: [1] }))).length, 0, 'port');
    assert.equal(mine(await tracePair(() => ({ family: 6 }))).length, 0, 'family');
    const byComm = await tracePair(() => ({ comm: 'tf-tcp-pair' }));
    assert.equal(byComm.connections.length, 2);
    assert.ok(byComm.connections.every((c) => c.pid === byComm.pid));
  });

  test('IPv6: ::1 on both sides, family 6; an IPv4-only tracer sees nothing of it', async () => {
    const t = await tracePair((pid) => ({ pid }), '::1');
    assert.equal(t.connections.length, 2);
    for (const c of t.connections) assert.deepEqual([c.family, c.saddr, c.daddr], [6, '::1', '::1']);
    assert.equal(t.stats.connects, 1n);
    assert.equal((await tracePair((pid) => ({ pid, family: 4 }), '::1')).connections.length, 0);
  });

  test('maxEvents 1: the second connection is counted, not streamed', async () => {
    const t = await tracePair((pid) => ({ pid, maxEvents: 1 }) as never);
    assert.equal(t.connections.length, 1);
    assert.equal(t.stats.closed, 2n);
    assert.equal(t.stats.overBudget, 1n);
  });

  test('bad options are TypeErrors naming the option', () => {
    const base = { objectPath: objectPath('tcp'), maxEvents: 1, onEvents: () => undefined };
    const cases: [object, RegExp][] = [
      [{ ports: [0] }, /ports\[0\]/],
      [{ ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, /ports/],
      [{ family: 5 }, /family/],
      [{ comm: 'x'.repeat(16) }, /comm/],
      [{ maxSockets: 1 }, /maxSockets/],
      [{ maxEvents: -1 }, /maxEvents/],
      [{ nope: 1 }, /nope/],
    ];
    for (const [over, re] of cases) assert.throws(() => new TcpTracer({ ...base, ...over } as TcpTracerOptions), (e: Error) => e instanceof TypeError && re.test(e.message));
  });

  test('close() leaves no BPF program, map or link behind', async () => {
    const before = ownBpfFds();
    const tracer = new TcpTracer({ objectPath: objectPath('tcp'), maxEvents: 1, onEvents: () => undefined });
    tracer.start();
    await tracer.stop();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
  });
});

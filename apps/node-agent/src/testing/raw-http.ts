import { connect } from 'node:net';

/**
 * For specs and the e2e: sends one raw HTTP request (fetch would normalize the path and refuse a huge
 * header) to 127.0.0.1:port and resolves with the whole answer as latin1 text, once the server closes
 * or `giveUpMs` has passed.
 */
export function rawHttp(port: number, request: string | Buffer, giveUpMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', (err) => (out ? resolve(out) : reject(err)));
    s.on('close', () => resolve(out));
    s.write(request, () => undefined);
    setTimeout(() => s.destroy(), giveUpMs).unref();
  });
}

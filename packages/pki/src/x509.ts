// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
export const subtle = webcrypto.subtle as unknown as SubtleCrypto;

/** Every key of the fleet: ECDSA P-256 with SHA-256 (small, fast, accepted by every TLS stack grpc-js uses). */
export const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function generateKeys(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const [der] = x509.PemConverter.decode(pem);
  if (!der) throw new Error('no PEM block in the private key');
  return subtle.importKey('pkcs8', der, KEY_ALG, false, ['sign']);
}

/** A certificate serial: 16 random bytes, first byte in 0x40..0x7f (positive, no leading zero digit), as lower-case hex. */
export function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x3f) | 0x40;
  return Buffer.from(b).toString('hex');
}

/** The serial of a certificate as the fleet stores it: lower-case hex without leading zeros. */
export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  if (!/^[0-9a-f]{1,40}$/.test(s)) throw new Error('certificate serial is not 1-20 bytes of hex');
  return s;
}

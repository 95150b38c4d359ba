// How an agent's function ids become stored names, directions and libraries: OpenSSL's and GnuTLS's,
// and ids no agent should send.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SslDirection, SslFunction } from '@tracefleet/proto';
import { directionOf, SSL_FUNCTION_NAMES } from './ssl.service';
import { tlsLibraryOf } from './event-view';

describe('TLS functions of the events', () => {
  it('names each function the agent sends, with its direction and library', () => {
    const cases: [SslFunction, string, 'read' | 'write' | 'handshake', string][] = [
      [SslFunction.SSL_FUNCTION_READ, 'SSL_read', 'read', 'openssl'],
      [SslFunction.SSL_FUNCTION_WRITE_EX, 'SSL_write_ex', 'write', 'openssl'],
      [SslFunction.SSL_FUNCTION_DO_HANDSHAKE, 'SSL_do_handshake', 'handshake', 'openssl'],
      [SslFunction.SSL_FUNCTION_GNUTLS_RECORD_RECV, 'gnutls_record_recv', 'read', 'gnutls'],
      [SslFunction.SSL_FUNCTION_GNUTLS_RECORD_SEND, 'gnutls_record_send', 'write', 'gnutls'],
      [SslFunction.SSL_FUNCTION_GO_TLS_READ, 'crypto/tls.(*Conn).Read', 'read', 'go'],
      [SslFunction.SSL_FUNCTION_GO_TLS_WRITE, 'crypto/tls.(*Conn).Write', 'write', 'go'],
    ];
    for (const [fn, name, dir, lib] of cases) {
      assert.equal(SSL_FUNCTION_NAMES[fn], name);
      // An agent that leaves the direction out gets it from the function.
      assert.equal(directionOf({ function: fn, direction: SslDirection.SSL_DIRECTION_UNSPECIFIED }), dir, name);
      assert.equal(tlsLibraryOf(name), lib);
    }
  });

  it('an id no agent should send has no name, no direction, and no library', () => {
    assert.equal(SSL_FUNCTION_NAMES[99], undefined);
    assert.equal(directionOf({ function: 99 as SslFunction, direction: SslDirection.SSL_DIRECTION_UNSPECIFIED }), undefined);
    assert.equal(tlsLibraryOf('function#99'), 'unknown');
    assert.equal(tlsLibraryOf(''), 'unknown');
    // The direction the agent states wins over the function's.
    assert.equal(directionOf({ function: SslFunction.SSL_FUNCTION_GNUTLS_RECORD_RECV, direction: SslDirection.SSL_DIRECTION_WRITE }), 'write');
  });
});

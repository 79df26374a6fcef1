import { describe, expect, it } from 'vitest';
import { responseFlags } from './diagnostics.js';
import { HboneError } from './errors.js';
import { http2Settings, resolveHttp2, resolveKeepalive, tlsVersionOptions } from './options.js';

describe('options', () => {
  it("defaults to ztunnel's HTTP/2 settings", () => {
    expect(resolveHttp2('client')).toEqual({
      streamWindowSize: 4 * 1024 * 1024,
      connectionWindowSize: 16 * 1024 * 1024,
      maxFrameSize: 1024 * 1024,
      maxHeaderListSize: 16 * 1024,
      maxConcurrentStreams: 100,
      maxSessionMemoryMiB: 32,
    });
    const server = resolveHttp2('server');
    expect(server.maxHeaderListSize).toBe(64 * 1024);
    expect(http2Settings('server', server)).toMatchObject({
      maxConcurrentStreams: 200,
      enablePush: false,
      initialWindowSize: 4 * 1024 * 1024,
    });
    expect(http2Settings('client', resolveHttp2('client'))).not.toHaveProperty('maxConcurrentStreams');
    expect(resolveKeepalive()).toEqual({ intervalMs: 10_000, timeoutMs: 20_000 });
  });

  it('rejects out-of-range values', () => {
    for (const bad of [
      { maxFrameSize: 1000 },
      { streamWindowSize: 2 ** 31 },
      { connectionWindowSize: 1.5 },
      { maxConcurrentStreams: 0 },
    ])
      expect(() => resolveHttp2('client', bad)).toThrow(expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }));
    expect(() => resolveKeepalive({ intervalMs: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
    expect(() => resolveKeepalive({ timeoutMs: Infinity })).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
  });

  it('is TLS 1.3 with AES-GCM only unless TLS 1.2 is allowed', () => {
    expect(tlsVersionOptions()).toEqual({
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256',
      ecdhCurve: 'X25519:P-256:P-384',
    });
    expect(tlsVersionOptions({ allowTls12: true }).minVersion).toBe('TLSv1.2');
    expect(tlsVersionOptions({ allowTls12: true }).ciphers).toContain('ECDHE-ECDSA-AES256-GCM-SHA384');
  });
});

describe('responseFlags', () => {
  const err = (code: ConstructorParameters<typeof HboneError>[0], details?: Record<string, unknown>) =>
    new HboneError(code, 'x', details ? { details } : {});
  it("maps outcomes to Istio's response_flags", () => {
    expect(responseFlags({})).toBe('-');
    expect(responseFlags({ status: 401 })).toBe('DENY');
    expect(responseFlags({ error: err('ERR_HBONE_REFUSED', { status: 503 }) })).toBe('CONNECT');
    expect(responseFlags({ error: err('ERR_HBONE_CONNECT_FAILED') })).toBe('CONNECT');
    expect(responseFlags({ error: err('ERR_HBONE_TIMEOUT', { phase: 'connect' }) })).toBe('NETWORK_POLICY');
    expect(responseFlags({ error: err('ERR_HBONE_TIMEOUT', { phase: 'upstream' }) })).toBe('CONNECT');
    expect(responseFlags({ error: err('ERR_HBONE_HANDSHAKE_FAILED', { phase: 'tls' }) })).toBe('TLS_FAILURE');
    expect(responseFlags({ error: err('ERR_HBONE_HANDSHAKE_FAILED', { phase: 'http2' }) })).toBe(
      'H2_HANDSHAKE_FAILURE',
    );
    expect(responseFlags({ error: err('ERR_HBONE_UNTRUSTED_PEER') })).toBe('TLS_FAILURE');
    expect(responseFlags({ error: err('ERR_HBONE_IDENTITY_MISMATCH') })).toBe('IDENTITY_ERROR');
    expect(responseFlags({ error: err('ERR_HBONE_RESET') })).toBe('-');
  });
});

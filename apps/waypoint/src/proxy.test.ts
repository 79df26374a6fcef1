import { describe, expect, it } from 'vitest';
import { detectProtocol, upstreamProtocol } from './proxy.js';
import { propagationHeaders, traceContext } from './telemetry.js';

describe('protocol detection on the tunneled bytes', () => {
  it('tells HTTP/2 prior knowledge, HTTP/1.1 and opaque TCP apart, and waits when it cannot tell yet', () => {
    expect(detectProtocol(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00'))).toBe('http2');
    expect(detectProtocol(Buffer.from('PRI * HTTP/2'))).toBeNull();
    expect(detectProtocol(Buffer.from('GET /x HTTP/1.1\r\nhost: a\r\n\r\n'))).toBe('http1');
    expect(detectProtocol(Buffer.from('DELETE /x HTTP/1.1\r\n'))).toBe('http1');
    expect(detectProtocol(Buffer.from('GE'))).toBeNull();
    expect(detectProtocol(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))).toBe('tcp'); // a TLS ClientHello
    expect(detectProtocol(Buffer.from('\x00\x00\x00\x0bhello-redis-ish-binary'))).toBe('tcp');
  });
});

describe('trace context', () => {
  it('continues a W3C trace with a new span of ours, and sends both W3C and B3 upstream', () => {
    const ctx = traceContext({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(ctx).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      sampled: true,
    });
    expect(ctx.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(ctx.spanId).not.toBe('b7ad6b7169203331');
    expect(propagationHeaders(ctx)).toEqual({
      traceparent: `00-0af7651916cd43dd8448eb211c80319c-${ctx.spanId}-01`,
      'x-b3-traceid': '0af7651916cd43dd8448eb211c80319c',
      'x-b3-spanid': ctx.spanId,
      'x-b3-parentspanid': 'b7ad6b7169203331',
      'x-b3-sampled': '1',
    });
  });

  it('reads B3 (multi and single header, 64-bit ids widened) and honours not-sampled', () => {
    expect(
      traceContext({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '0' }),
    ).toMatchObject({
      traceId: '0000000000000000463ac35c9f6413ad',
      parentSpanId: 'a2fb4a1d1a96d312',
      sampled: false,
    });
    expect(traceContext({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' })).toMatchObject({
      traceId: '80f198ee56343ba864fe8b2a57d3eff7',
      parentSpanId: 'e457b5a2e4d86bd1',
      sampled: true,
    });
  });

  it('starts a new sampled trace when the request carries none or an invalid one', () => {
    for (const headers of [
      {},
      { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' },
      { traceparent: 'junk' },
    ]) {
      const ctx = traceContext(headers);
      expect(ctx.parentSpanId).toBeNull();
      expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(ctx.traceId).not.toMatch(/^0+$/);
    }
  });
});

describe('upstream HTTP version', () => {
  const pool = { h2UpgradePolicy: 'DEFAULT', useClientProtocol: false };
  it("follows the port's declared protocol, else the client's, as Istio configures a cluster", () => {
    expect(upstreamProtocol({ port: 81, targetPort: 81, name: 'grpc' }, 'http1', pool)).toBe('http2');
    expect(upstreamProtocol({ port: 81, targetPort: 81, protocol: 'HTTP2' }, 'http1', pool)).toBe('http2');
    expect(upstreamProtocol({ port: 80, targetPort: 80, name: 'http-web' }, 'http2', pool)).toBe('http1');
    expect(upstreamProtocol({ port: 80, targetPort: 80 }, 'http2', pool)).toBe('http2');
    expect(upstreamProtocol({ port: 80, targetPort: 80 }, 'http1', pool)).toBe('http1');
    expect(
      upstreamProtocol({ port: 80, targetPort: 80, name: 'http' }, 'http1', { ...pool, h2UpgradePolicy: 'UPGRADE' }),
    ).toBe('http2');
    expect(
      upstreamProtocol({ port: 81, targetPort: 81, name: 'grpc' }, 'http1', { ...pool, useClientProtocol: true }),
    ).toBe('http1');
  });
});

import { describe, expect, it } from 'vitest';
import { decodeProxyV2, encodeProxyV2 } from './proxy-protocol.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('PROXY protocol v2', () => {
  it('encodes IPv4 with the identity TLV exactly (haproxy proxy-protocol.txt §2.2)', () => {
    const header = encodeProxyV2({
      source: { address: '10.0.0.1', port: 41234 },
      destination: { address: '10.0.0.2', port: 8080 },
      identity: 'spiffe://td/ns/a/sa/b',
    });
    // signature, v2 PROXY, TCP4, length 12 + 3 + 21
    expect(hex(header.subarray(0, 16))).toBe('0d0a0d0a000d0a515549540a' + '21' + '11' + '0024');
    expect(hex(header.subarray(16, 28))).toBe('0a000001' + '0a000002' + 'a112' + '1f90');
    expect(header[28]).toBe(0xd0);
    expect(Buffer.from(header.subarray(31)).toString()).toBe('spiffe://td/ns/a/sa/b');
    expect(decodeProxyV2(header)).toMatchObject({
      length: header.length,
      command: 'proxy',
      source: { address: '10.0.0.1', port: 41234 },
      destination: { address: '10.0.0.2', port: 8080 },
      identity: 'spiffe://td/ns/a/sa/b',
    });
  });

  it('uses IPv6 (v4-mapped) when the families differ, and carries the hostname TLV', () => {
    const header = encodeProxyV2({
      source: { address: '10.0.0.1', port: 1 },
      destination: { address: 'fd00::2', port: 2 },
      serviceHostname: 'reviews.bookinfo.svc.cluster.local',
      tlvs: [{ type: 0xe0, value: Uint8Array.of(1, 2) }],
    });
    expect(header[13]).toBe(0x21);
    const decoded = decodeProxyV2(Buffer.concat([header, Buffer.from('payload')]))!;
    expect(decoded.source).toEqual({ address: '::ffff:10.0.0.1', port: 1 });
    expect(decoded.destination).toEqual({ address: 'fd00::2', port: 2 });
    expect(decoded.serviceHostname).toBe('reviews.bookinfo.svc.cluster.local');
    expect(decoded.tlvs).toEqual([{ type: 0xe0, value: Uint8Array.of(1, 2) }]);
    expect(decoded.length).toBe(header.length);
  });

  it('asks for more bytes, and rejects what is not PROXY v2', () => {
    const header = encodeProxyV2({
      source: { address: '1.1.1.1', port: 1 },
      destination: { address: '2.2.2.2', port: 2 },
    });
    expect(decodeProxyV2(header.subarray(0, 10))).toBeUndefined();
    expect(decodeProxyV2(header.subarray(0, 20))).toBeUndefined();
    expect(() => decodeProxyV2(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(
      expect.objectContaining({ code: 'ERR_HBONE_BAD_OPTIONS' }),
    );
    expect(() =>
      encodeProxyV2({ source: { address: 'x', port: 1 }, destination: { address: '2.2.2.2', port: 2 } }),
    ).toThrow();
    expect(() =>
      encodeProxyV2({ source: { address: '1.1.1.1', port: 70000 }, destination: { address: '2.2.2.2', port: 2 } }),
    ).toThrow();
  });
});

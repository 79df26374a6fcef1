import { describe, expect, it } from 'vitest';
import { seededRng } from '@mesh/core';
import {
  buildConnectHeaders,
  buildConnectResponse,
  canonicalIp,
  checkHeaderName,
  decodeConnectResponse,
  formatBaggage,
  formatForwarded,
  formatTraceparent,
  newTraceparent,
  parseBaggage,
  parseBaggageEntries,
  parseForwarded,
  parseTraceparent,
  toAuthority,
  tryParseAuthority,
} from './headers.js';

const bad = (code: string) => expect.objectContaining({ code });

describe('IP addresses', () => {
  it('canonicalises IPv4 and IPv6 and rejects the rest', () => {
    expect(canonicalIp('10.0.0.1')).toEqual({ kind: 'ipv4', address: '10.0.0.1' });
    expect(canonicalIp('0:0:0:0:0:0:0:1')).toEqual({ kind: 'ipv6', address: '::1' });
    expect(canonicalIp('::')).toEqual({ kind: 'ipv6', address: '::' });
    expect(canonicalIp('1::')).toEqual({ kind: 'ipv6', address: '1::' });
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toEqual({ kind: 'ipv6', address: '2001:db8:0:1:1:1:1:1' });
    for (const bad of ['', ':::', '1:2', '1.2.3', '1.2.3.4.5', 'g::1', '::1.2.3', '1:2:3:4:5:6:7:8:9', 'x'])
      expect(canonicalIp(bad)).toBeUndefined();
  });

  it('accepts { host, port } and bracketed hosts', () => {
    expect(toAuthority({ host: '::1', port: 80 })).toEqual({ host: '::1', port: 80, kind: 'ipv6' });
    expect(toAuthority({ host: '[::1]', port: 80 })).toEqual({ host: '::1', port: 80, kind: 'ipv6' });
    expect(tryParseAuthority('nope')).toBeUndefined();
    expect(() => toAuthority({ host: '10.0.0.1', port: 0 })).toThrow(bad('ERR_HBONE_BAD_AUTHORITY'));
    expect(() => toAuthority({ host: 'not a host', port: 1 })).toThrow(bad('ERR_HBONE_BAD_AUTHORITY'));
  });
});

describe('forwarded', () => {
  it('quotes for= always and other values only when needed, and round-trips', () => {
    const value = formatForwarded([{ for: '10.0.0.1:5', host: 'a.b', proto: 'h2 c', ext: 'x"y' }, { by: 'z' }]);
    expect(value).toBe('for="10.0.0.1:5";host=a.b;proto="h2 c";ext="x\\"y", by=z');
    expect(parseForwarded(value)).toEqual([{ for: '10.0.0.1:5', host: 'a.b', proto: 'h2 c', ext: 'x"y' }, { by: 'z' }]);
  });

  it('rejects what cannot be sent', () => {
    expect(() => formatForwarded({})).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => formatForwarded({ for: 'a\nb' })).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => formatForwarded({ 'bad name': 'x' })).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => parseForwarded('x'.repeat(9000))).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => parseForwarded('for="x')).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => parseForwarded('for=x y')).toThrow(bad('ERR_HBONE_BAD_HEADER'));
  });
});

describe('baggage', () => {
  it('formats in ztunnel order and round-trips through the parser', () => {
    const b = {
      clusterName: 'c',
      namespace: 'ns',
      workloadName: 'w',
      workloadType: 'job' as const,
      serviceName: 's',
      serviceVersion: 'v',
      region: 'r',
      zone: 'z',
    };
    const value = formatBaggage(b);
    expect(value).toBe(
      'k8s.cluster.name=c,k8s.namespace.name=ns,k8s.job.name=w,service.name=s,service.version=v,cloud.region=r,cloud.availability_zone=z',
    );
    expect(parseBaggage(value)).toEqual(b);
    expect(formatBaggage({})).toBe('');
  });

  it('percent-encodes what W3C baggage values cannot carry', () => {
    const value = formatBaggage({ serviceName: 'a b,c;d%é' });
    expect(value).toBe('service.name=a%20b%2Cc%3Bd%25%C3%A9');
    expect(parseBaggage(value).serviceName).toBe('a b,c;d%é');
    expect(parseBaggageEntries('k=%E0%A4%A')).toEqual([['k', '%E0%A4%A']]);
  });

  it('rejects unknown workload types when formatting', () => {
    expect(() => formatBaggage({ workloadName: 'x', workloadType: 'statefulset' as never })).toThrow(
      bad('ERR_HBONE_BAD_HEADER'),
    );
  });

  it('reads at most 180 members', () => {
    expect(parseBaggageEntries(Array.from({ length: 500 }, (_, i) => `k${i}=v`).join(','))).toHaveLength(180);
  });
});

describe('traceparent', () => {
  it('makes random, valid traceparents (seedable)', () => {
    const a = newTraceparent(seededRng(1));
    const b = newTraceparent(seededRng(1));
    expect(a).toEqual(b);
    expect(parseTraceparent(formatTraceparent(a))).toEqual(a);
    const c = newTraceparent();
    expect(formatTraceparent(c)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(c.traceId).not.toBe(newTraceparent().traceId);
  });

  it('refuses to format invalid ones', () => {
    const ok = { version: 0, traceId: 'a'.repeat(32), parentId: 'b'.repeat(16), flags: 0 };
    expect(() => formatTraceparent({ ...ok, traceId: '0'.repeat(32) })).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => formatTraceparent({ ...ok, parentId: 'B'.repeat(16) })).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => formatTraceparent({ ...ok, version: 255 })).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(() => formatTraceparent({ ...ok, flags: 256 })).toThrow(bad('ERR_HBONE_BAD_HEADER'));
    expect(parseTraceparent(['a', 'b'])).toBeUndefined();
  });
});

describe('CONNECT request and response', () => {
  it('adds extra headers after the HBONE ones and validates them', () => {
    expect(buildConnectHeaders({ authority: '10.0.0.1:80', extra: { 'x-istio-source': 'waypoint' } })).toEqual({
      ':method': 'CONNECT',
      ':authority': '10.0.0.1:80',
      'x-istio-source': 'waypoint',
    });
    for (const name of ['Upper', ':path', 'connection', 'te', 'with space'])
      expect(() => buildConnectHeaders({ authority: '10.0.0.1:80', extra: { [name]: 'x' } })).toThrow(
        bad('ERR_HBONE_BAD_HEADER'),
      );
    expect(() => buildConnectHeaders({ authority: '10.0.0.1:80', extra: { baggage: 'x' } })).toThrow(
      bad('ERR_HBONE_BAD_HEADER'),
    );
    expect(() => buildConnectHeaders({ authority: '10.0.0.1:80', extra: { 'x-a': 'a\r\nb' } })).toThrow(
      bad('ERR_HBONE_BAD_HEADER'),
    );
    expect(() => buildConnectHeaders({ authority: '10.0.0.1:80', traceparent: 'nope' })).toThrow(
      bad('ERR_HBONE_BAD_HEADER'),
    );
    expect(() => buildConnectHeaders({ authority: '10.0.0.1:80', forwardedNetwork: '' })).toThrow(
      bad('ERR_HBONE_BAD_HEADER'),
    );
    expect(() => buildConnectHeaders({ authority: 'x' })).toThrow(bad('ERR_HBONE_BAD_AUTHORITY'));
    expect(checkHeaderName('x-ok')).toBe('x-ok');
    expect(buildConnectHeaders({ authority: '10.0.0.1:80', baggage: {} })).not.toHaveProperty('baggage');
  });

  it('builds and decodes responses', () => {
    expect(() => buildConnectResponse({ status: 99 })).toThrow(bad('ERR_HBONE_BAD_OPTIONS'));
    expect(buildConnectResponse({ status: 503, extra: { 'x-why': 'down' } })).toEqual({
      ':status': 503,
      'x-why': 'down',
    });
    expect(decodeConnectResponse({ ':status': 200, baggage: 'service.name=r' })).toMatchObject({
      status: 200,
      baggage: { serviceName: 'r' },
    });
    expect(decodeConnectResponse({}).status).toBe(0);
  });
});

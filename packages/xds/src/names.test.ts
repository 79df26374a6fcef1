import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import {
  addressAliases,
  addressResourceName,
  formatIp,
  istioNodeId,
  parseIstioNodeId,
  serviceResourceName,
} from './names.js';

const v6 = (text: string) => {
  // Expand a full, uncompressed IPv6 text form into bytes (test helper).
  const groups = text.split(':').map((g) => Number.parseInt(g, 16));
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
};

describe('formatIp', () => {
  it('writes IPv4 dotted', () => {
    expect(formatIp(Uint8Array.of(10, 0, 0, 7))).toBe('10.0.0.7');
  });

  it.each([
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // the longest zero run is compressed
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs
    ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'], // a single zero group stays
    ['fe80:0:0:0:abcd:ef00:0:0', 'fe80::abcd:ef00:0:0'],
    ['0:0:0:0:0:ffff:a00:1', '::ffff:10.0.0.1'], // IPv4-mapped, as Go's netip writes it
  ])('writes %s as %s (RFC 5952)', (full, expected) => {
    expect(formatIp(v6(full))).toBe(expected);
  });

  it('rejects other lengths', () => {
    expect(() => formatIp(Uint8Array.of(1, 2, 3))).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_INVALID_RESOURCE')),
    );
  });
});

describe('Address names and aliases (istiod)', () => {
  it('names a workload by uid and aliases it by network/ip', () => {
    const address = {
      workload: {
        uid: 'Kubernetes//Pod/ns/p',
        network: 'net1',
        addresses: [Uint8Array.of(10, 0, 0, 1), v6('2001:db8:0:0:0:0:0:1')],
      },
    } as never;
    expect(addressResourceName(address)).toBe('Kubernetes//Pod/ns/p');
    expect(addressAliases(address)).toEqual(['net1/10.0.0.1', 'net1/2001:db8::1']);
  });

  it('names a service namespace/hostname and aliases its VIPs', () => {
    const address = {
      service: {
        namespace: 'ns',
        hostname: 'r.ns.svc.cluster.local',
        addresses: [{ network: '', address: Uint8Array.of(10, 96, 0, 1) }],
      },
    } as never;
    expect(addressResourceName(address)).toBe('ns/r.ns.svc.cluster.local');
    expect(serviceResourceName({ namespace: 'a', hostname: 'b' })).toBe('a/b');
    expect(addressAliases(address)).toEqual(['/10.96.0.1']);
  });

  it('gives an empty Address no name', () => {
    expect(addressResourceName({} as never)).toBe('');
    expect(addressAliases({} as never)).toEqual([]);
  });
});

describe('Istio node ids', () => {
  it('builds and parses the ztunnel form', () => {
    const id = istioNodeId({ type: 'ztunnel', ip: '10.0.0.5', podName: 'ztunnel-x', namespace: 'istio-system' });
    expect(id).toBe('ztunnel~10.0.0.5~ztunnel-x.istio-system~istio-system.svc.cluster.local');
    expect(parseIstioNodeId(id)).toEqual({
      type: 'ztunnel',
      ip: '10.0.0.5',
      id: 'ztunnel-x.istio-system',
      dnsDomain: 'istio-system.svc.cluster.local',
    });
  });

  it.each(['sidecar~1.2.3.4~a.b', 'gateway~1.2.3.4~a.b~b.svc.cluster.local', ''])('rejects %j', (id) => {
    expect(() => parseIstioNodeId(id)).toThrowError(expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_PROTOCOL')));
  });
});

import { describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { Listener } from '@mesh/api/envoy.config.listener.v3';
import {
  addressType,
  authorizationType,
  clusterLoadAssignmentType,
  clusterType,
  defineResourceType,
  isWildcardTypeUrl,
  listenerType,
  routeConfigurationType,
  waypointServiceType,
  waypointType,
} from './resource-type.js';

describe('resource types', () => {
  it('know their wildcard and state-of-the-world rules', () => {
    expect([listenerType, clusterType, addressType, authorizationType].map((t) => t.wildcard)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([routeConfigurationType.wildcard, clusterLoadAssignmentType.wildcard]).toEqual([false, false]);
    expect(listenerType.sotwFullState && clusterType.sotwFullState).toBe(true);
    expect(routeConfigurationType.sotwFullState || clusterLoadAssignmentType.sotwFullState).toBe(false);
  });

  it('name resources as the protocol does', () => {
    expect(
      clusterLoadAssignmentType.nameOf(
        clusterLoadAssignmentType.decode(clusterLoadAssignmentType.encode({ clusterName: 'c' })),
      ),
    ).toBe('c');
    expect(
      authorizationType.nameOf(authorizationType.decode(authorizationType.encode({ name: 'p', namespace: 'ns' }))),
    ).toBe('ns/p');
  });

  it('validate', () => {
    expect(listenerType.validate(Listener.create({}), '')).toMatch(/empty name/);
    expect(addressType.validate(addressType.decode(new Uint8Array()), 'x')).toMatch(/neither/);
    expect(
      addressType.validate(
        addressType.decode(addressType.encode({ workload: { uid: 'u', addresses: [Uint8Array.of(1, 2)] } })),
        'u',
      ),
    ).toMatch(/2-byte IP/);
    expect(
      addressType.validate(addressType.decode(addressType.encode({ service: { hostname: 'h' } })), 'x'),
    ).toBeUndefined();
  });

  it('without nameOf, work in delta only and say why', () => {
    const type = defineResourceType({ codec: Listener });
    expect(() => type.nameOf(Listener.create({ name: 'x' }))).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_INVALID_OPTIONS') && /state-of-the-world/.test(String(e))),
    );
  });

  it('need a codec with a type URL', () => {
    expect(() => defineResourceType({ codec: {} as never })).toThrowError(
      expect.toSatisfy((e) => MeshError.is(e, 'ERR_XDS_INVALID_OPTIONS')),
    );
  });

  it("follow Istio's wildcard rule for unknown types", () => {
    expect(isWildcardTypeUrl('type.googleapis.com/istio.workload.Address')).toBe(true);
    expect(isWildcardTypeUrl('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret')).toBe(false);
  });

  it('name waypoint resources after the waypoint (and the service)', () => {
    const w = waypointType.decode(
      waypointType.encode({ name: 'wp', namespace: 'shop', services: ['shop/a.shop.svc'] }),
    );
    expect([waypointType.nameOf(w), waypointType.typeUrl, waypointType.wildcard]).toEqual([
      'shop/wp',
      'type.googleapis.com/mesh.waypoint.v1.Waypoint',
      true,
    ]);
    const s = waypointServiceType.decode(
      waypointServiceType.encode({ waypoint: 'shop/wp', service: 'shop/a.shop.svc.cluster.local', hostname: 'a' }),
    );
    expect(waypointServiceType.nameOf(s)).toBe('shop/wp/shop/a.shop.svc.cluster.local');
    expect(waypointServiceType.validate(s, 'x')).toBeUndefined();
    expect(waypointServiceType.validate(waypointServiceType.decode(new Uint8Array()), 'x')).toMatch(/needs/);
  });
});

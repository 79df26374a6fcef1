import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromStruct } from '@mesh/api';
import { Waypoint, WaypointService } from '@mesh/api/mesh.waypoint.v1';
import { createAuthorizer, type SecurityResource } from '@mesh/authz';
import { seededRng } from '@mesh/core';
import { AmbientIndex, loadText } from '@mesh/config';
import {
  compileRouteTable,
  type DestinationRule,
  type GatewayHTTPRoute,
  type GRPCRoute,
  type VirtualService,
} from '@mesh/l7';
import { hostCovers, WaypointContext } from './waypoints.js';

const dir = join(import.meta.dirname, '..', '..', '..', 'conformance', 'mesh', 'bookinfo', 'config');
const load = () =>
  AmbientIndex.from(
    ['world.yaml', 'routing.yaml', 'policy.yaml'].flatMap(
      (f) => loadText(readFileSync(join(dir, f), 'utf8'), { file: f }).objects,
    ),
  );

describe('waypoint resources', () => {
  const index = load();
  const context = new WaypointContext(index);
  const info = index.waypoint('default', 'waypoint')!;
  const built = context.build(info);

  it('describe the waypoint: identity, bindings and the policies that attach to it', () => {
    expect(built.waypoint).toMatchObject({
      name: 'waypoint',
      namespace: 'default',
      identity: 'spiffe://cluster.local/ns/default/sa/waypoint',
      services: info.services,
      rootNamespace: 'istio-system',
    });
    // The targetRefs policy on reviews attaches; the selector policy is ztunnel's.
    expect(built.waypoint.policies!.map((p) => `${p!.kind}/${p!.namespace}/${p!.name}`)).toEqual([
      'AuthorizationPolicy/default/reviews-get-only',
    ]);
  });

  it('carry exactly the routing that applies to each service, and the hosts that exist', () => {
    const reviews = built.services.find((s) => s.hostname === 'reviews.default.svc.cluster.local')!;
    expect(reviews.routing!.map((r) => `${r!.kind}/${r!.name}`)).toEqual([
      'DestinationRule/reviews',
      'VirtualService/reviews',
    ]);
    expect(reviews.hosts).toEqual([{ hostname: 'reviews.default.svc.cluster.local', ports: [9080] }]);
    expect(reviews.portRoutes).toMatchObject([
      { port: 9080, source: 'VirtualService', routes: [{ name: 'jason' }, { name: 'canary' }] },
    ]);
    const details = built.services.find((s) => s.hostname === 'details.default.svc.cluster.local')!;
    expect(details.routing).toEqual([]);
    expect(details.portRoutes![0]!.source).toBe('default');
  });

  it('compile, on the waypoint side, to the decisions of istiod’s own tables', () => {
    const requests = [
      { method: 'GET', path: '/reviews/1', headers: { 'end-user': 'jason' } },
      { method: 'GET', path: '/reviews/1' },
      { method: 'POST', path: '/x?y=1' },
      { method: 'GET', path: '/ratings/1', headers: { 'end-user': 'jason' } },
    ];
    for (const partial of built.services) {
      // Through the wire, as the waypoint receives it.
      const service = WaypointService.decode(WaypointService.encode(partial));
      const objects = service.routing.map((r) => fromStruct(r.object) as never);
      const of = <T>(kind: string) => objects.filter((o: { kind: string }) => o.kind === kind) as T[];
      const hosts = new Map(service.hosts.map((h) => [h.hostname, h.ports]));
      for (const port of service.ports) {
        const theirs = compileRouteTable({
          service: {
            hostname: service.hostname,
            namespace: service.namespace,
            port: port.port,
            ports: service.ports.map((p) => p.port),
          },
          proxy: { kind: 'waypoint', namespace: 'default' },
          virtualServices: of<VirtualService>('VirtualService'),
          destinationRules: of<DestinationRule>('DestinationRule'),
          httpRoutes: of<GatewayHTTPRoute>('HTTPRoute'),
          grpcRoutes: of<GRPCRoute>('GRPCRoute'),
          servicePorts: (h) => hosts.get(h),
          hostExists: (h) => hosts.has(h),
          validate: false,
        });
        const ours = index.routeTable(
          { namespace: 'default', name: 'waypoint' },
          index.servicesByHost(service.hostname)[0]!,
          port.port,
        );
        for (const request of requests)
          for (let seed = 1; seed <= 20; seed++)
            expect(
              theirs.route(request, { rng: seededRng(seed) }),
              `${service.hostname} ${request.path} ${seed}`,
            ).toEqual(ours.route(request, { rng: seededRng(seed) }));
      }
    }
  });

  it('authorize at the waypoint as istiod’s authorizer does', () => {
    const waypoint = Waypoint.decode(Waypoint.encode(built.waypoint));
    const policies = waypoint.policies.map((p) => fromStruct(p.object) as unknown as SecurityResource);
    const waypointSide = createAuthorizer({ resources: policies });
    const request = (method: string) => ({
      waypoint: { name: 'waypoint', namespace: 'default' },
      service: { name: 'reviews', namespace: 'default', port: 9080 },
      source: { principal: 'cluster.local/ns/default/sa/bookinfo-productpage', ip: '10.244.0.10' },
      http: { method, path: '/reviews/0', host: 'reviews:9080' },
    });
    for (const method of ['GET', 'POST'])
      expect(waypointSide.waypoint.authorize(request(method)).decision).toBe(
        index.authorizer.waypoint.authorize(request(method)).decision,
      );
    expect(waypointSide.waypoint.authorize(request('POST')).decision).toBe('deny');
    expect(waypointSide.waypoint.authorize(request('GET')).decision).toBe('allow');
  });

  it('match DestinationRule hosts with wildcards', () => {
    expect(hostCovers('*.default.svc.cluster.local', 'reviews.default.svc.cluster.local')).toBe(true);
    expect(hostCovers('*', 'x')).toBe(true);
    expect(hostCovers('reviews.default.svc.cluster.local', 'ratings.default.svc.cluster.local')).toBe(false);
  });
});

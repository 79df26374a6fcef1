import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AmbientIndex, loadText } from '@mesh/config';
import { clusterLoadAssignmentType, clusterType, listenerType, routeConfigurationType } from '@mesh/xds';
import { ProxylessGenerator } from './proxyless.js';

const dir = join(import.meta.dirname, '..', '..', '..', 'conformance', 'mesh', 'bookinfo', 'config');
const index = AmbientIndex.from(
  ['world.yaml', 'routing.yaml'].flatMap((f) => loadText(readFileSync(join(dir, f), 'utf8'), { file: f }).objects),
);
const generator = new ProxylessGenerator(index);
const reviews = generator.service(index.servicesByHost('reviews.default.svc.cluster.local')[0]!);

describe('proxyless gRPC resources', () => {
  it('name the listener and routes after the xds:/// target, and the clusters as Istio does', () => {
    expect(reviews.listeners.map((l) => l.name)).toEqual(['reviews.default.svc.cluster.local:9080']);
    expect(reviews.clusters.map((c) => c.name)).toEqual([
      'outbound|9080||reviews.default.svc.cluster.local',
      'outbound|9080|v1|reviews.default.svc.cluster.local',
      'outbound|9080|v2|reviews.default.svc.cluster.local',
      'outbound|9080|v3|reviews.default.svc.cluster.local',
    ]);
    // Every resource is valid for the types' own validation (what a client checks too).
    for (const [type, list] of [
      [listenerType, reviews.listeners],
      [routeConfigurationType, reviews.routes],
      [clusterType, reviews.clusters],
      [clusterLoadAssignmentType, reviews.endpoints],
    ] as const)
      for (const r of list) {
        const decoded = (type as typeof listenerType).decode((type as typeof listenerType).encode(r as never));
        expect(
          (type as typeof listenerType).validate(decoded, (type as typeof listenerType).nameOf(decoded)),
        ).toBeUndefined();
      }
  });

  it('turn VirtualService routes into gRPC routes: header matches, weighted subsets', () => {
    const routes = reviews.routes[0]!.virtualHosts![0]!.routes!;
    expect(routes[0]).toMatchObject({
      name: 'jason',
      match: { prefix: '', headers: [{ name: 'end-user', stringMatch: { exact: 'jason' } }] },
      route: { cluster: 'outbound|9080|v2|reviews.default.svc.cluster.local' },
    });
    expect(routes[1]).toMatchObject({
      name: 'canary',
      route: {
        weightedClusters: {
          clusters: [
            { name: 'outbound|9080|v1|reviews.default.svc.cluster.local', weight: { value: 90 } },
            { name: 'outbound|9080|v3|reviews.default.svc.cluster.local', weight: { value: 10 } },
          ],
        },
      },
    });
  });

  it('put each subset’s pods (at their target port) in its load assignment', () => {
    const byName = new Map(reviews.endpoints.map((e) => [e.clusterName, e]));
    const ips = (name: string) =>
      (byName.get(name)?.endpoints ?? []).flatMap((l) =>
        l!.lbEndpoints!.map((e) => e!.endpoint!.address!.socketAddress!.address),
      );
    expect(ips('outbound|9080||reviews.default.svc.cluster.local')).toHaveLength(3);
    expect(ips('outbound|9080|v2|reviews.default.svc.cluster.local')).toHaveLength(1);
    const [locality] = byName.get('outbound|9080||reviews.default.svc.cluster.local')!.endpoints!;
    expect(locality!.loadBalancingWeight).toEqual({ value: 1 }); // grpc-js skips localities without a weight
  });

  it('route to the whole service without a VirtualService', () => {
    const details = generator.service(index.servicesByHost('details.default.svc.cluster.local')[0]!);
    expect(details.routes[0]!.virtualHosts![0]).toMatchObject({
      domains: ['details.default.svc.cluster.local', 'details.default.svc.cluster.local:9080'],
      routes: [{ match: { prefix: '' }, route: { cluster: 'outbound|9080||details.default.svc.cluster.local' } }],
    });
  });
});

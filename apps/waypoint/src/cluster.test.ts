import { describe, expect, it } from 'vitest';
import { ManualClock, seededRng } from '@mesh/core';
import { DEFAULT_TRAFFIC_POLICY, type ResolvedTrafficPolicy } from '@mesh/l7';
import { Cluster, endpointsFor } from './cluster.js';
import type { EndpointView, WaypointView } from './model.js';

const workload = (name: string, ip: string, labels: Record<string, string>, healthy = true): EndpointView => ({
  uid: name,
  name,
  namespace: 'shop',
  ip,
  labels,
  identity: 'spiffe://cluster.local/ns/shop/sa/web',
  services: new Map([['shop/web.shop.svc.cluster.local', new Map([[80, 8080]])]]),
  healthy,
});

const view = (endpoints: EndpointView[]) =>
  ({
    endpoints: (host: string) =>
      host === 'web.shop.svc.cluster.local'
        ? endpoints.map((endpoint) => ({ endpoint, serviceKey: 'shop/web.shop.svc.cluster.local' }))
        : [],
  }) as unknown as WaypointView;

describe('clusters', () => {
  const all = [
    workload('v1-a', '10.0.0.1', { version: 'v1' }),
    workload('v1-b', '10.0.0.2', { version: 'v1' }),
    workload('v2', '10.0.0.3', { version: 'v2' }),
    workload('v1-down', '10.0.0.4', { version: 'v1' }, false),
  ];

  it('selects healthy endpoints of the subset, on the target port', () => {
    const eps = endpointsFor(view(all), {
      host: 'web.shop.svc.cluster.local',
      port: 80,
      subsetLabels: { version: 'v1' },
    });
    expect(eps.map((e) => e.address)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    expect(endpointsFor(view(all), { host: 'web.shop.svc.cluster.local', port: 81, subsetLabels: null })).toEqual([]);
  });

  it('skips ejected endpoints, and keeps ejections across a push that does not change the cluster', () => {
    const clock = new ManualClock(0);
    const policy: ResolvedTrafficPolicy = {
      ...DEFAULT_TRAFFIC_POLICY,
      loadBalancer: { ...DEFAULT_TRAFFIC_POLICY.loadBalancer, kind: 'ROUND_ROBIN' },
      outlierDetection: {
        consecutive5xxErrors: 2,
        consecutiveGatewayErrors: 0,
        consecutiveLocalOriginFailures: 5,
        splitExternalLocalOriginErrors: false,
        intervalMs: 10_000,
        baseEjectionTimeMs: 30_000,
        maxEjectionTimeMs: 300_000,
        maxEjectionPercent: 100,
        minHealthPercent: 0,
      },
    };
    const eps = endpointsFor(view(all), { host: 'web.shop.svc.cluster.local', port: 80, subsetLabels: null });
    const cluster = new Cluster('c', policy, { rng: seededRng(1), clock });
    cluster.update(policy, eps);
    cluster.outliers!.record('10.0.0.1:8080', { kind: 'response', status: 503 });
    cluster.outliers!.record('10.0.0.1:8080', { kind: 'response', status: 503 });
    const picks = new Set(Array.from({ length: 12 }, () => cluster.pick(null, new Set())!.address));
    expect(picks).toEqual(new Set(['10.0.0.2:8080', '10.0.0.3:8080']));
    cluster.update(policy, eps); // same policy and endpoints: state kept
    expect(cluster.snapshot().endpoints.find((e) => e.address === '10.0.0.1:8080')?.ejected).toBe(true);
    clock.advance(40_000);
    expect(cluster.outliers!.isEjected('10.0.0.1:8080')).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { seededRng } from '@mesh/core';
import { planInbound } from './inbound.js';
import { planOutbound } from './outbound.js';
import { denyPrincipal, hostnameGateway, service, stateOf, workload } from './test-fixtures.js';

const WEB = 'shop/web.shop.svc.cluster.local';
const world = () =>
  stateOf([
    service({ name: 'web', vip: '10.96.0.10', ports: [[80, 8080]], sans: ['spiffe://cluster.local/ns/shop/sa/extra'] }),
    workload({ name: 'web-1', ip: '10.0.0.10', services: { [WEB]: [[80, 8080]] } }),
    workload({ name: 'web-2', ip: '10.0.0.11', services: { [WEB]: [[80, 8081]] }, node: 'node-b' }),
    workload({ name: 'sick-1', ip: '10.0.0.12', services: { [WEB]: [[80, 8080]] }, healthy: false }),
    workload({ name: 'client-1', ip: '10.0.0.20', sa: 'client', node: 'node-b' }),
    workload({ name: 'old-1', namespace: 'legacy', ip: '10.0.0.40', hbone: false }),
    service({
      name: 'reviews',
      vip: '10.96.0.20',
      ports: [[9080, 9080]],
      waypoint: hostnameGateway('shop', 'waypoint'),
    }),
    workload({
      name: 'reviews-1',
      ip: '10.0.0.50',
      services: { 'shop/reviews.shop.svc.cluster.local': [[9080, 9080]] },
    }),
  ]);

describe('planOutbound', () => {
  const state = world();
  const source = state.workloadByIp('10.0.0.20')!;

  it('picks a healthy endpoint of a VIP and maps the service port per endpoint', () => {
    const seen = new Set<string>();
    const rng = seededRng(7);
    for (let i = 0; i < 50; i++) {
      const plan = planOutbound(state, { source, destination: { host: '10.96.0.10', port: 80 } }, rng);
      if (plan.kind !== 'hbone') throw new Error(plan.kind);
      seen.add(`${plan.authority.host}:${plan.authority.port} via ${plan.via.host}:${plan.via.port}`);
      expect(plan.expectedIdentities).toEqual([plan.workload.identity, 'spiffe://cluster.local/ns/shop/sa/extra']);
      expect(plan.service?.key).toBe(WEB);
    }
    expect([...seen].sort()).toEqual(['10.0.0.10:8080 via 10.0.0.10:15008', '10.0.0.11:8081 via 10.0.0.11:15008']);
  });

  it('dials a pod IP directly, plain TCP for workloads outside the mesh, passthrough for unknown addresses', () => {
    const rng = seededRng(1);
    const direct = planOutbound(state, { source, destination: { host: '10.0.0.10', port: 8080 } }, rng);
    expect(direct).toMatchObject({
      kind: 'hbone',
      authority: { host: '10.0.0.10', port: 8080 },
      expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/web'],
    });
    expect(direct.kind === 'hbone' && direct.service?.key).toBe(WEB); // found through the workload's services
    expect(planOutbound(state, { source, destination: { host: '10.0.0.40', port: 80 } }, rng)).toMatchObject({
      kind: 'tcp',
      passthrough: false,
      target: { host: '10.0.0.40', port: 80 },
    });
    expect(planOutbound(state, { source, destination: { host: '192.0.2.1', port: 443 } }, rng)).toMatchObject({
      kind: 'tcp',
      passthrough: true,
    });
  });

  it('refuses self-calls and services without a healthy endpoint for the port', () => {
    const rng = seededRng(1);
    expect(planOutbound(state, { source, destination: { host: '10.0.0.10', port: 15008 } }, rng)).toMatchObject({
      kind: 'error',
      code: 'ERR_ZTUNNEL_SELF_CALL',
    });
    expect(planOutbound(state, { source, destination: { host: '10.96.0.10', port: 81 } }, rng)).toMatchObject({
      kind: 'error',
      code: 'ERR_ZTUNNEL_NO_HEALTHY_UPSTREAM',
    });
  });

  it('sends waypoint-bound services to the waypoint with the original destination as authority, or refuses', () => {
    const rng = seededRng(1);
    const missing = planOutbound(state, { source, destination: { host: '10.96.0.20', port: 9080 } }, rng);
    expect(missing).toMatchObject({
      kind: 'error',
      code: 'ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE',
      waypoint: 'shop/waypoint.shop.svc.cluster.local',
    });

    state.applyAddresses(
      [
        service({ name: 'waypoint', vip: '10.96.0.30', ports: [[15008, 15008]], sans: [] }),
        workload({
          name: 'waypoint-1',
          ip: '10.0.0.60',
          sa: 'waypoint',
          services: { 'shop/waypoint.shop.svc.cluster.local': [[15008, 15008]] },
        }),
      ],
      [],
    );
    const via = planOutbound(state, { source, destination: { host: '10.96.0.20', port: 9080 } }, rng);
    expect(via).toMatchObject({
      kind: 'hbone',
      via: { host: '10.0.0.60', port: 15008 },
      authority: { host: '10.96.0.20', port: 9080 },
      expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
      waypoint: 'shop/waypoint.shop.svc.cluster.local',
    });
  });
});

describe('planInbound', () => {
  const state = world();
  const pod = state.workloadByIp('10.0.0.10')!;
  const client = 'spiffe://cluster.local/ns/shop/sa/client';

  it('forwards an allowed connection to the pod with the source workload and service for telemetry', () => {
    const plan = planInbound(state, {
      pod,
      authority: { host: '10.0.0.10', port: 8080 },
      peerIdentity: client,
      peerIp: '10.0.0.20',
      forwardedHost: 'web.shop.svc.cluster.local',
    });
    expect(plan).toMatchObject({ kind: 'forward', target: { host: '10.0.0.10', port: 8080 } });
    expect(plan.source?.workload.name).toBe('client-1');
    expect(plan.service?.key).toBe(WEB);
  });

  it('answers 400 for another address, 503 for a self-call, 401 when a policy denies', () => {
    const base = { pod, peerIdentity: client, peerIp: '10.0.0.20', forwardedHost: undefined };
    expect(planInbound(state, { ...base, authority: { host: '10.0.0.11', port: 8080 } })).toMatchObject({
      kind: 'refuse',
      status: 400,
    });
    expect(planInbound(state, { ...base, authority: { host: '10.0.0.10', port: 15080 } })).toMatchObject({
      kind: 'refuse',
      status: 503,
    });
    state.applyAuthorizations([denyPrincipal('deny-client', 'shop', 'cluster.local/ns/shop/sa/client')], []);
    expect(planInbound(state, { ...base, authority: { host: '10.0.0.10', port: 8080 } })).toMatchObject({
      kind: 'refuse',
      status: 401,
      flag: 'DENY',
    });
    // Another identity is still allowed.
    expect(
      planInbound(state, {
        ...base,
        peerIdentity: 'spiffe://cluster.local/ns/shop/sa/web',
        authority: { host: '10.0.0.10', port: 8080 },
      }).kind,
    ).toBe('forward');
    state.applyAuthorizations([], ['shop/deny-client']);
    expect(planInbound(state, { ...base, authority: { host: '10.0.0.10', port: 8080 } }).kind).toBe('forward');
  });
});

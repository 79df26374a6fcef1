import { MeshError } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { createSimulator, parseCheckRequest } from './index.js';

const fails = (request: unknown, message: string) => {
  let error: unknown;
  try {
    parseCheckRequest(request);
  } catch (e) {
    error = e;
  }
  expect(MeshError.is(error, 'ERR_CONFIG_INVALID_REQUEST'), String(error)).toBe(true);
  expect((error as Error).message).toBe(message);
};

describe('request validation', () => {
  const base = {
    id: 'a',
    kind: 'authz',
    at: 'waypoint',
    waypoint: { name: 'w', namespace: 'n' },
    source: { principal: null, ip: '10.0.0.1' },
  };

  it('accepts the contract shapes', () => {
    expect(parseCheckRequest({ ...base, http: { method: 'GET', path: '/' } })).toMatchObject({ id: 'a' });
    expect(
      parseCheckRequest({
        id: 'r',
        kind: 'route',
        service: { name: 's', namespace: 'n', port: 80 },
        http: { method: 'GET', path: '/x' },
      }),
    ).toMatchObject({ kind: 'route' });
  });

  it('names the field of every problem, unknown fields included', () => {
    fails(
      { ...base, htp: { method: 'GET', path: '/' } },
      'request a: htp: unknown field (expected id, kind, at, waypoint, service, source, destination, http)',
    );
    fails(
      { ...base, source: { principal: null, ip: '10.0.0.1', namespce: 'x' } },
      'request a: source.namespce: unknown field (expected principal, ip, namespace, labels)',
    );
    fails({ ...base, at: 'sidecar' }, 'request a: at: must be "ztunnel" or "waypoint"');
    fails({ ...base, source: { ip: '10.0.0.1' } }, 'request a: source.principal: is required (null for plaintext)');
    fails({ ...base, http: { method: 'GET', path: 'x' } }, 'request a: http.path: must be a string starting with "/"');
    fails(
      {
        id: 'z',
        kind: 'authz',
        at: 'ztunnel',
        source: { principal: null, ip: '10.0.0.1' },
        destination: { ip: '10.0.0.2', port: 80 },
        http: { method: 'GET', path: '/' },
      },
      'request z: http: ztunnel sees connections, not HTTP requests: drop "http" or ask at the waypoint',
    );
    fails([], 'a request must be a JSON object');
  });
});

describe('explanations', () => {
  it('flag a request through a waypoint the service does not use', () => {
    const sim = createSimulator({
      text: `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
`,
    });
    const e = sim.explain({
      id: 'r',
      kind: 'route',
      waypoint: { name: 'wp', namespace: 'shop' },
      service: { name: 'web', namespace: 'shop', port: 80 },
      http: { method: 'GET', path: '/' },
    });
    expect(e.result).toMatchObject({ status: 200, upstreamCalled: true });
    expect(e.messages.map((m) => m.code)).toEqual(['MESH-W0011', 'MESH-I0001']);
    expect(e.text).toContain('real traffic does not pass through shop/wp');
  });
});

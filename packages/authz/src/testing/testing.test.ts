import { describe, expect, it } from 'vitest';
import {
  AuthzAssertionError,
  authorizerFromYaml,
  expectConnectionAllowed,
  expectConnectionDenied,
  expectRequestAllowed,
  waypointRequest,
} from './index.js';

const authz = authorizerFromYaml(
  `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-frontend, namespace: shop}
spec:
  rules:
  - from: [{source: {namespaces: [frontend]}}]
`,
  { file: 'shop.yaml' },
);

describe('@mesh/authz/testing', () => {
  it('passes and returns the explanation when the decision is as expected', () => {
    const e = expectConnectionAllowed(
      authz,
      { from: 'cluster.local/ns/frontend/sa/web', to: { namespace: 'shop', port: 8080 } },
      'shop/allow-frontend',
    );
    expect(e.rule).toBe(0);
    expectConnectionDenied(authz, { to: { namespace: 'shop', port: 8080 } }, null);
  });

  it('fails with the whole explanation in the message', () => {
    let error: unknown;
    try {
      expectConnectionAllowed(authz, { from: 'cluster.local/ns/other/sa/x', to: { namespace: 'shop', port: 8080 } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AuthzAssertionError);
    expect((error as AuthzAssertionError).message).toBe(
      [
        'expected allow, got deny',
        'DENY at ztunnel: denied: ALLOW policies apply to the destination workload, but none matched',
        '  ALLOW  shop/allow-frontend via scope NAMESPACE (shop): no match',
      ].join('\n'),
    );
    expect(() => expectRequestAllowed(authz, { service: 'shop/cart', port: 80 }, 'shop/x')).toThrow(
      /expected allow by shop\/x, got allow\n/,
    );
  });

  it('builds waypoint requests with sensible defaults', () => {
    expect(waypointRequest({ service: 'shop/cart', port: 8080, from: 'cluster.local/ns/a/sa/b' })).toEqual({
      waypoint: { namespace: 'shop', name: 'waypoint' },
      service: { namespace: 'shop', name: 'cart', port: 8080 },
      source: { principal: 'cluster.local/ns/a/sa/b', ip: '10.0.0.1' },
      http: { method: 'GET', host: 'cart.shop:8080', path: '/' },
    });
    expect(() => waypointRequest({ service: 'cart', port: 80 })).toThrow(TypeError);
  });
});

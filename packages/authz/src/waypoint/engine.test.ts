import { seededRng } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { createAuthorizer } from '../authorizer.js';
import type { WaypointRequest } from './attributes.js';

describe('the waypoint principal index', () => {
  it('decides exactly as a full scan, on random policies and requests', () => {
    const rng = seededRng(7_2026);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
    const principals = [
      'cluster.local/ns/a/sa/x',
      'cluster.local/ns/b/sa/y',
      'old-td/ns/a/sa/x',
      'cluster.local/ns/c/sa/z',
    ];
    const principalValue = () => pick([...principals, 'cluster.local/ns/a/*', '*/sa/y', '*']);
    const source = () => {
      const s: Record<string, string[]> = {};
      if (rng.next() < 0.7) s.principals = Array.from({ length: 1 + Math.floor(rng.next() * 2) }, principalValue);
      if (rng.next() < 0.2) s.notPrincipals = [principalValue()];
      if (rng.next() < 0.2) s.namespaces = [pick(['a', 'b', 'c*'])];
      if (Object.keys(s).length === 0) s.ipBlocks = ['10.0.0.0/8'];
      return s;
    };
    const rule = () => {
      const r: Record<string, unknown> = {};
      if (rng.next() < 0.8)
        r.from = Array.from({ length: 1 + Math.floor(rng.next() * 2) }, () => ({ source: source() }));
      if (rng.next() < 0.5) r.to = [{ operation: { methods: [pick(['GET', 'POST'])] } }];
      return r;
    };
    for (let round = 0; round < 25; round++) {
      const resources = Array.from({ length: 1 + Math.floor(rng.next() * 6) }, (_, i) => ({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: `p${i}`, namespace: 'foo' },
        spec: {
          targetRefs: [{ kind: 'Service', name: 'web' }],
          action: pick(['ALLOW', 'ALLOW', 'DENY', 'AUDIT']),
          rules: Array.from({ length: Math.floor(rng.next() * 3) }, rule),
        },
      })).map((r) =>
        r.spec.action === 'DENY' && r.spec.rules.length === 0 ? { ...r, spec: { ...r.spec, rules: [{}] } } : r,
      );
      const authz = createAuthorizer({ resources, trustDomainAliases: ['old-td'] });
      for (let k = 0; k < 30; k++) {
        const req: WaypointRequest = {
          waypoint: { namespace: 'foo', name: 'waypoint' },
          service: { namespace: 'foo', name: 'web', port: 80 },
          source: { principal: rng.next() < 0.15 ? null : pick(principals), ip: '10.1.2.3' },
          ...(rng.next() < 0.2 ? {} : { http: { method: pick(['GET', 'POST']), host: 'web', path: '/' } }),
        };
        const fast = authz.waypoint.authorize(req);
        const scan = authz.waypoint.authorizeByScan(req);
        expect({ decision: fast.decision, policy: fast.policy, rule: fast.rule }).toEqual({
          decision: scan.decision,
          policy: scan.policy,
          rule: scan.rule,
        });
      }
    }
  });
});

import { Action, Authorization, Scope } from '@mesh/api/istio.security';
import { describe, expect, it } from 'vitest';
import { createAuthorizer } from '../authorizer.js';
import { AuthzError } from '../errors.js';
import { L4PolicyIndex } from '../ztunnel/engine.js';
import type { L4Policy } from '../ztunnel/model.js';
import { applyAuthorization, authorizationResourceName, fromAuthorization, toAuthorization } from './authorization.js';

const policy: L4Policy = {
  name: 'p',
  namespace: 'foo',
  scope: 'WORKLOAD_SELECTOR',
  action: 'DENY',
  dryRun: true,
  rules: [
    {
      sourceRule: 0,
      clauses: [
        { matches: [{ destinationPorts: [8080], notDestinationPorts: [9090] }] },
        {
          matches: [
            {
              namespaces: [{ kind: 'prefix', value: 'team-' }],
              notPrincipals: [{ kind: 'presence', value: '' }],
              sourceIps: ['10.0.0.0/8', '2001:db8::/32'],
              notDestinationIps: ['10.1.2.3/32'],
              serviceAccounts: [{ namespace: 'bar', serviceAccount: 'sa' }],
            },
          ],
        },
      ],
    },
  ],
};

describe('istio.security.Authorization converter', () => {
  it('round-trips through the wire bytes', () => {
    const wire = Authorization.decode(Authorization.encode(toAuthorization(policy)));
    expect(wire.scope).toBe(Scope.WORKLOAD_SELECTOR);
    expect(wire.action).toBe(Action.DENY);
    expect(Array.from(wire.rules[0]!.clauses[1]!.matches[0]!.sourceIps[0]!.address)).toEqual([10, 0, 0, 0]);
    const { policy: back, warnings } = fromAuthorization(wire);
    expect(warnings).toEqual([]);
    expect(back).toEqual(policy);
    expect(authorizationResourceName(back)).toBe('foo/p');
  });

  it('converts what istiod would send for CRDs, and ztunnel decides the same from the wire form', () => {
    const authz = createAuthorizer({
      resources: [
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'allow-bar', namespace: 'foo' },
          spec: { rules: [{ from: [{ source: { namespaces: ['bar'] } }], to: [{ operation: { ports: ['80'] } }] }] },
        },
      ],
    });
    const index = new L4PolicyIndex();
    for (const p of authz.ztunnel.policies) {
      expect(applyAuthorization(index, Authorization.decode(Authorization.encode(toAuthorization(p))))).toEqual([]);
    }
    const w = index.forWorkload({ namespace: 'foo' });
    const c = {
      source: { principal: 'cluster.local/ns/bar/sa/x', ip: '10.0.0.1' },
      destination: { ip: '10.0.0.2', port: 80 },
    };
    expect(w.authorize(c)).toMatchObject({ decision: 'allow', policy: 'foo/allow-bar', rule: 0 });
    expect(w.authorize({ ...c, destination: { ip: '10.0.0.2', port: 81 } }).decision).toBe('deny');
  });

  it('is as lenient as ztunnel with bad entries, and rejects unknown enums', () => {
    const wire = Authorization.create({
      name: 'x',
      namespace: 'foo',
      scope: Scope.NAMESPACE,
      action: Action.ALLOW,
      rules: [
        {
          clauses: [
            {
              matches: [
                {
                  sourceIps: [{ address: Uint8Array.of(1, 2, 3), length: 8 }],
                  destinationPorts: [65536 + 80],
                  principals: [{}],
                },
              ],
            },
          ],
        },
      ],
    });
    const { policy: back, warnings } = fromAuthorization(wire);
    expect(back.rules[0]!.clauses[0]!.matches[0]).toEqual({ destinationPorts: [80] });
    expect(warnings).toHaveLength(3);
    expect(() => fromAuthorization({ ...wire, scope: 7 as Scope })).toThrow(AuthzError);
    expect(() => fromAuthorization({ ...wire, action: 3 as Action })).toThrow(/unknown action/);
    expect(() => fromAuthorization({ ...wire, name: '' })).toThrow(/without a name/);
  });
});

import { seededRng } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { AuthzError } from '../errors.js';
import { L4PolicyIndex, pinnedNamespace } from './engine.js';
import type { L4Policy } from './model.js';

const allowNs = (name: string, ns: string, from: string): L4Policy => ({
  name,
  namespace: ns,
  scope: 'NAMESPACE',
  action: 'ALLOW',
  dryRun: false,
  rules: [{ clauses: [{ matches: [{ namespaces: [{ kind: 'exact', value: from }] }] }] }],
});

const conn = (principal: string | null, port = 80) => ({
  source: { principal, ip: '10.0.0.1' },
  destination: { ip: '10.0.0.2', port },
});

describe('L4PolicyIndex', () => {
  it('finds GLOBAL, NAMESPACE and listed WORKLOAD_SELECTOR policies, and skips unknown names', () => {
    const index = new L4PolicyIndex([
      allowNs('a', 'foo', 'x'),
      { ...allowNs('g', 'istio-system', 'y'), scope: 'GLOBAL' },
      { ...allowNs('w', 'foo', 'z'), scope: 'WORKLOAD_SELECTOR' },
      allowNs('other', 'bar', 'x'),
    ]);
    const w = index.forWorkload({ namespace: 'foo', policies: ['foo/w', 'foo/missing'] });
    expect(w.policies()).toEqual(['foo/a', 'foo/w', 'istio-system/g']);
    expect(index.forWorkload({ namespace: 'foo' }).policies()).toEqual(['foo/a', 'istio-system/g']);
  });

  it('reflects upserts and deletes in existing workload authorizers', () => {
    const index = new L4PolicyIndex();
    const w = index.forWorkload({ namespace: 'foo' });
    expect(w.authorize(conn('cluster.local/ns/bar/sa/s')).decision).toBe('allow');
    index.upsert(allowNs('a', 'foo', 'x'));
    expect(w.authorize(conn('cluster.local/ns/bar/sa/s')).decision).toBe('deny');
    index.upsert(allowNs('a', 'foo', 'bar'));
    expect(w.authorize(conn('cluster.local/ns/bar/sa/s'))).toMatchObject({
      decision: 'allow',
      policy: 'foo/a',
      rule: 0,
    });
    expect(index.delete('foo/a')).toBe(true);
    expect(index.delete('foo/a')).toBe(false);
    expect(w.authorize(conn('cluster.local/ns/bar/sa/s')).policy).toBeNull();
    expect(index.size).toBe(0);
  });

  it('returns the same frozen decision objects (nothing allocated per connection)', () => {
    const index = new L4PolicyIndex([allowNs('a', 'foo', 'bar')]);
    const w = index.forWorkload({ namespace: 'foo' });
    const first = w.authorize(conn('cluster.local/ns/bar/sa/s'));
    expect(Object.isFrozen(first)).toBe(true);
    expect(w.authorize(conn('spiffe://cluster.local/ns/bar/sa/t'))).toBe(first);
    expect(w.authorize(conn(null))).toBe(w.authorize(conn('cluster.local/ns/baz/sa/s')));
  });

  it('matches a Match only when every populated field holds, and skips empty Matches', () => {
    const index = new L4PolicyIndex([
      {
        name: 'd',
        namespace: 'foo',
        scope: 'NAMESPACE',
        action: 'DENY',
        dryRun: false,
        rules: [
          { clauses: [{ matches: [{}] }] },
          {
            clauses: [
              { matches: [{ destinationPorts: [80], serviceAccounts: [{ namespace: 'bar', serviceAccount: 's' }] }] },
            ],
          },
          { clauses: [] },
        ],
      },
    ]);
    const w = index.forWorkload({ namespace: 'foo' });
    expect(w.authorize(conn('cluster.local/ns/bar/sa/s'))).toMatchObject({ decision: 'deny', rule: 1 });
    expect(w.authorize(conn('cluster.local/ns/bar/sa/s', 81))).toMatchObject({ decision: 'deny', rule: 2 });
  });

  it('rejects malformed connections with ERR_AUTHZ_INVALID_REQUEST', () => {
    const w = new L4PolicyIndex().forWorkload({ namespace: 'foo' });
    const bad = [
      { source: { principal: 'not-spiffe', ip: '10.0.0.1' }, destination: { ip: '10.0.0.2', port: 80 } },
      { source: { principal: 'td/ns/a/ns/b/sa/c', ip: '10.0.0.1' }, destination: { ip: '10.0.0.2', port: 80 } },
      { source: { principal: 'td/x/ns/a/sa/c', ip: '10.0.0.1' }, destination: { ip: '10.0.0.2', port: 80 } },
      { source: { principal: 'td/ns//sa/c', ip: '10.0.0.1' }, destination: { ip: '10.0.0.2', port: 80 } },
      { source: { principal: null, ip: '10.0.0' }, destination: { ip: '10.0.0.2', port: 80 } },
      { source: { principal: null, ip: '10.0.0.1' }, destination: { ip: 'x', port: 80 } },
      { source: { principal: null, ip: '10.0.0.1' }, destination: { ip: '10.0.0.2', port: 70000 } },
    ];
    for (const c of bad) expect(() => w.authorize(c)).toThrow(AuthzError);
  });
});

describe('the per-workload rule index', () => {
  it('decides exactly as a full scan, on random policies and connections', () => {
    const rng = seededRng(20261122);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
    const namespaces = ['a', 'b', 'c', ''];
    const sas = ['x', 'y'];
    const principal = () => `cluster.local/ns/${pick(namespaces.slice(0, 3))}/sa/${pick(sas)}`;
    const stringMatch = () =>
      pick([
        { kind: 'exact' as const, value: principal() },
        { kind: 'prefix' as const, value: 'cluster.local/ns/a/' },
        { kind: 'prefix' as const, value: 'cluster.local/ns/' },
        { kind: 'suffix' as const, value: '/ns/b/sa/x' },
        { kind: 'suffix' as const, value: '/sa/y' },
        { kind: 'presence' as const, value: '' as const },
      ]);
    const match = () => {
      const m: Record<string, unknown> = {};
      if (rng.next() < 0.4) m.principals = [stringMatch()];
      if (rng.next() < 0.3) m.notPrincipals = [stringMatch()];
      if (rng.next() < 0.3) m.namespaces = [{ kind: 'exact', value: pick(namespaces) }];
      if (rng.next() < 0.2)
        m.serviceAccounts = [{ namespace: pick(namespaces.slice(0, 3)), serviceAccount: pick(sas) }];
      if (rng.next() < 0.3) m.destinationPorts = [pick([80, 81])];
      if (rng.next() < 0.2) m.notDestinationPorts = [pick([80, 81])];
      if (rng.next() < 0.2) m.sourceIps = [pick(['10.0.0.0/8', '192.168.0.0/16'])];
      return m;
    };
    for (let round = 0; round < 30; round++) {
      const policies: L4Policy[] = Array.from({ length: 1 + Math.floor(rng.next() * 8) }, (_, i) => ({
        name: `p${i}`,
        namespace: 'foo',
        scope: 'NAMESPACE',
        action: rng.next() < 0.3 ? 'DENY' : 'ALLOW',
        dryRun: rng.next() < 0.1,
        rules: Array.from({ length: Math.floor(rng.next() * 3) }, () => ({
          clauses: Array.from({ length: Math.floor(rng.next() * 3) }, () => ({
            matches: Array.from({ length: Math.floor(rng.next() * 3) }, match),
          })),
        })),
      }));
      const w = new L4PolicyIndex(policies).forWorkload({ namespace: 'foo' });
      for (let k = 0; k < 40; k++) {
        const c = {
          source: {
            principal: rng.next() < 0.2 ? null : principal(),
            ip: pick(['10.1.1.1', '192.168.3.3', '172.16.0.1']),
          },
          destination: { ip: '10.0.0.2', port: pick([80, 81, 82]) },
        };
        expect(w.authorize(c)).toBe(w.authorizeByScan(c));
      }
    }
  });
});

describe('pinnedNamespace', () => {
  it('reads the namespace a principal prefix or suffix requires', () => {
    expect(pinnedNamespace({ kind: 'prefix', value: 'cluster.local/ns/foo/' })).toBe('foo');
    expect(pinnedNamespace({ kind: 'prefix', value: 'cluster.local/ns/foo' })).toBeUndefined();
    expect(pinnedNamespace({ kind: 'suffix', value: '/ns/foo/sa/bar' })).toBe('foo');
    expect(pinnedNamespace({ kind: 'suffix', value: 'td/ns/foo/sa/bar' })).toBe('foo');
    expect(pinnedNamespace({ kind: 'suffix', value: 'o/sa/bar' })).toBeUndefined();
    expect(pinnedNamespace({ kind: 'exact', value: 'td/ns/foo/sa/bar' })).toBeUndefined();
  });
});

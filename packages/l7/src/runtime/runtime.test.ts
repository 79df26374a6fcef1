import { ManualClock, seededRng } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { resolveOutlierDetection } from '../destination-rule.js';
import { DEFAULT_RETRY_POLICY } from '../compile.js';
import {
  CircuitBreaker,
  createBalancer,
  hash32,
  LeastRequestBalancer,
  MaglevBalancer,
  OutlierDetector,
  RandomBalancer,
  requestHash,
  retryBackoffMs,
  RingHashBalancer,
  RoundRobinBalancer,
  shouldRetry,
} from './index.js';

const hosts = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80'].map((address) => ({ address }));

function tally<T extends { address: string }>(n: number, pick: () => T | null): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const e = pick()!;
    counts.set(e.address, (counts.get(e.address) ?? 0) + 1);
  }
  return counts;
}

describe('balancers', () => {
  it('round robin visits every host in turn', () => {
    const lb = new RoundRobinBalancer(hosts);
    expect([1, 2, 3, 4, 5].map(() => lb.pick()!.address)).toEqual([...hosts.map((h) => h.address), hosts[0]!.address]);
  });

  it('weighted round robin spreads exactly by weight over a cycle', () => {
    const lb = new RoundRobinBalancer([
      { address: 'a', weight: 5 },
      { address: 'b', weight: 1 },
      { address: 'c', weight: 1 },
    ]);
    const picks = Array.from({ length: 7 }, () => lb.pick()!.address);
    expect(picks.filter((p) => p === 'a')).toHaveLength(5);
    expect(picks.slice(0, 3)).not.toEqual(['a', 'a', 'a']); // smooth, not bursty
  });

  it('round robin skips excluded hosts (retry previous-hosts predicate)', () => {
    const lb = new RoundRobinBalancer(hosts);
    const exclude = new Set([hosts[0]!.address, hosts[1]!.address]);
    expect(lb.pick({ exclude })!.address).toBe(hosts[2]!.address);
  });

  it('random is uniform', () => {
    const lb = new RandomBalancer(hosts, { rng: seededRng(3) });
    const counts = tally(40_000, () => lb.pick());
    for (const c of counts.values()) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it('least request with two choices prefers idle hosts', () => {
    const active = new Map([
      [hosts[0]!.address, 10],
      [hosts[1]!.address, 0],
      [hosts[2]!.address, 10],
      [hosts[3]!.address, 10],
    ]);
    const lb = new LeastRequestBalancer(hosts, { rng: seededRng(4), activeRequests: (e) => active.get(e.address)! });
    const counts = tally(10_000, () => lb.pick());
    // The idle host wins whenever it is one of the two draws: 1 - (3/4)^2 = 7/16 of picks.
    expect(counts.get(hosts[1]!.address)! / 10_000).toBeCloseTo(7 / 16, 1);
  });

  it('ring hash is sticky per key and spreads keys', () => {
    const lb = new RingHashBalancer(hosts, { minimumRingSize: 1024 });
    expect(lb.ringSize).toBeGreaterThanOrEqual(1024);
    const a = lb.pick({ hash: hash32('user-1') })!;
    for (let i = 0; i < 10; i++) expect(lb.pick({ hash: hash32('user-1') })).toBe(a);
    const counts = tally(
      8_000,
      (
        (i = 0) =>
        () =>
          lb.pick({ hash: hash32(`key-${i++}`) })
      )(),
    );
    for (const c of counts.values()) expect(c).toBeGreaterThan(1_000);
  });

  it('ring hash keeps most keys in place when a host leaves', () => {
    // Entries per host grow when the host count drops (Envoy sizes the ring the same way), so a few keys of the
    // remaining hosts move too; most stay.
    const before = new RingHashBalancer(hosts);
    const after = new RingHashBalancer(hosts.slice(0, 3));
    let moved = 0;
    for (let i = 0; i < 4_000; i++) {
      const h = hash32(`k${i}`);
      const b = before.pick({ hash: h })!.address;
      if (b !== hosts[3]!.address && after.pick({ hash: h })!.address !== b) moved++;
    }
    expect(moved / 4_000).toBeLessThan(0.15);
  });

  it('maglev fills the table evenly and is sticky', () => {
    const lb = new MaglevBalancer(hosts, { tableSize: 251 });
    const counts = tally(
      251,
      (
        (i = 0) =>
        () =>
          lb.pick({ hash: i++ })
      )(),
    );
    for (const c of counts.values()) expect(Math.abs(c - 251 / 4)).toBeLessThanOrEqual(2);
    expect(lb.pick({ hash: 12345 })).toBe(lb.pick({ hash: 12345 }));
    expect(() => new MaglevBalancer(hosts, { tableSize: 100 })).toThrow(/prime/);
  });

  it('createBalancer follows the resolved policy', () => {
    const rng = seededRng(1);
    expect(
      createBalancer(
        { kind: 'ROUND_ROBIN', hash: null, minimumRingSize: 1024, tableSize: 65537, warmupDurationMs: 0 },
        hosts,
        { rng },
      ),
    ).toBeInstanceOf(RoundRobinBalancer);
    expect(
      createBalancer(
        { kind: 'PASSTHROUGH', hash: null, minimumRingSize: 1024, tableSize: 65537, warmupDurationMs: 0 },
        hosts,
        { rng },
      ),
    ).toBeNull();
    expect(
      createBalancer(
        { kind: 'LEAST_REQUEST', hash: null, minimumRingSize: 1024, tableSize: 65537, warmupDurationMs: 0 },
        [],
        { rng },
      )!.pick(),
    ).toBeNull();
  });
});

describe('requestHash', () => {
  const req = { method: 'GET', path: '/x?user=u1', headers: { 'x-user': 'u1', cookie: 'a=1; session=abc' } };
  it('hashes the configured part of the request', () => {
    expect(requestHash({ header: 'x-user' }, req)).toBe(hash32('u1'));
    expect(requestHash({ cookie: { name: 'session' } }, req)).toBe(hash32('abc'));
    expect(requestHash({ queryParameter: 'user' }, req)).toBe(hash32('u1'));
    expect(requestHash({ sourceIp: true }, req, '10.1.2.3')).toBe(hash32('10.1.2.3'));
    expect(requestHash({ header: 'missing' }, req)).toBeNull();
  });
});

describe('OutlierDetector', () => {
  const config = resolveOutlierDetection({
    consecutive5xxErrors: 3,
    interval: '10s',
    baseEjectionTime: '30s',
    maxEjectionPercent: 50,
  })!;

  it('ejects after consecutive 5xx and brings the host back after base x ejections', () => {
    const clock = new ManualClock(0);
    const od = new OutlierDetector(config, { clock, hosts: ['a', 'b', 'c', 'd'] });
    od.record('a', { kind: 'response', status: 500 });
    od.record('a', { kind: 'response', status: 200 }); // resets
    od.record('a', { kind: 'response', status: 500 });
    od.record('a', { kind: 'response', status: 503 });
    expect(od.isEjected('a')).toBe(false);
    const event = od.record('a', { kind: 'response', status: 502 });
    expect(event).toMatchObject({ host: 'a', reason: 'consecutive-5xx', until: 30_000, ejections: 1 });
    expect(od.healthy(['a', 'b'])).toEqual(['b']);
    clock.advance(29_999);
    expect(od.isEjected('a')).toBe(true);
    clock.advance(1); // the 30 s sweep
    expect(od.isEjected('a')).toBe(false);
    // Second ejection lasts twice as long (the multiplier decays by one per healthy interval).
    for (let i = 0; i < 3; i++) od.record('a', { kind: 'response', status: 500 });
    expect(od.ejections('a')).toBe(2);
    clock.advance(59_999);
    expect(od.isEjected('a')).toBe(true);
    clock.advance(1);
    expect(od.isEjected('a')).toBe(false);
  });

  it('caps ejections at maxEjectionPercent but always allows one', () => {
    const clock = new ManualClock(0);
    const od = new OutlierDetector({ ...config, maxEjectionPercent: 10 }, { clock, hosts: ['a', 'b', 'c', 'd'] });
    for (const h of ['a', 'b']) for (let i = 0; i < 3; i++) od.record(h, { kind: 'response', status: 500 });
    expect(od.isEjected('a')).toBe(true);
    expect(od.isEjected('b')).toBe(false);
    expect(od.ejectedCount).toBe(1);
  });

  it('counts gateway errors separately when configured', () => {
    const clock = new ManualClock(0);
    const gw = resolveOutlierDetection({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 })!;
    const od = new OutlierDetector(gw, { clock, hosts: ['a', 'b'] });
    od.record('a', { kind: 'response', status: 500 });
    od.record('a', { kind: 'response', status: 500 });
    expect(od.isEjected('a')).toBe(false);
    od.record('a', { kind: 'response', status: 503 });
    od.record('a', { kind: 'local-origin-failure' });
    expect(od.isEjected('a')).toBe(true);
  });
});

describe('CircuitBreaker', () => {
  it('refuses over the limit and counts the overflow', () => {
    const cb = new CircuitBreaker({ maxConnections: 1, maxPendingRequests: 1, maxRequests: 2, maxRetries: 1 });
    expect(cb.tryAcquire('requests')).toBe(true);
    expect(cb.tryAcquire('requests')).toBe(true);
    expect(cb.isOpen('requests')).toBe(true);
    expect(cb.tryAcquire('requests')).toBe(false);
    cb.release('requests');
    expect(cb.tryAcquire('requests')).toBe(true);
    expect(cb.stats.overflow.requests).toBe(1);
  });
});

describe('retries', () => {
  it('follows retryOn', () => {
    const p = DEFAULT_RETRY_POLICY;
    expect(shouldRetry(p, { kind: 'connect-failure' }, 1)).toBe(true);
    expect(shouldRetry(p, { kind: 'refused-stream' }, 2)).toBe(true);
    expect(shouldRetry(p, { kind: 'connect-failure' }, 3)).toBe(false); // attempts: 2
    expect(shouldRetry(p, { kind: 'response', status: 503 }, 1)).toBe(false); // no status codes by default
    expect(shouldRetry(p, { kind: 'response', status: 200, grpcStatus: 14 }, 1)).toBe(true); // unavailable
    expect(shouldRetry(null, { kind: 'connect-failure' }, 1)).toBe(false);
    const codes = { ...p, retryOn: 'retriable-status-codes', retriableStatusCodes: [503] };
    expect(shouldRetry(codes, { kind: 'response', status: 503 }, 1)).toBe(true);
    expect(shouldRetry({ ...p, retryOn: 'gateway-error' }, { kind: 'response', status: 500 }, 1)).toBe(false);
    expect(shouldRetry({ ...p, retryOn: '5xx' }, { kind: 'response', status: 500 }, 1)).toBe(true);
  });

  it('backs off with full jitter, exponentially, capped at 10x the base', () => {
    const rng = seededRng(9);
    const max = (attempt: number) => Math.max(...Array.from({ length: 2_000 }, () => retryBackoffMs(attempt, { rng })));
    expect(max(1)).toBeLessThan(25);
    expect(max(1)).toBeGreaterThan(20);
    expect(max(2)).toBeLessThan(75);
    expect(max(3)).toBeLessThan(175);
    expect(max(8)).toBeLessThan(250);
    expect(max(8)).toBeGreaterThan(240);
  });
});

// The candidate index must never change a decision: random tables and requests, indexed against linear scan.
import { seededRng, type Rng } from '@mesh/core';
import { expect, it } from 'vitest';
import { compileRouteTable, type HTTPMatchRequest, type RouteRequest, type VirtualService } from './index.js';

const segs = ['a', 'b', 'api', 'v1', 'v2', 'x', 'A'];
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
const path = (rng: Rng) =>
  `/${Array.from({ length: 1 + Math.floor(rng.next() * 3) }, () => pick(rng, segs)).join('/')}${rng.next() < 0.3 ? '/' : ''}`;

function randomMatch(rng: Rng): HTTPMatchRequest {
  const m: HTTPMatchRequest = {};
  const r = rng.next();
  if (r < 0.25) m.uri = { prefix: path(rng).slice(0, 2 + Math.floor(rng.next() * 6)) };
  else if (r < 0.45) m.uri = { exact: path(rng) };
  else if (r < 0.65) m.uri = { regex: `/${pick(rng, segs)}/(v1|v2|x)(/.*)?` };
  else if (r < 0.75) m.uri = { regex: `.*/${pick(rng, segs)}` };
  if (rng.next() < 0.2) m.ignoreUriCase = true;
  if (rng.next() < 0.3) m.headers = { 'x-h': rng.next() < 0.7 ? { exact: pick(rng, segs) } : { prefix: 'a' } };
  if (rng.next() < 0.1) m.withoutHeaders = { 'x-h': { exact: 'b' } };
  if (rng.next() < 0.1) m.method = { exact: 'POST' };
  return m;
}

it('indexed and linear tables decide alike', () => {
  const rng = seededRng(77);
  for (let t = 0; t < 40; t++) {
    const vs: VirtualService = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'vs', namespace: 'default' },
      spec: {
        hosts: ['svc'],
        http: Array.from({ length: 5 + Math.floor(rng.next() * 40) }, (_, i) => ({
          name: `r${i}`,
          ...(rng.next() < 0.05
            ? {}
            : { match: Array.from({ length: 1 + Math.floor(rng.next() * 2) }, () => randomMatch(rng)) }),
          route: [{ destination: { host: 'svc' } }],
        })),
      },
    };
    const service = { hostname: 'svc.default.svc.cluster.local', namespace: 'default', port: 80 };
    const indexed = compileRouteTable({ service, virtualServices: [vs], index: true });
    const linear = compileRouteTable({ service, virtualServices: [vs], index: false });
    for (let q = 0; q < 200; q++) {
      const req: RouteRequest = {
        method: rng.next() < 0.2 ? 'POST' : 'GET',
        path: `${path(rng)}${rng.next() < 0.2 ? '?k=v' : ''}`,
        headers: rng.next() < 0.5 ? { 'x-h': pick(rng, segs) } : {},
      };
      const a = indexed.route(req, { rng: seededRng(1) });
      const b = linear.route(req, { rng: seededRng(1) });
      expect(a.route?.name ?? null, JSON.stringify(req)).toBe(b.route?.name ?? null);
      expect(a.route?.matchIndex).toBe(b.route?.matchIndex);
    }
  }
});

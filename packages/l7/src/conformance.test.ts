// Runs the vectors in conformance/l7/*.yaml: resources + a request + the expected decision, each case citing its
// source. Weighted picks and fault/mirror percentages are checked with a chi-square bound over fixed-seed draws.
// Cases listed in conformance/l7/known-failures.yaml run as expected failures (a listed case that passes fails).
import { readdirSync, readFileSync } from 'node:fs';
import { MeshError, seededRng, type Rng } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  compileRouteTable,
  compileTcpRouteTable,
  type GatewayTCPRoute,
  parseResources,
  toRouteResult,
  type CompileOptions,
  type DestinationRule,
  type GatewayHTTPRoute,
  type GRPCRoute,
  type L7Resource,
  type RouteRequest,
  type VirtualService,
} from './index.js';

const dir = new URL('../../../conformance/l7/', import.meta.url);

interface Case {
  name: string;
  source: string;
  config?: string;
  service?: CompileOptions['service'];
  proxy?: CompileOptions['proxy'];
  options?: Pick<CompileOptions, 'pathNormalization' | 'rootNamespace'>;
  servicePorts?: Record<string, number[]>;
  /** When set, only these hosts exist (CompileOptions.hostExists). */
  knownHosts?: string[];
  request?: RouteRequest;
  expect?: Record<string, unknown>;
  expectDecision?: Record<string, unknown>;
  expectDiagnostics?: string[];
  expectError?: { code: string; path?: string; message?: string };
  distribution?: { draws: number; seed: number; key: string; expected: Record<string, number> };
  /** An L4 connection (TCP/TLS routes) instead of an HTTP request. */
  connection?: { port?: number };
  expectTcp?: Record<string, unknown>;
}

interface File {
  description?: string;
  defaults?: Partial<Case>;
  cases: Case[];
}

const knownFailures = new Map<string, string>(
  (
    (
      parse(readFileSync(new URL('known-failures.yaml', dir), 'utf8')) as {
        failures?: { case: string; reason: string }[];
      }
    ).failures ?? []
  ).map((f) => [f.case, f.reason]),
);

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && f !== 'known-failures.yaml')
  .sort();

const seen = new Set<string>();

for (const file of files) {
  const data = parse(readFileSync(new URL(file, dir), 'utf8')) as File;
  describe(file, () => {
    for (const raw of data.cases) {
      const c: Case = { ...data.defaults, ...raw } as Case;
      const id = `${file}#${c.name}`;
      if (seen.has(id)) throw new Error(`duplicate case ${id}`);
      seen.add(id);
      const reason = knownFailures.get(id);
      const body = () => runCase(c);
      if (reason) it.fails(`${c.name} (known failure: ${reason})`, body);
      else it(c.name, body);
    }
  });
}

describe('known-failures.yaml', () => {
  it('lists only cases that exist, each with a reason', () => {
    for (const [id, reason] of knownFailures) {
      expect(seen.has(id), `${id} is not a case`).toBe(true);
      expect(reason.length).toBeGreaterThan(10);
    }
  });
});

function runCase(c: Case): void {
  expect(c.source, 'every case cites its source').toBeTruthy();
  let resources: L7Resource[] = [];
  const compile = () => {
    resources = parseResources(c.config ?? '');
    return compileRouteTable({
      service: c.service ?? { hostname: 'reviews.default.svc.cluster.local', namespace: 'default', port: 9080 },
      ...(c.proxy ? { proxy: c.proxy } : {}),
      ...c.options,
      virtualServices: resources.filter((r): r is VirtualService => r.kind === 'VirtualService'),
      destinationRules: resources.filter((r): r is DestinationRule => r.kind === 'DestinationRule'),
      httpRoutes: resources.filter((r): r is GatewayHTTPRoute => r.kind === 'HTTPRoute'),
      grpcRoutes: resources.filter((r): r is GRPCRoute => r.kind === 'GRPCRoute'),
      ...(c.servicePorts ? { servicePorts: (h: string) => c.servicePorts![h] } : {}),
      ...(c.knownHosts ? { hostExists: (h: string) => c.knownHosts!.includes(h) } : {}),
    });
  };
  if (c.expectError) {
    let error: unknown;
    try {
      const table = compile();
      if (c.request) table.route(c.request, { rng: seededRng(1) });
    } catch (e) {
      error = e;
    }
    expect(MeshError.is(error), `expected ${c.expectError.code}, got ${String(error)}`).toBe(true);
    const e = error as MeshError;
    expect(e.code).toBe(c.expectError.code);
    if (c.expectError.path) {
      const issues = (e.details?.issues as { path: string; severity: string }[] | undefined) ?? [];
      const paths = issues.filter((i) => i.severity === 'error').map((i) => i.path);
      expect(paths.length > 0 ? paths : [e.details?.path], e.message).toContain(c.expectError.path);
    }
    if (c.expectError.message) expect(e.message).toContain(c.expectError.message);
    return;
  }
  if (c.connection) {
    resources = parseResources(c.config ?? '');
    const tcp = compileTcpRouteTable({
      service: c.service ?? { hostname: 'reviews.default.svc.cluster.local', namespace: 'default', port: 9080 },
      ...(c.proxy ? { proxyNamespace: c.proxy.namespace } : {}),
      virtualServices: resources.filter((r): r is VirtualService => r.kind === 'VirtualService'),
      destinationRules: resources.filter((r): r is DestinationRule => r.kind === 'DestinationRule'),
      tcpRoutes: resources.filter((r): r is GatewayTCPRoute => r.kind === 'TCPRoute'),
    });
    expect(tcp.route(c.connection, { rng: seededRng(1) })).toMatchObject(c.expectTcp ?? {});
    if (c.distribution) checkDistribution(c, (rng) => tcp.route(c.connection!, { rng }));
    return;
  }
  const table = compile();
  for (const d of c.expectDiagnostics ?? []) {
    expect(table.diagnostics.map((x) => `${x.path ?? ''}: ${x.message}`).join('\n')).toContain(d);
  }
  if (!c.request) return;
  const decision = table.route(c.request, { rng: seededRng(1) });
  if (c.expect) expect(toRouteResult(decision, c.request)).toMatchObject(c.expect);
  if (c.expectDecision) expect(decision).toMatchObject(c.expectDecision);
  if (c.distribution) checkDistribution(c, (rng) => table.route(c.request!, { rng }));
}

/** Chi-square critical values at p = 0.001 by degrees of freedom. */
const CHI2_CRITICAL = [0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88];

function checkDistribution(c: Case, decide: (rng: Rng) => unknown): void {
  const { draws, seed, key, expected } = c.distribution!;
  const rng = seededRng(seed);
  const counts = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const d = decide(rng);
    const value = String(key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | null)?.[k], d));
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  for (const k of counts.keys()) expect(Object.keys(expected), `unexpected outcome ${k}`).toContain(k);
  const categories = Object.entries(expected);
  let chi2 = 0;
  let df = -1;
  for (const [k, p] of categories) {
    const observed = counts.get(k) ?? 0;
    const exp = p * draws;
    if (exp === 0) {
      expect(observed, `${k} should never happen`).toBe(0);
      continue;
    }
    chi2 += (observed - exp) ** 2 / exp;
    df++;
  }
  if (df >= 1)
    expect(chi2, `chi-square ${chi2.toFixed(2)} over ${JSON.stringify(Object.fromEntries(counts))}`).toBeLessThan(
      CHI2_CRITICAL[df]!,
    );
}

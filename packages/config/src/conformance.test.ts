// Runs the worlds under conformance/mesh/: each case's config through the simulator, every request in
// requests.jsonl against the line of expected.jsonl at the same position, and expect-index.yaml against the index.
// Requests listed in conformance/mesh/known-failures.yaml run as expected failures.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Address } from '@mesh/api/istio.workload';
import { MeshError } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createSimulator, type Simulator } from './index.js';

const dir = fileURLToPath(new URL('../../../conformance/mesh/', import.meta.url));

interface CaseMeta {
  description: string;
  sources: string[];
}

interface ExpectIndex {
  workloads?: Record<
    string,
    {
      waypoint?: string | null;
      captured?: boolean;
      services?: Record<string, Record<string, number>>;
      authorizationPolicies?: string[];
    }
  >;
  // wireWaypoint: the `waypoint` GatewayAddress ztunnel gets, as namespace/hostname (or network/ip), or null.
  services?: Record<string, { waypoint?: string | null; wireWaypoint?: string | null; vips?: string[] }>;
  analysis?: string[];
}

const knownFailures = new Map(
  (
    (parse(readFileSync(join(dir, 'known-failures.yaml'), 'utf8')) as { failures?: { case: string; reason: string }[] })
      .failures ?? []
  ).map((f) => [f.case, f.reason]),
);
const seen = new Set<string>();
const cases = readdirSync(dir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

const readJsonl = (file: string): unknown[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
    .map((l) => JSON.parse(l) as unknown);

for (const name of cases) {
  const root = join(dir, name);
  describe(name, () => {
    const meta = parse(readFileSync(join(root, 'case.yaml'), 'utf8')) as CaseMeta;
    let sim: Simulator | undefined;
    const simulator = () => (sim ??= createSimulator({ paths: [join(root, 'config')] }));

    it('describes itself and cites its sources', () => {
      expect(meta.description?.length).toBeGreaterThan(20);
      expect(meta.sources?.length).toBeGreaterThan(0);
    });

    const requests = readJsonl(join(root, 'requests.jsonl')) as { id: string }[];
    const expected = readJsonl(join(root, 'expected.jsonl')) as Record<string, unknown>[];
    it('has one expected line per request', () => expect(expected.length).toBe(requests.length));
    requests.forEach((request, i) => {
      const id = `${name}#${request.id}`;
      seen.add(id);
      const body = () => {
        const want = expected[i]!;
        if (typeof want.error === 'string') {
          let error: unknown;
          try {
            simulator().check(request);
          } catch (e) {
            error = e;
          }
          expect(MeshError.is(error, want.error), String(error)).toBe(true);
          if (typeof want.message === 'string') expect((error as Error).message).toContain(want.message);
          return;
        }
        const got = simulator().check(request) as unknown as Record<string, unknown>;
        const compare = { ...got };
        if (!('reason' in want)) delete compare.reason;
        expect(compare).toEqual(want);
      };
      const reason = knownFailures.get(id);
      if (reason) it.fails(`${request.id} (known failure: ${reason})`, body);
      else it(request.id, body);
    });

    if (existsSync(join(root, 'expect-index.yaml'))) {
      const want = parse(readFileSync(join(root, 'expect-index.yaml'), 'utf8')) as ExpectIndex;
      it('index: workloads, services and analysis', () => {
        const index = simulator().index;
        for (const [uid, w] of Object.entries(want.workloads ?? {})) {
          const got = index.workload(uid);
          expect(got, `workload ${uid}`).toBeDefined();
          if (w.waypoint !== undefined)
            expect(got!.waypoint ? `${got!.waypoint.namespace}/${got!.waypoint.name}` : null, `${uid} waypoint`).toBe(
              w.waypoint,
            );
          if (w.captured !== undefined) expect(got!.captured, `${uid} captured`).toBe(w.captured);
          if (w.services)
            expect(
              Object.fromEntries(
                [...got!.services].map(([k, m]) => [k, Object.fromEntries([...m].map(([a, b]) => [String(a), b]))]),
              ),
              `${uid} services`,
            ).toEqual(w.services);
          if (w.authorizationPolicies)
            expect(got!.authorizationPolicies, `${uid} policies`).toEqual(w.authorizationPolicies);
        }
        for (const [resourceName, s] of Object.entries(want.services ?? {})) {
          const got = index.services().find((x) => x.resourceName === resourceName);
          expect(got, `service ${resourceName}`).toBeDefined();
          if (s.waypoint !== undefined)
            expect(
              got!.waypoint ? `${got!.waypoint.namespace}/${got!.waypoint.name}` : null,
              `${resourceName} waypoint`,
            ).toBe(s.waypoint);
          if (s.wireWaypoint !== undefined) {
            const g = Address.decode(index.address(resourceName)!.encoded).service?.waypoint;
            const wire = g?.hostname
              ? `${g.hostname.namespace}/${g.hostname.hostname}`
              : g?.address
                ? `${g.address.network}/${g.address.address.join('.')}`
                : null;
            expect(wire, `${resourceName} waypoint on the wire`).toBe(s.wireWaypoint);
          }
          if (s.vips) expect(got!.vips, `${resourceName} vips`).toEqual(s.vips);
        }
        if (want.analysis)
          expect(
            simulator()
              .analyze()
              .map((m) => `${m.code} ${m.resource}`)
              .sort(),
          ).toEqual([...want.analysis].sort());
      });
    }
  });
}

describe('known-failures.yaml', () => {
  it('lists only requests that exist, each with a reason', () => {
    for (const [id, reason] of knownFailures) {
      expect(seen.has(id), `${id} is not a request of any case`).toBe(true);
      expect(reason.length).toBeGreaterThan(10);
    }
  });
});

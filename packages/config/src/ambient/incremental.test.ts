// Incremental recomputation must give exactly what a from-scratch build gives: a seeded random sequence of adds,
// updates and deletes across every kind the index reads, checked against a fresh index after every step, with the
// reported changes checked against the difference of the two states (waypoint reports: a superset of the waypoints
// whose served config changed).
import { seededRng } from '@mesh/core';
import { describe, expect, it } from 'vitest';
import { AmbientIndex, MemoryStore, type ConfigEvent } from '../index.js';

const NS = ['a', 'b', 'istio-system'];
const APPS = ['web', 'api', 'db'];

function randomObject(rng: { next(): number }): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  const ns = pick(NS);
  const app = pick(APPS);
  const n = Math.floor(rng.next() * 4);
  switch (Math.floor(rng.next() * 13)) {
    case 0:
      return {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: ns,
          labels: {
            ...(rng.next() < 0.7 ? { 'istio.io/dataplane-mode': 'ambient' } : {}),
            ...(rng.next() < 0.5 ? { 'istio.io/use-waypoint': pick(['wp', 'wl', 'missing', 'none']) } : {}),
          },
        },
      };
    case 1:
    case 2:
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${app}-${n}`,
          namespace: ns,
          labels: {
            app,
            version: `v${n % 2}`,
            ...(rng.next() < 0.2 ? { 'istio.io/use-waypoint': pick(['wl', 'ghost']) } : {}),
          },
        },
        spec: {
          serviceAccountName: app,
          nodeName: `node-${n % 2}`,
          containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8000 + n }] }],
        },
        status: { podIP: `10.${NS.indexOf(ns)}.${APPS.indexOf(app)}.${n + (rng.next() < 0.3 ? 10 : 0)}` },
      };
    case 3:
      return {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: app,
          namespace: ns,
          labels: rng.next() < 0.3 ? { 'istio.io/use-waypoint': pick(['wp', 'none']) } : {},
        },
        spec: {
          selector: { app: rng.next() < 0.8 ? app : pick(APPS) },
          ...(rng.next() < 0.5 ? { clusterIP: `10.96.${NS.indexOf(ns)}.${APPS.indexOf(app) + 1}` } : {}),
          ports: [{ name: 'http', port: 80, targetPort: rng.next() < 0.5 ? 'http' : 8080 }],
        },
      };
    case 4:
      return {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: {
          name: pick(['wp', 'wl']),
          namespace: ns,
          labels: rng.next() < 0.5 ? { 'istio.io/waypoint-for': pick(['workload', 'all', 'service']) } : {},
        },
        spec: {
          gatewayClassName: rng.next() < 0.9 ? 'istio-waypoint' : 'istio',
          listeners: [{ name: 'mesh', port: 15008, protocol: rng.next() < 0.9 ? 'HBONE' : 'HTTP' }],
        },
      };
    case 5:
      return {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: `p-${n}`, namespace: ns },
        spec: {
          ...(rng.next() < 0.7 ? { selector: { matchLabels: { app } } } : {}),
          rules: [{ from: [{ source: { namespaces: [pick(NS)] } }] }],
        },
      };
    case 6:
      return {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: `pa-${n % 2}`, namespace: ns },
        spec: {
          ...(rng.next() < 0.5 ? { selector: { matchLabels: { app } } } : {}),
          mtls: { mode: pick(['STRICT', 'PERMISSIVE']) },
        },
      };
    case 7:
      return {
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        metadata: { name: `vm-${n}`, namespace: ns },
        spec: {
          address: `192.168.${NS.indexOf(ns)}.${n}`,
          labels: { app, ...(rng.next() < 0.5 ? { 'networking.istio.io/tunnel': 'http' } : {}) },
          ports: { http: 9000 },
        },
      };
    case 10:
      return {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: `vs-${n % 2}`, namespace: ns },
        spec: {
          hosts: [app],
          http: [{ route: [{ destination: { host: pick(APPS), ...(rng.next() < 0.5 ? { subset: 'v1' } : {}) } }] }],
        },
      };
    case 11:
      return {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: `dr-${app}`, namespace: ns },
        spec: {
          host: app,
          subsets: [{ name: 'v1', labels: { version: 'v1' } }],
          trafficPolicy: { loadBalancer: { simple: pick(['ROUND_ROBIN', 'RANDOM']) } },
        },
      };
    case 12:
      return {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: `l7-${n % 2}`, namespace: ns },
        spec: {
          targetRefs: [
            rng.next() < 0.5
              ? { kind: 'Service', group: '', name: app }
              : { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: pick(['wp', 'wl']) },
          ],
          rules: [{ to: [{ operation: { methods: [pick(['GET', 'POST'])] } }] }],
        },
      };
    case 9:
      return {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: `node-${n % 2}`,
          labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': pick(['a', 'b']) },
        },
      };
    default:
      return {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: `se-${n % 2}`, namespace: ns },
        spec: {
          hosts: [`${app}.example.com`],
          resolution: pick(['STATIC', 'DNS', 'NONE']),
          ports: [{ number: 80, name: 'http' }],
          ...(rng.next() < 0.5
            ? { workloadSelector: { labels: { app } } }
            : { endpoints: [{ address: `203.0.113.${n}` }] }),
        },
      };
  }
}

const snapshot = (i: AmbientIndex) => ({
  addresses: new Map(i.addresses().map((r) => [r.name, r.version])),
  authorizations: new Map(i.authorizations().map((r) => [r.name, r.version])),
});

/** What a waypoint is served, as text: bound services with their route tables, and the attached policies. */
function waypointFingerprints(i: AmbientIndex): Map<string, string> {
  const out = new Map<string, string>();
  for (const wp of i.waypoints()) {
    const c = i.waypointConfig(wp.namespace, wp.name)!;
    out.set(
      wp.key,
      JSON.stringify({
        services: c.services.map((s) => [
          s.service.resourceName,
          s.service.vips,
          s.service.ports,
          s.routes.map((r) => [
            r.port,
            r.table.routes,
            r.table.diagnostics,
            r.table.route({ method: 'GET', path: '/' }, { rng: { next: () => 0.5 } }).backends,
          ]),
        ]),
        policies: c.authorizationPolicies.map((p) => [p.metadata.name, p.spec]),
      }),
    );
  }
  return out;
}

describe('incremental index', () => {
  it('equals a from-scratch build after every step of a random sequence, and reports exactly the differences', () => {
    for (const seed of [1, 2, 3, 4]) {
      const rng = seededRng(seed);
      const store = new MemoryStore();
      const index = new AmbientIndex();
      for (let step = 0; step < 150; step++) {
        const before = snapshot(index);
        const fingerprintsBefore = waypointFingerprints(AmbientIndex.from(store.list()));
        let events: ConfigEvent[];
        const existing = store.list();
        if (existing.length > 0 && rng.next() < 0.2)
          events = store.delete(existing[Math.floor(rng.next() * existing.length)]!.key);
        else events = store.apply([randomObject(rng)]).events;
        const changes = index.apply(events);
        const after = snapshot(index);
        // Allocated VIPs depend on allocation history only through collisions, which this world does not have.
        const freshIndex = AmbientIndex.from(store.list());
        const fresh = snapshot(freshIndex);
        // Waypoint reports are a superset of the waypoints whose served config changed.
        const fingerprintsAfter = waypointFingerprints(freshIndex);
        for (const [key, f] of fingerprintsAfter)
          if (fingerprintsBefore.get(key) !== f)
            expect(changes.waypoints.updated, `seed ${seed} step ${step}: waypoint ${key} changed`).toContain(key);
        for (const key of fingerprintsBefore.keys())
          if (!fingerprintsAfter.has(key))
            expect(changes.waypoints.removed, `seed ${seed} step ${step}`).toContain(key);
        const where = `seed ${seed} step ${step}`;
        expect([...after.addresses], where).toEqual([...fresh.addresses].sort((x, y) => (x[0] < y[0] ? -1 : 1)));
        expect([...after.authorizations], where).toEqual(
          [...fresh.authorizations].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
        );
        for (const [kind, key] of [
          ['addresses', 'addresses'],
          ['authorizations', 'authorizations'],
        ] as const) {
          const b = before[key];
          const a = after[key];
          const updated = [...a]
            .filter(([n, v]) => b.get(n) !== v)
            .map(([n]) => n)
            .sort();
          const removed = [...b.keys()].filter((n) => !a.has(n)).sort();
          expect(
            { updated: [...changes[kind].updated], removed: [...changes[kind].removed] },
            `${where} ${kind}`,
          ).toEqual({ updated, removed });
        }
      }
    }
  });
});

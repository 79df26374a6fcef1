import { Address } from '@mesh/api/istio.workload';
import { describe, expect, it } from 'vitest';
import { AmbientIndex, MemoryStore, type ConfigObject } from '../index.js';

const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const pod = (name: string, ip: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels },
  spec: { serviceAccountName: 'web', nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { podIP: ip },
  ...extra,
});
const svc = (name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop', labels },
  spec,
});
const waypoint = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name, namespace: 'shop', labels },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
});

function world(objects: unknown[]) {
  const store = new MemoryStore({ initial: objects });
  const index = AmbientIndex.from(store.list());
  return { store, index };
}

describe('enrollment', () => {
  it('captures pods by namespace or pod label; none, sidecars and host network opt out', () => {
    const { index } = world([
      ns('shop', { 'istio.io/dataplane-mode': 'ambient' }),
      pod('a', '10.0.0.1'),
      pod('b', '10.0.0.2', { 'istio.io/dataplane-mode': 'none' }),
      pod('c', '10.0.0.3', { 'sidecar.istio.io/inject': 'true' }),
      pod('d', '10.0.0.4', {}, { spec: { hostNetwork: true } }),
    ]);
    const captured = Object.fromEntries(index.workloads().map((w) => [w.name, w.captured]));
    expect(captured).toEqual({ a: true, b: false, c: false, d: false });
    const a = index.address('Kubernetes//Pod/shop/a')!;
    expect(a.aliases).toEqual(['/10.0.0.1']);
    const decoded = Address.decode(a.encoded);
    expect(decoded.workload?.tunnelProtocol).toBe(1);
    expect(decoded.workload?.serviceAccount).toBe('web');
    expect(decoded.workload?.trustDomain).toBe(''); // elided: the mesh default
    expect(decoded.workload?.node).toBe('node-1');
  });

  it('skips pods without an IP and finished pods; not-ready pods are UNHEALTHY', () => {
    const { index } = world([
      pod('pending', ''),
      pod('done', '10.0.0.5', {}, { status: { podIP: '10.0.0.5', phase: 'Succeeded' } }),
      pod('starting', '10.0.0.6', {}, { status: { podIP: '10.0.0.6', conditions: [{ type: 'Ready', status: 'False' }] } }),
    ]);
    expect(index.workloads().map((w) => [w.name, w.healthy])).toEqual([['starting', false]]);
  });
});

describe('services', () => {
  it('resolves named target ports per pod and allocates VIPs deterministically', () => {
    const objects = [pod('a', '10.0.0.1', { app: 'web' }), svc('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] })];
    const first = world(objects).index;
    const second = world([...objects].reverse()).index;
    const w = first.workload('Kubernetes//Pod/shop/a')!;
    expect([...w.services.get('shop/web.shop.svc.cluster.local')!]).toEqual([[80, 8080]]);
    const s = first.service('shop', 'web')!;
    expect(s.allocated).toBe(true);
    expect(s.vips).toEqual(second.service('shop', 'web')!.vips);
    expect(s.vips[0]).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./);
    expect(first.lookup(`/${s.vips[0]}`).map((r) => r.name)).toEqual(['shop/web.shop.svc.cluster.local']);
    const decoded = Address.decode(first.address('shop/web.shop.svc.cluster.local')!.encoded);
    expect(decoded.service?.ports.map((p) => [p.servicePort, p.targetPort])).toEqual([[80, 0]]); // named: per workload
  });

  it('keeps headless services without VIPs', () => {
    const { index } = world([svc('db', { clusterIP: 'None', ports: [{ port: 5432 }] })]);
    expect(index.service('shop', 'db')!.vips).toEqual([]);
  });
});

describe('waypoints', () => {
  it('binds services by namespace label, pods only to workload waypoints, and reports the gateway address', () => {
    const { index } = world([
      ns('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' }),
      waypoint('wp'),
      waypoint('wl', { 'istio.io/waypoint-for': 'workload' }),
      svc('web', { selector: { app: 'web' }, clusterIP: '10.96.0.9', ports: [{ port: 80 }] }),
      pod('a', '10.0.0.1', { app: 'web' }),
      pod('b', '10.0.0.2', { app: 'web', 'istio.io/use-waypoint': 'wl' }),
    ]);
    expect(index.service('shop', 'web')!.waypoint).toEqual({ namespace: 'shop', name: 'wp' });
    expect(index.workload('Kubernetes//Pod/shop/a')!.waypoint).toBeNull();
    expect(index.workload('Kubernetes//Pod/shop/b')!.waypoint).toEqual({ namespace: 'shop', name: 'wl' });
    const service = Address.decode(index.address('shop/web.shop.svc.cluster.local')!.encoded).service!;
    expect(service.waypoint?.hostname).toEqual({ namespace: 'shop', hostname: 'wp.shop.svc.cluster.local' });
    expect(service.waypoint?.hboneMtlsPort).toBe(15008);
    expect(index.waypoint('shop', 'wp')!.services).toEqual(['shop/web.shop.svc.cluster.local']);
    expect(index.waypoint('shop', 'wl')!.workloads).toEqual(['Kubernetes//Pod/shop/b']);
  });
});

describe('incremental changes', () => {
  const base = () =>
    world([
      ns('shop', { 'istio.io/dataplane-mode': 'ambient' }),
      svc('web', { selector: { app: 'web' }, clusterIP: '10.96.0.9', ports: [{ port: 80 }] }),
      pod('a', '10.0.0.1', { app: 'web' }),
      pod('b', '10.0.0.2', { app: 'web' }),
    ]);

  it('a pod change reports only that workload; an identical re-apply reports nothing', () => {
    const { store, index } = base();
    const events = store.apply([pod('a', '10.0.0.7', { app: 'web' })]).events;
    expect(index.apply(events)).toEqual({
      addresses: { updated: ['Kubernetes//Pod/shop/a'], removed: [] },
      authorizations: { updated: [], removed: [] },
      waypoints: { updated: [], removed: [] },
    });
    expect(index.lookup('/10.0.0.7').map((r) => r.name)).toEqual(['Kubernetes//Pod/shop/a']);
    expect(index.lookup('/10.0.0.1')).toEqual([]);
    expect(index.apply(store.apply([pod('a', '10.0.0.7', { app: 'web' })]).events).addresses.updated).toEqual([]);
  });

  it('a deleted pod is removed; a policy update changes the selected workloads and the Authorization', () => {
    const { store, index } = base();
    expect(index.apply(store.delete('Pod/shop/b')).addresses).toEqual({ updated: [], removed: ['Kubernetes//Pod/shop/b'] });
    const policy = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'web' } }, rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] },
    };
    const changes = index.apply(store.apply([policy]).events);
    expect(changes.authorizations.updated).toEqual(['shop/web']);
    expect(changes.addresses.updated).toEqual(['Kubernetes//Pod/shop/a']);
    expect(index.workload('Kubernetes//Pod/shop/a')!.authorizationPolicies).toEqual(['shop/web']);
    expect(index.apply(store.delete('AuthorizationPolicy/shop/web')).authorizations.removed).toEqual(['shop/web']);
  });

  it('a namespace waypoint label appearing updates the service and reports the waypoint', () => {
    const { store, index } = base();
    index.apply(store.apply([waypoint('wp')]).events);
    const changes = index.apply(store.apply([ns('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' })]).events);
    expect(changes.addresses.updated).toEqual(['shop/web.shop.svc.cluster.local']);
    expect(changes.waypoints.updated).toEqual(['shop/wp']);
  });

  it('a Gateway created after the label is picked up (dependency tracking)', () => {
    const { store, index } = world([
      ns('shop', { 'istio.io/use-waypoint': 'late' }),
      svc('web', { clusterIP: '10.96.0.9', ports: [{ port: 80 }] }),
    ]);
    expect(index.service('shop', 'web')!.waypointProblem?.kind).toBe('missing');
    const changes = index.apply(store.apply([waypoint('late')]).events);
    expect(changes.addresses.updated).toEqual(['shop/web.shop.svc.cluster.local']);
    expect(index.service('shop', 'web')!.waypoint).toEqual({ namespace: 'shop', name: 'late' });
  });

  it('matches a from-scratch build after a sequence of changes', () => {
    const { store, index } = base();
    const steps: unknown[][] = [
      [pod('c', '10.0.0.3', { app: 'web' })],
      [svc('web', { selector: { app: 'other' }, clusterIP: '10.96.0.9', ports: [{ port: 80 }] })],
      [pod('c', '10.0.0.3', { app: 'other' }), waypoint('wp')],
      [ns('shop', { 'istio.io/use-waypoint': 'wp' })],
    ];
    for (const s of steps) index.apply(store.apply(s).events);
    const fresh = AmbientIndex.from(store.list() as ConfigObject[]);
    const summary = (i: AmbientIndex) => i.addresses().map((r) => [r.name, r.version]);
    expect(summary(index)).toEqual(summary(fresh));
  });
});

import { Address } from '@mesh/api/istio.workload';
import { describe, expect, it } from 'vitest';
import { AmbientIndex, followStore, MemoryStore, type ConfigObject, type IndexChanges } from '../index.js';

const ns = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});
const pod = (name: string, ip: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels },
  spec: {
    serviceAccountName: 'web',
    nodeName: 'node-1',
    containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
  },
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

const summary = (i: AmbientIndex) => i.addresses().map((r) => [r.name, r.version]);

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
      pod(
        'starting',
        '10.0.0.6',
        {},
        { status: { podIP: '10.0.0.6', conditions: [{ type: 'Ready', status: 'False' }] } },
      ),
    ]);
    expect(index.workloads().map((w) => [w.name, w.healthy])).toEqual([['starting', false]]);
  });
});

describe('services', () => {
  it('resolves named target ports per pod and allocates VIPs deterministically', () => {
    const objects = [
      pod('a', '10.0.0.1', { app: 'web' }),
      svc('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
    ];
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

  it('a use-waypoint label naming a missing Gateway keeps an unresolvable waypoint on the wire (fail closed)', () => {
    const { index } = world([
      ns('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'ghost' }),
      svc('web', { selector: { app: 'web' }, clusterIP: '10.96.0.9', ports: [{ port: 80 }] }),
      svc(
        'typo',
        { selector: { app: 'web' }, clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
        { 'istio.io/use-waypoint': 'waypiont' },
      ),
      svc(
        'out',
        { selector: { app: 'web' }, clusterIP: '10.96.0.11', ports: [{ port: 80 }] },
        { 'istio.io/use-waypoint': 'none' },
      ),
      pod('a', '10.0.0.1', { app: 'web' }),
      pod('b', '10.0.0.2', { app: 'web', 'istio.io/use-waypoint': 'gone' }),
    ]);
    const wire = (name: string) => Address.decode(index.address(name)!.encoded);
    const web = index.service('shop', 'web')!;
    expect(web.waypoint).toBeNull();
    expect(web.waypointProblem).toMatchObject({ kind: 'missing', via: 'namespace' });
    expect(web.waypointProblem!.message).toContain('ztunnel refuses the traffic rather than bypass the waypoint');
    expect(wire('shop/web.shop.svc.cluster.local').service!.waypoint).toEqual({
      hostname: { namespace: 'shop', hostname: 'ghost.shop.svc.cluster.local' },
      hboneMtlsPort: 15008,
    });
    expect(wire('shop/typo.shop.svc.cluster.local').service!.waypoint?.hostname?.hostname).toBe(
      'waypiont.shop.svc.cluster.local',
    );
    // The opt-out still opts out: no waypoint and no problem.
    expect(index.service('shop', 'out')!.waypointProblem).toBeNull();
    expect(wire('shop/out.shop.svc.cluster.local').service!.waypoint).toBeNull();
    // Workloads do not inherit the namespace's waypoint; their own label does fail closed.
    expect(wire('Kubernetes//Pod/shop/a').workload!.waypoint).toBeNull();
    expect(index.workload('Kubernetes//Pod/shop/a')!.waypointProblem!.message).not.toContain('refuses');
    expect(wire('Kubernetes//Pod/shop/b').workload!.waypoint?.hostname?.hostname).toBe('gone.shop.svc.cluster.local');
  });
});

describe('service entries', () => {
  it('gives a DNS ServiceEntry without endpoints one hostname workload per host, and an auto-allocated VIP', () => {
    const { index } = world([
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'ext', namespace: 'shop' },
        spec: {
          hosts: ['api.example.com', 'cdn.example.com'],
          resolution: 'DNS',
          ports: [{ number: 443, name: 'https', protocol: 'TLS' }],
        },
      },
    ]);
    const w = index.workload('Kubernetes/networking.istio.io/ServiceEntry/shop/ext/api.example.com')!;
    expect(w.ips).toEqual([]);
    expect([...w.services.keys()]).toEqual(['shop/api.example.com']);
    const decoded = Address.decode(index.address(w.uid)!.encoded).workload!;
    expect(decoded.hostname).toBe('api.example.com');
    expect(index.service('shop', 'ext')!.vips[0]).toMatch(/^240\.240\./);
    expect(index.workloads()).toHaveLength(2);
  });

  it('treats a pod with the istio-cni redirection annotation as captured', () => {
    const { index } = world([
      pod(
        'a',
        '10.0.0.1',
        {},
        { metadata: { name: 'a', namespace: 'shop', annotations: { 'ambient.istio.io/redirection': 'enabled' } } },
      ),
    ]);
    expect(index.workload('Kubernetes//Pod/shop/a')!.captured).toBe(true);
  });
});

describe('waypoint config', () => {
  it('lists the bound services with route tables and the attached policies', () => {
    const { index } = world([
      ns('shop', { 'istio.io/use-waypoint': 'wp' }),
      waypoint('wp'),
      svc('web', {
        clusterIP: '10.96.0.9',
        ports: [{ port: 80 }, { name: 'grpc', port: 9090 }].map((p, i) => ({ name: i ? 'grpc' : 'http', ...p })),
      }),
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'web-get', namespace: 'shop' },
        spec: {
          targetRefs: [{ kind: 'Service', group: '', name: 'web' }],
          rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
        },
      },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'selector', namespace: 'shop' },
        spec: { selector: { matchLabels: { app: 'web' } }, rules: [{}] },
      },
    ]);
    const config = index.waypointConfig('shop', 'wp')!;
    expect(config.services.map((s) => [s.service.name, s.routes.map((r) => r.port)])).toEqual([['web', [80, 9090]]]);
    expect(config.services[0]!.routes[0]!.table.source).toBe('default');
    expect(config.authorizationPolicies.map((p) => p.metadata.name)).toEqual(['web-get']);
    expect(index.waypointConfig('shop', 'nope')).toBeUndefined();
  });
});

describe('waypoint attachment and addresses', () => {
  it('honours the HBONE listener allowedRoutes (Selector), and prefers a status Hostname over an IP', () => {
    const gw = (name: string, listener: Record<string, unknown>, status?: unknown) => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name, namespace: 'infra' },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE', ...listener }],
      },
      ...(status ? { status } : {}),
    });
    const { index } = world([
      ns('infra'),
      ns('shop', { team: 'a', 'istio.io/use-waypoint': 'shared', 'istio.io/use-waypoint-namespace': 'infra' }),
      ns('other', { team: 'b', 'istio.io/use-waypoint': 'shared', 'istio.io/use-waypoint-namespace': 'infra' }),
      gw(
        'shared',
        {
          allowedRoutes: {
            namespaces: {
              from: 'Selector',
              selector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] },
            },
          },
        },
        {
          addresses: [
            { type: 'IPAddress', value: '10.96.7.7' },
            { type: 'Hostname', value: 'shared.infra.svc.cluster.local' },
          ],
        },
      ),
      svc('web', { clusterIP: '10.96.0.9', ports: [{ port: 80 }] }),
      {
        ...svc('web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }),
        metadata: { name: 'web', namespace: 'other' },
      },
    ]);
    expect(index.service('shop', 'web')!.waypoint).toEqual({ namespace: 'infra', name: 'shared' });
    expect(index.service('other', 'web')!.waypointProblem?.kind).toBe('attachment-denied');
    const service = Address.decode(index.address('shop/web.shop.svc.cluster.local')!.encoded).service!;
    expect(service.waypoint?.hostname?.hostname).toBe('shared.infra.svc.cluster.local');
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
    expect(index.apply(store.delete('Pod/shop/b')).addresses).toEqual({
      updated: [],
      removed: ['Kubernetes//Pod/shop/b'],
    });
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

  it('deleting a Service removes its Address and its membership in the workloads', () => {
    const { store, index } = base();
    const changes = index.apply(store.delete('Service/shop/web'));
    expect(changes.addresses).toEqual({
      updated: ['Kubernetes//Pod/shop/a', 'Kubernetes//Pod/shop/b'],
      removed: ['shop/web.shop.svc.cluster.local'],
    });
    expect(index.lookup('/10.96.0.9')).toEqual([]);
    expect(index.workload('Kubernetes//Pod/shop/a')!.services.size).toBe(0);
  });

  it('a namespace waypoint label appearing updates the service and reports the waypoint', () => {
    const { store, index } = base();
    index.apply(store.apply([waypoint('wp')]).events);
    const changes = index.apply(
      store.apply([ns('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' })]).events,
    );
    expect(changes.addresses.updated).toEqual(['shop/web.shop.svc.cluster.local']);
    expect(changes.waypoints.updated).toEqual(['shop/wp']);
  });

  it('a Gateway created after the label is picked up (dependency tracking)', () => {
    const { store, index } = world([
      ns('shop', { 'istio.io/use-waypoint': 'late' }),
      svc('web', { clusterIP: '10.96.0.9', ports: [{ port: 80 }] }),
    ]);
    expect(index.service('shop', 'web')!.waypointProblem?.kind).toBe('missing');
    const wire = () => Address.decode(index.address('shop/web.shop.svc.cluster.local')!.encoded).service!.waypoint;
    // Fail closed: while the Gateway is missing, ztunnel already gets the waypoint's hostname (which it cannot resolve).
    expect(wire()?.hostname).toEqual({ namespace: 'shop', hostname: 'late.shop.svc.cluster.local' });
    const changes = index.apply(store.apply([waypoint('late')]).events);
    expect(index.service('shop', 'web')!.waypoint).toEqual({ namespace: 'shop', name: 'late' });
    expect(index.service('shop', 'web')!.waypointProblem).toBeNull();
    // The Address ztunnel has is the same: nothing to resend; ztunnel resolves the hostname once the waypoint runs.
    expect(changes.addresses.updated).toEqual([]);
    expect(changes.waypoints.updated).toEqual(['shop/late']);
    expect(wire()?.hostname).toEqual({ namespace: 'shop', hostname: 'late.shop.svc.cluster.local' });
    expect(summary(index)).toEqual(summary(AmbientIndex.from(store.list() as ConfigObject[])));
  });

  it('a waypoint Gateway deleted later fails closed, and the incremental index equals a from-scratch build', () => {
    const { store, index } = world([
      ns('shop', { 'istio.io/dataplane-mode': 'ambient' }),
      waypoint('wp'),
      svc(
        'web',
        { selector: { app: 'web' }, clusterIP: '10.96.0.9', ports: [{ port: 80 }] },
        { 'istio.io/use-waypoint': 'wp' },
      ),
      pod('a', '10.0.0.1', { app: 'web' }),
    ]);
    index.apply(store.delete('Gateway/shop/wp'));
    expect(index.service('shop', 'web')!.waypoint).toBeNull();
    expect(index.service('shop', 'web')!.waypointProblem?.kind).toBe('missing');
    const service = Address.decode(index.address('shop/web.shop.svc.cluster.local')!.encoded).service!;
    expect(service.waypoint?.hostname).toEqual({ namespace: 'shop', hostname: 'wp.shop.svc.cluster.local' });
    expect(summary(index)).toEqual(summary(AmbientIndex.from(store.list() as ConfigObject[])));
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
    expect(summary(index)).toEqual(summary(fresh));
  });
});

describe('followStore', () => {
  it('builds the index from the store and reports each batch until stopped', () => {
    const store = new MemoryStore({
      initial: [ns('shop', { 'istio.io/dataplane-mode': 'ambient' }), pod('a', '10.0.0.1')],
    });
    const seen: IndexChanges[] = [];
    const controller = new AbortController();
    const follower = followStore(store, { onChange: (c) => seen.push(c), signal: controller.signal });
    expect(follower.index.workloads().map((w) => w.name)).toEqual(['a']);
    store.apply([pod('b', '10.0.0.2')]);
    expect(seen.map((c) => c.addresses.updated)).toEqual([['Kubernetes//Pod/shop/b']]);
    controller.abort();
    store.apply([pod('c', '10.0.0.3')]);
    expect(seen).toHaveLength(1);
    expect(follower.index.workload('Kubernetes//Pod/shop/c')).toBeUndefined();
  });
});

describe('per-waypoint change reporting', () => {
  const vs = (name: string, host: string, dest: string) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'shop' },
    spec: { hosts: [host], http: [{ route: [{ destination: { host: dest } }] }] },
  });
  const base = () =>
    world([
      ns('shop'),
      waypoint('wp-a'),
      waypoint('wp-b'),
      svc('a', { clusterIP: '10.96.0.1', ports: [{ port: 80 }] }, { 'istio.io/use-waypoint': 'wp-a' }),
      svc('b', { clusterIP: '10.96.0.2', ports: [{ port: 80 }] }, { 'istio.io/use-waypoint': 'wp-b' }),
      svc('c', { clusterIP: '10.96.0.3', ports: [{ port: 80 }] }),
    ]);

  it('a VirtualService reports the waypoint of its host only', () => {
    const { store, index } = base();
    expect(index.apply(store.apply([vs('a', 'a', 'c')]).events).waypoints).toEqual({
      updated: ['shop/wp-a'],
      removed: [],
    });
  });

  it('a DestinationRule reports the waypoints that route to its host', () => {
    const { store, index } = base();
    index.apply(store.apply([vs('a', 'a', 'c')]).events);
    const dr = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'c', namespace: 'shop' },
      spec: { host: 'c' },
    };
    expect(index.apply(store.apply([dr]).events).waypoints.updated).toEqual(['shop/wp-a']);
  });

  it('a targetRefs policy reports its waypoint; a selector policy none; a wildcard host all', () => {
    const { store, index } = base();
    const policy = (name: string, spec: Record<string, unknown>) => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name, namespace: 'shop' },
      spec,
    });
    expect(
      index.apply(
        store.apply([policy('p', { targetRefs: [{ kind: 'Service', group: '', name: 'b' }], rules: [{}] })]).events,
      ).waypoints.updated,
    ).toEqual(['shop/wp-b']);
    expect(
      index.apply(store.apply([policy('q', { selector: { matchLabels: { app: 'x' } }, rules: [{}] })]).events).waypoints
        .updated,
    ).toEqual([]);
    expect(index.apply(store.apply([vs('any', '*.example.com', 'c')]).events).waypoints.updated).toEqual([
      'shop/wp-a',
      'shop/wp-b',
    ]);
  });
});

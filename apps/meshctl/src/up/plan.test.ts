import { describe, expect, it } from 'vitest';
import { loadText } from '@mesh/config';
import { createSimulator } from '@mesh/config';
import { istiodProvider, planMesh, waypointObjects, waypointProvider, ztunnelProvider, type UpPaths } from './plan.js';

const CONFIG = `
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 127.12.0.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: Hostname, address: a}, {type: InternalIP, address: 127.12.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: far}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.12.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: lost-1, namespace: shop}
spec: {nodeName: node-z, containers: [{name: lost}]}
status: {podIP: 127.12.1.11}
`;

const paths: UpPaths = {
  configDir: '/c',
  caDir: '/s/ca',
  tokenFile: (n) => `/s/tokens/${n}.jwt`,
  waypointTokenFile: (ns, n) => `/s/tokens/waypoint-${ns}-${n}.jwt`,
  logFile: (n) => `/s/logs/${n}.log`,
  generatedDir: '/s/generated',
  istiodBin: '/apps/istiod/bin/istiod.mjs',
  ztunnelBin: '/apps/ztunnel/bin/ztunnel.mjs',
  waypointBin: '/apps/waypoint/bin/waypoint.mjs',
};
const addr = { grpc: '127.0.0.1:15010', secureGrpc: '127.0.0.1:15012', monitoring: '127.0.0.1:15014' };

describe('planMesh', () => {
  it('takes one ztunnel per Node with a loopback InternalIP and says why others get none', () => {
    const plan = planMesh(loadText(CONFIG).objects);
    expect(plan.nodes).toEqual([
      { name: 'node-a', ip: '127.12.0.1' },
      { name: 'node-b', ip: '127.12.0.2' },
    ]);
    expect(plan.pods.map((p) => `${p.node}/${p.name}@${p.ip} as ${p.serviceAccount}`)).toEqual([
      'node-a/web-1@127.12.1.10 as web',
      'node-z/lost-1@127.12.1.11 as default',
    ]);
    expect(plan.warnings).toEqual([
      'Node far: InternalIP 10.0.0.1 is not in 127.0.0.0/8 (the local mesh is loopback only): no ztunnel for it',
      'Pod shop/lost-1 is on node node-z, which has no ztunnel',
    ]);
  });

  it('makes process specs: istiod first (tier 0), then a ztunnel per node with its token and the CA root', () => {
    const plan = planMesh(loadText(CONFIG).objects);
    const options = { logLevel: 'info', certTtl: '1h', drainTimeout: '5s' };
    const [istiod] = istiodProvider(plan, paths, addr, options);
    expect(istiod).toMatchObject({ name: 'istiod', tier: 0, readyMessage: 'istiod ready' });
    expect(istiod!.args).toEqual(
      expect.arrayContaining([
        '--config-dir',
        '/c,/s/generated',
        '--ca-dir',
        '/s/ca',
        '--secure-grpc-addr',
        '127.0.0.1:15012',
      ]),
    );
    const zt = ztunnelProvider(plan, paths, addr, options);
    expect(zt.map((s) => [s.name, s.tier, s.fingerprint])).toEqual([
      ['ztunnel/node-a', 1, '127.12.0.1'],
      ['ztunnel/node-b', 1, '127.12.0.2'],
    ]);
    expect(zt[0]!.args).toEqual(
      expect.arrayContaining([
        '--node-ip',
        '127.12.0.1',
        '--token-file',
        '/s/tokens/node-a.jwt',
        '--root-cert',
        '/s/ca/root-cert.pem',
        '--cert-ttl',
        '1h',
      ]),
    );
  });
});

const gateway = (ns: string, name: string, extra = '') => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${ns}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]${extra}
`;

describe('waypoints in the plan', () => {
  const WAYPOINTS = [
    gateway('shop', 'waypoint'),
    gateway('shop', 'asked', '\n  addresses: [{type: IPAddress, value: 127.12.9.9}]'),
    gateway('shop', 'given', '\nstatus: {addresses: [{value: 127.12.9.8}]}'),
    gateway('shop', 'manual', '\n  addresses: [{type: Hostname, value: manual.shop.svc.cluster.local}]'),
    `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress, namespace: shop}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
`,
  ].join('---\n');

  it('runs one waypoint per istio-waypoint Gateway (not manually deployed ones): status address, then spec address, else a stable allocated one', () => {
    const plan = planMesh(loadText(`${CONFIG}---\n${WAYPOINTS}`).objects);
    expect(plan.waypoints.map((w) => [`${w.namespace}/${w.name}`, w.addressFrom])).toEqual([
      ['shop/asked', 'spec'],
      ['shop/given', 'status'],
      ['shop/waypoint', 'allocated'],
    ]);
    expect(plan.waypoints.slice(0, 2).map((w) => w.ip)).toEqual(['127.12.9.9', '127.12.9.8']);
    const allocated = plan.waypoints[2]!.ip;
    expect(allocated).toMatch(/^127\.255\.\d{1,3}\.\d{1,3}$/);
    // Stable: the same name gets the same address whatever else the config holds.
    expect(planMesh(loadText(gateway('shop', 'waypoint')).objects).waypoints[0]!.ip).toBe(allocated);
    // Taken by a pod: the allocation probes past it.
    const squatter = `${gateway('shop', 'waypoint')}---
apiVersion: v1
kind: Pod
metadata: {name: squat, namespace: shop}
spec: {containers: [{name: s}]}
status: {podIP: ${allocated}}
`;
    expect(planMesh(loadText(squatter).objects).waypoints[0]!.ip).not.toBe(allocated);
    // A Service named like the Gateway is taken for the waypoint's own: said loudly.
    const clash = `${gateway('shop', 'waypoint')}---
apiVersion: v1
kind: Service
metadata: {name: waypoint, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
`;
    expect(planMesh(loadText(clash).objects).warnings).toEqual([
      expect.stringMatching(/^Service shop\/waypoint has the name of waypoint Gateway shop\/waypoint/),
    ]);
  });

  it('makes a tier-2 waypoint process per Gateway, with its own token, listening on its address', () => {
    const plan = planMesh(loadText(gateway('shop', 'given', '\nstatus: {addresses: [{value: 127.12.9.8}]}')).objects);
    const [spec] = waypointProvider(plan, paths, addr, { logLevel: 'info', certTtl: undefined, drainTimeout: '5s' });
    expect(spec).toMatchObject({ name: 'waypoint/shop/given', tier: 2, readyMessage: 'waypoint ready' });
    expect(spec!.args).toEqual(
      expect.arrayContaining([
        '/apps/waypoint/bin/waypoint.mjs',
        '--waypoint',
        'shop/given',
        '--listen',
        '127.12.9.8:15008',
        '--admin',
        '127.12.9.8:15000',
        '--xds-address',
        '127.0.0.1:15012',
        '--token-file',
        '/s/tokens/waypoint-shop-given.jwt',
      ]),
    );
  });

  it("generates the waypoint's Pod and Service so the ambient index gives ztunnels the address the process listens on", () => {
    const config = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, clusterIP: 127.12.2.10, ports: [{name: http, port: 80}]}
---
${gateway('shop', 'waypoint')}`;
    const plan = planMesh(loadText(config).objects);
    const ip = plan.waypoints[0]!.ip;
    const index = (ready: boolean) => {
      const generated = waypointObjects(plan.waypoints, () => ready)
        .map((o) => JSON.stringify(o))
        .join('\n---\n');
      return createSimulator({ text: `${config}---\n${generated}`, strict: false }).index;
    };
    const idx = index(true);
    const pod = idx.workloads().find((w) => w.name === 'waypoint-waypoint');
    expect(pod).toMatchObject({ ips: [ip], identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' });
    // Not captured: ztunnel must not listen on the waypoint's own 15008.
    expect(idx.capture(loadText(generated(plan)).objects[0]!.resource as never).captured).toBe(false);
    const web = idx.services().find((s) => s.name === 'web');
    expect(web?.waypoint).toEqual({ namespace: 'shop', name: 'waypoint' });
    // The waypoint's own Service is not sent to itself.
    expect(idx.services().find((s) => s.name === 'waypoint')?.waypoint ?? null).toBeNull();
    expect(
      index(false)
        .workloads()
        .find((w) => w.name === 'waypoint-waypoint')?.healthy,
    ).toBe(false);
  });
});

const generated = (plan: ReturnType<typeof planMesh>) =>
  waypointObjects(plan.waypoints, () => true)
    .map((o) => JSON.stringify(o))
    .join('\n---\n');

// istiod as the config source and the CA: the waypoint gets its certificate from istiod's CA with its service
// account token, its Waypoint/WaypointService/Address resources over delta xDS, and follows pushes live.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertBuilt,
  caIssuer,
  istiodBin,
  meshctl,
  meshctlBin,
  MeshClient,
  startIstiod,
  startPod,
  startWaypointProcess,
  tempDir,
  type Pod,
  type WaypointProcess,
} from './helpers.js';

const HOST = '127.21.0.2';
const VIP = '127.21.0.10';

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.21.0.1}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: web}
  clusterIP: ${VIP}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1, namespace: shop, labels: {app: web, version: v1}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.21.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v2, namespace: shop, labels: {app: web, version: v2}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.21.1.2}
`;

const routing = (subset: string) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route: [{destination: {host: web, subset: ${subset}}}]
`;

describe('waypoint with istiod (xDS + CA)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let configDir = '';
  let istiod: Awaited<ReturnType<typeof startIstiod>>;
  let waypoint: WaypointProcess;
  let pods: Pod[] = [];
  let client: MeshClient;

  beforeAll(async () => {
    assertBuilt(istiodBin, meshctlBin);
    dir = await tempDir('waypoint-istiod-');
    configDir = join(dir.path, 'config');
    const caDir = join(dir.path, 'ca');
    await mkdir(configDir);
    await writeFile(join(configDir, 'world.yaml'), WORLD);
    await writeFile(join(configDir, 'routing.yaml'), routing('v1'));
    istiod = await startIstiod({ configDir, caDir });
    const token = await meshctl('token', 'create', '--sa', 'shop/waypoint', '--ca-dir', caDir);
    expect(token.code).toBe(0);
    await writeFile(join(dir.path, 'token'), token.stdout.trim());
    const ca = await caIssuer(caDir);
    pods = await Promise.all(
      [
        ['web-v1', '127.21.1.1'],
        ['web-v2', '127.21.1.2'],
      ].map(([name, ip]) => startPod(ca, { name: name!, ip: ip!, port: 8080, identity: '/ns/shop/sa/web' })),
    );
    waypoint = await startWaypointProcess({
      host: HOST,
      args: [
        '--waypoint',
        'shop/waypoint',
        '--xds-address',
        `127.0.0.1:${istiod.ports.secureGrpc}`,
        '--token-file',
        join(dir.path, 'token'),
        '--root-cert',
        join(caDir, 'root-cert.pem'),
      ],
    });
    client = new MeshClient(ca, {
      identity: '/ns/shop/sa/sleep',
      waypoint: () => `${HOST}:${waypoint.hbonePort}`,
      waypointIdentity: 'spiffe://cluster.local/ns/shop/sa/waypoint',
      target: `${VIP}:80`,
    });
    expect(await readFile(join(caDir, 'root-cert.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  afterAll(async () => {
    await client?.[Symbol.asyncDispose]();
    await waypoint?.stop();
    for (const p of pods) await p.close();
    await istiod?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('gets its identity from the CA and its routes over xDS, and follows a pushed edit', async () => {
    await waypoint.waitForLog((l) => l.msg === 'config applied', 'config from istiod');
    expect(waypoint.lines.find((l) => l.msg === 'identity loaded')?.identity).toBe(
      'spiffe://cluster.local/ns/shop/sa/waypoint',
    );
    // Subsets select on the canonical labels the Address resources carry (version → canonical revision).
    for (let i = 0; i < 10; i++) expect((await client.get('/a')).json().pod).toBe('web-v1');
    expect((await client.get('/a', { 'end-user': 'jason' })).json().pod).toBe('web-v2');
    expect(pods[0]!.hits[0]!.peer).toBe('spiffe://cluster.local/ns/shop/sa/waypoint');

    const seen = waypoint.lines.filter((l) => l.msg === 'config applied').length;
    await writeFile(join(configDir, 'routing.yaml'), routing('v2'));
    await waypoint.waitForLog(
      (l) => l.msg === 'config applied' && waypoint.lines.filter((x) => x.msg === 'config applied').indexOf(l) >= seen,
      'the pushed VirtualService',
    );
    for (let i = 0; i < 10; i++) expect((await client.get('/b')).json().pod).toBe('web-v2');

    const dump = JSON.parse((await waypoint.admin('/config_dump')).text) as { source: string; policies: unknown[] };
    expect(dump.source).toMatch(/^xds:/);
  });

  it('enforces an AuthorizationPolicy pushed by istiod', async () => {
    const seen = waypoint.lines.filter((l) => l.msg === 'config applied').length;
    await writeFile(
      join(configDir, 'policy.yaml'),
      `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-get, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  rules: [{to: [{operation: {methods: [GET]}}]}]
`,
    );
    await waypoint.waitForLog(
      (l) =>
        l.msg === 'config applied' &&
        (l.policies as number) > 0 &&
        waypoint.lines.filter((x) => x.msg === 'config applied').indexOf(l) >= seen,
      'the pushed policy',
    );
    expect((await client.get('/c')).status).toBe(200);
    expect((await client.get('/c', {}, 'POST')).status).toBe(403);
  });
});

// The waypoint as a real process (file mode) between a real HBONE client and backend pods behind real HBONE servers:
// splits, header routing, faults, retries, timeouts, L7 authorization, JWT, outlier detection, live edits, restart.
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertBuilt,
  createTestPki,
  eventually,
  MeshClient,
  startPod,
  startWaypointProcess,
  tempDir,
  writeSvidFiles,
  type Pod,
  type WaypointProcess,
} from './helpers.js';

const HOST = '127.20.0.2';
const VIP = '127.20.0.10';
const WAYPOINT_PORT = 27101;

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.20.0.1}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop, labels: {istio.io/waypoint-for: all}}
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
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: tcp-echo, port: 9000, targetPort: 9000}
  - {name: grpc, port: 81, targetPort: 8081}
---
apiVersion: v1
kind: Service
metadata: {name: web-v1, namespace: shop}
spec:
  selector: {app: web, version: v1}
  clusterIP: 127.20.0.11
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: shop}
spec:
  selector: {app: web, version: v2}
  clusterIP: 127.20.0.12
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1-a, namespace: shop, labels: {app: web, version: v1}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.20.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1-b, namespace: shop, labels: {app: web, version: v1}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.20.1.3}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v2, namespace: shop, labels: {app: web, version: v2, istio.io/use-waypoint: waypoint}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.20.1.2}
`;

const SUBSETS = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

const version = (p: Pod) => (p.name.startsWith('web-v1') ? 'v1' : 'v2');

describe('waypoint (real process, file config)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let configDir = '';
  let certDir = '';
  const pki = createTestPki();
  let pods: Pod[] = [];
  let waypoint: WaypointProcess;
  let client: MeshClient;
  let configVersion = 0;
  // An OTLP/HTTP collector: the spans the waypoint exports.
  const spans: { traceId: string; parentSpanId?: string; name: string }[] = [];
  let collector: Server;
  let collectorPort = 0;
  const jwtKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...jwtKeys.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };

  const start = async () => {
    waypoint = await startWaypointProcess({
      host: HOST,
      hbonePort: WAYPOINT_PORT,
      args: [
        '--waypoint',
        'shop/waypoint',
        '--config-dir',
        configDir,
        '--cert-dir',
        certDir,
        '--seed',
        '42',
        '--otlp-endpoint',
        `http://127.20.0.2:${collectorPort}/v1/traces`,
      ],
    });
    const applied = await waypoint.waitForLog((l) => l.msg === 'config applied', 'config applied');
    configVersion = applied.version as number;
  };

  /** Writes one config file and waits until the waypoint applied a newer config version. */
  const apply = async (file: string, text: string, what: string) => {
    const before = configVersion;
    await writeFile(join(configDir, file), text);
    const line = await waypoint.waitForLog(
      (l) => l.msg === 'config applied' && (l.version as number) > before,
      `${what} after version ${before}`,
    );
    configVersion = line.version as number;
  };

  /** Writes the whole routing file (unless unchanged) and waits until the waypoint applied it. */
  let lastRouting = '';
  const routingFile = async (text: string) => {
    if (text === lastRouting) return;
    lastRouting = text;
    await apply('routing.yaml', text, 'config');
  };
  /** Routing objects next to the subsets' DestinationRule. */
  const routing = (yaml: string) => routingFile(`${SUBSETS}\n---\n${yaml}`);

  /** Writes the policy file and waits until the waypoint applied it (routing back to the plain subsets). */
  let lastPolicy = '';
  const policy = async (yaml: string) => {
    await routing('');
    if (yaml === lastPolicy) return;
    lastPolicy = yaml;
    await apply('policy.yaml', yaml, 'policy');
  };

  const resetPods = () => {
    for (const p of pods) {
      p.hits.length = 0;
      p.behaviour = {};
    }
  };

  const hitsBy = (f: (p: Pod) => string) => {
    const out: Record<string, number> = {};
    for (const p of pods) out[f(p)] = (out[f(p)] ?? 0) + p.hits.length;
    return out;
  };

  const many = async (n: number, path = '/', headers: Record<string, string> = {}) => {
    const statuses: Record<number, number> = {};
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => client.get(path, headers)));
      for (const r of batch) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    return statuses;
  };

  beforeAll(async () => {
    assertBuilt();
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: (typeof spans)[number][] }[] }[] };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.20.0.2', resolve));
    collectorPort = (collector.address() as AddressInfo).port;
    dir = await tempDir('waypoint-e2e-');
    configDir = join(dir.path, 'config');
    certDir = join(dir.path, 'certs');
    await writeSvidFiles(pki, certDir, '/ns/shop/sa/waypoint');
    await mkdir(configDir);
    await writeFile(join(configDir, 'world.yaml'), WORLD);
    lastRouting = `${SUBSETS}\n---\n`;
    await writeFile(join(configDir, 'routing.yaml'), lastRouting);
    pods = await Promise.all(
      [
        ['web-v1-a', '127.20.1.1'],
        ['web-v1-b', '127.20.1.3'],
        ['web-v2', '127.20.1.2'],
      ].map(([name, ip]) => startPod(pki, { name: name!, ip: ip!, port: 8080, identity: '/ns/shop/sa/web' })),
    );
    await start();
    client = new MeshClient(pki, {
      identity: '/ns/shop/sa/sleep',
      waypoint: () => `${HOST}:${waypoint.hbonePort}`,
      waypointIdentity: 'spiffe://cluster.local/ns/shop/sa/waypoint',
      target: `${VIP}:80`,
    });
  });

  afterAll(async () => {
    await client?.[Symbol.asyncDispose]();
    await waypoint?.stop();
    for (const p of pods) await p.close();
    await dir?.[Symbol.asyncDispose]();
    collector?.close();
  });

  it('forwards to the service over HBONE with its own identity, and reports Istio metrics', async () => {
    resetPods();
    const r = await client.get('/hello', {
      'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124',
      'x-b3-spanid': 'a2fb4a1d1a96d312',
    });
    expect(r.status).toBe(200);
    expect(r.json().path).toBe('/hello');
    const hit = pods.flatMap((p) => p.hits)[0]!;
    expect(hit.peer).toBe('spiffe://cluster.local/ns/shop/sa/waypoint');
    expect(hit.headers.traceparent).toMatch(/^00-463ac35c9f6413ad48485a3953bb6124-[0-9a-f]{16}-01$/);
    expect(hit.headers['x-b3-traceid']).toBe('463ac35c9f6413ad48485a3953bb6124');
    expect(hit.headers['x-b3-parentspanid']).toBe('a2fb4a1d1a96d312');
    expect(hit.headers['x-request-id']).toBeTruthy();
    const metrics = (await waypoint.admin('/metrics')).text;
    expect(metrics).toMatch(
      /istio_requests_total\{reporter="waypoint",source_workload="sleep",source_workload_namespace="shop",source_principal="spiffe:\/\/cluster.local\/ns\/shop\/sa\/sleep",[^}]*destination_service="web.shop.svc.cluster.local",destination_service_name="web",destination_service_namespace="shop",[^}]*response_code="200",[^}]*response_flags="-",connection_security_policy="mutual_tls"\} [1-9]/,
    );
    expect(metrics).toMatch(/istio_request_duration_milliseconds_bucket\{[^}]*le="\+Inf"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/istio_request_bytes_count\{/);
    expect(metrics).toMatch(/istio_response_bytes_count\{/);
    const access = await waypoint.waitForLog((l) => l.msg === 'access' && l.path === '/hello', 'an access log line');
    // The span goes out over OTLP/HTTP within the batch interval, as a child of the caller's B3 span.
    const span = await eventually(
      () => spans.find((s) => s.traceId === '463ac35c9f6413ad48485a3953bb6124'),
      'the exported span',
    );
    expect(span).toMatchObject({ parentSpanId: 'a2fb4a1d1a96d312', name: 'web.shop.svc.cluster.local:80/*' });
    expect(access).toMatchObject({
      method: 'GET',
      response_code: 200,
      response_flags: '-',
      upstream_cluster: 'outbound|80||web.shop.svc.cluster.local',
    });
    expect((await waypoint.admin('/ready')).status).toBe(200);
    const level = await waypoint.admin('/logging?level=debug', { method: 'POST' });
    expect(JSON.parse(level.text)).toEqual({ level: 'debug' });
    await waypoint.admin('/logging?level=info', { method: 'POST' });
    const dump = JSON.parse((await waypoint.admin('/config_dump')).text) as {
      waypoint: { identity: string };
      services: { hostname: string; vips: string[]; routes: { port: number; source: string }[] }[];
    };
    expect(dump.waypoint.identity).toBe('spiffe://cluster.local/ns/shop/sa/waypoint');
    expect(dump.services[0]).toMatchObject({
      hostname: 'web.shop.svc.cluster.local',
      vips: ['127.20.0.10'],
      routes: [{ port: 80, source: 'default' }, { port: 9000 }, { port: 81 }],
    });
  });

  it('is not ready and refuses tunnels while its Gateway is not in the config (and says so)', async () => {
    await using lost = await startWaypointProcess({
      host: '127.20.0.3',
      args: ['--waypoint', 'shop/nope', '--config-dir', configDir, '--cert-dir', certDir],
    });
    await lost.waitForLog((l) => l.level === 'error' && /no waypoint Gateway of that name/.test(l.msg), 'the error');
    expect((await lost.admin('/ready')).status).toBe(503);
    await expect(
      client.pool.dial({
        target: `${VIP}:80`,
        via: `127.20.0.3:${lost.hbonePort}`,
        expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { status: 503 } });
  });

  it('splits 90/10 with a VirtualService over 1,000 requests (±3 points)', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route:
    - {destination: {host: web, subset: v1}, weight: 90}
    - {destination: {host: web, subset: v2}, weight: 10}
`);
    resetPods();
    expect(await many(1000)).toEqual({ 200: 1000 });
    const by = hitsBy(version);
    expect(Math.abs(by.v1! / 1000 - 0.9)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(by.v2! / 1000 - 0.1)).toBeLessThanOrEqual(0.03);
  });

  it('splits 90/10 with an HTTPRoute over 1,000 requests (±3 points)', async () => {
    await routing(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{group: '', kind: Service, name: web, port: 80}]
  rules:
  - backendRefs:
    - {name: web-v1, port: 80, weight: 90}
    - {name: web-v2, port: 80, weight: 10}
`);
    resetPods();
    expect(await many(1000)).toEqual({ 200: 1000 });
    const by = hitsBy(version);
    expect(Math.abs(by.v1! / 1000 - 0.9)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(by.v2! / 1000 - 0.1)).toBeLessThanOrEqual(0.03);
  });

  it('routes on a header, and applies header operations and rewrites; editing the file changes routing live', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - name: jason
    match: [{uri: {prefix: /r/}, headers: {end-user: {exact: jason}}}]
    rewrite: {uri: /reviews/}
    headers: {request: {set: {x-routed: jason}}, response: {add: {x-via: waypoint}}}
    route: [{destination: {host: web, subset: v2}}]
  - name: moved
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
  - name: teapot
    match: [{uri: {exact: /tea}}]
    directResponse: {status: 418, body: {string: short and stout}}
  - name: rest
    route: [{destination: {host: web, subset: v1}}]
`);
    resetPods();
    const jason = await client.get('/r/1', { 'end-user': 'jason' });
    expect(jason.json()).toMatchObject({ pod: 'web-v2', path: '/reviews/1' });
    expect(jason.headers['x-via']).toBe('waypoint');
    expect(pods.find((p) => p.name === 'web-v2')!.hits[0]!.headers['x-routed']).toBe('jason');
    for (let i = 0; i < 20; i++) expect((await client.get('/r/1')).json().pod).toMatch(/^web-v1/);
    const moved = await client.get('/old');
    expect([moved.status, moved.headers.location]).toEqual([301, 'http://web.shop.svc.cluster.local/new']);
    const tea = await client.get('/tea');
    expect([tea.status, tea.body]).toEqual([418, 'short and stout']);

    // Live edit: everything to v2 now.
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web, subset: v2}}]
`);
    for (let i = 0; i < 20; i++) expect((await client.get('/r/1')).json().pod).toBe('web-v2');
  });

  it('answers CORS preflights itself and adds CORS headers to allowed origins', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web}}]
    corsPolicy:
      allowOrigins: [{exact: 'https://shop.example'}]
      allowMethods: [GET, POST]
      maxAge: 1h
`);
    resetPods();
    const preflight = await client.get(
      '/api',
      { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
      'OPTIONS',
    );
    expect(preflight.status).toBe(200);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': 'https://shop.example',
      'access-control-allow-methods': 'GET,POST',
      'access-control-max-age': '3600',
    });
    expect(hitsBy(() => 'all').all).toBe(0);
    const allowed = await client.get('/api', { origin: 'https://shop.example' });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
    const other = await client.get('/api', { origin: 'https://evil.example' });
    expect([other.status, other.headers['access-control-allow-origin']]).toEqual([200, undefined]);
  });

  it('a 100% abort answers the configured status without reaching the backend', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
`);
    resetPods();
    for (let i = 0; i < 10; i++) expect((await client.get('/x')).status).toBe(418);
    expect(hitsBy(() => 'all').all).toBe(0);
    const metrics = (await waypoint.admin('/metrics')).text;
    expect(metrics).toMatch(/istio_requests_total\{[^}]*response_code="418"[^}]*response_flags="FI"[^}]*\} 10/);
  });

  it('a 100% delay adds the configured delay (±20%)', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /slow}}]
    fault: {delay: {fixedDelay: 500ms, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - route: [{destination: {host: web}}]
`);
    await client.get('/warm');
    const base = performance.now();
    await client.get('/fast');
    const fast = performance.now() - base;
    const t0 = performance.now();
    const r = await client.get('/slow');
    const added = performance.now() - t0 - fast;
    expect(r.status).toBe(200);
    expect(added).toBeGreaterThanOrEqual(400);
    expect(added).toBeLessThanOrEqual(600);
  });

  it('retries a 503 (backend hit counts show it), and gives up after the configured attempts', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web, subset: v2}}]
    retries: {attempts: 3, retryOn: 5xx}
`);
    resetPods();
    const v2 = pods.find((p) => p.name === 'web-v2')!;
    v2.behaviour = { status: { '/flaky': 503 } };
    const r = await client.get('/flaky');
    expect(r.status).toBe(503);
    expect(v2.hits.length).toBe(4); // the try and 3 retries
    const ok = await client.get('/fine');
    expect(ok.status).toBe(200);
    expect(v2.hits.length).toBe(5);
    const access = await waypoint.waitForLog(
      (l) => l.msg === 'access' && l.path === '/flaky',
      'the /flaky access line',
    );
    expect(access).toMatchObject({ attempts: 4, response_code: 503, response_flags: 'URX' });
  });

  it('enforces a per-try timeout, then the route timeout', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /pertry}}]
    route: [{destination: {host: web, subset: v2}}]
    retries: {attempts: 1, perTryTimeout: 200ms, retryOn: 5xx}
  - route: [{destination: {host: web, subset: v2}}]
    timeout: 300ms
`);
    resetPods();
    const v2 = pods.find((p) => p.name === 'web-v2')!;
    v2.behaviour = { delayMs: { '/pertry': 2000, '/route': 2000 } };
    const t0 = performance.now();
    const r = await client.get('/pertry');
    const took = performance.now() - t0;
    expect(r.status).toBe(504);
    expect(v2.hits.length).toBe(2); // each try timed out after 200 ms
    expect(took).toBeLessThan(1500);
    const t1 = performance.now();
    const timedOut = await client.get('/route');
    expect(timedOut.status).toBe(504);
    expect(performance.now() - t1).toBeLessThan(1500);
  });

  it('denies a path with an L7 AuthorizationPolicy (403) while other paths pass', async () => {
    await policy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
`);
    resetPods();
    const denied = await client.get('/admin/users');
    expect([denied.status, denied.body]).toEqual([403, 'RBAC: access denied']);
    expect((await client.get('/public')).status).toBe(200);
    expect(pods.flatMap((p) => p.hits).map((h) => h.path)).toEqual(['/public']);
  });

  it('gates a path on a JWT (RequestAuthentication + AuthorizationPolicy)', async () => {
    await policy(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  jwtRules:
  - issuer: https://issuer.example
    jwks: '${JSON.stringify({ keys: [jwk] })}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: secure-needs-jwt, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  action: DENY
  rules: [{from: [{source: {notRequestPrincipals: ["*"]}}], to: [{operation: {paths: ["/secure*"]}}]}]
`);
    await routing('');
    const token = (claims: Record<string, unknown>, key = jwtKeys.privateKey) => {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const head = `${enc({ alg: 'ES256', kid: 'k1', typ: 'JWT' })}.${enc(claims)}`;
      return `${head}.${sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    const exp = Math.floor(Date.now() / 1000) + 600;
    const good = token({ iss: 'https://issuer.example', sub: 'ana', exp });
    expect((await client.get('/secure')).status).toBe(403);
    expect((await client.get('/open')).status).toBe(200);
    expect((await client.get('/secure', { authorization: `Bearer ${good}` })).status).toBe(200);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = token({ iss: 'https://issuer.example', sub: 'ana', exp }, other);
    expect((await client.get('/secure', { authorization: `Bearer ${forged}` })).status).toBe(401);
    const expired = token({ iss: 'https://issuer.example', sub: 'ana', exp: exp - 1200 });
    expect((await client.get('/open', { authorization: `Bearer ${expired}` })).status).toBe(401);
    await policy('');
  });

  it('ejects a failing endpoint with outlier detection (and config_dump shows it)', async () => {
    // The subsets' DestinationRule gets the outlier settings (one DestinationRule per host applies).
    await routingFile(
      `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}
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
  - route: [{destination: {host: web, subset: v1}}]
    retries: {attempts: 0}
`,
    );
    resetPods();
    const bad = pods.find((p) => p.name === 'web-v1-a')!;
    bad.behaviour = { fail: true };
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await client.get('/o')).status);
    expect(bad.hits.length).toBe(3); // ejected after its third consecutive 5xx
    expect(statuses.filter((s) => s === 503).length).toBe(3);
    expect(statuses.slice(-20).every((s) => s === 200)).toBe(true);
    const dump = JSON.parse((await waypoint.admin('/config_dump')).text) as {
      clusters: { name: string; endpoints: { address: string; ejected: boolean }[] }[];
    };
    const v1 = dump.clusters.find((c) => c.name === 'outbound|80|v1|web.shop.svc.cluster.local')!;
    expect(v1.endpoints.find((e) => e.address === '127.20.1.1:8080')?.ejected).toBe(true);
    expect(v1.endpoints.find((e) => e.address === '127.20.1.3:8080')?.ejected).toBe(false);
    bad.behaviour = {};
  });

  it('mirrors fire and forget, and a circuit breaker overflows with 503 UO', async () => {
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /mirrored}}]
    route: [{destination: {host: web, subset: v1}}]
    mirror: {host: web, subset: v2}
  - route: [{destination: {host: web, subset: v1}}]
    retries: {attempts: 0}
`);
    resetPods();
    const v2 = pods.find((p) => p.name === 'web-v2')!;
    v2.behaviour = { status: { '/mirrored': 500 } }; // the mirror's answer never reaches the client
    for (let i = 0; i < 5; i++) expect((await client.get('/mirrored')).json().pod).toMatch(/^web-v1/);
    await eventually(() => (v2.hits.length === 5 ? true : undefined), 'five mirrored requests');
    expect(v2.hits[0]!.headers.host).toBe('web.shop.svc.cluster.local-shadow');

    // One request at a time for v1 (http2MaxRequests: 1); the others overflow at once.
    await routingFile(
      `${SUBSETS.replace('  subsets:', '  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}\n  subsets:')}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web, subset: v1}}]
    retries: {attempts: 0}
`,
    );
    for (const p of pods) p.behaviour = { delayMs: { '/busy': 300 } };
    const statuses = (await Promise.all(Array.from({ length: 6 }, () => client.get('/busy')))).map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(1);
    expect(statuses.filter((s) => s === 503).length).toBe(5);
    const metrics = (await waypoint.admin('/metrics')).text;
    expect(metrics).toMatch(/istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="UO"[^}]*\} 5/);
    resetPods();
  });

  it('forwards a TCP port at L4 with L4 authorization', async () => {
    await routing('');
    const echo = async () => {
      const tunnel = await client.pool.dial({
        target: `${VIP}:9000`,
        via: `${HOST}:${waypoint.hbonePort}`,
        expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
      });
      tunnel.end('ping over L4');
      let text = '';
      try {
        for await (const chunk of tunnel) text += chunk;
      } catch {
        return null;
      }
      return text;
    };
    expect(await echo()).toMatch(/^\[web-v[12](-a|-b)?\] ping over L4$/);
    // L4 routing: a VirtualService tcp route sends every connection to v2.
    await routing(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-tcp, namespace: shop}
spec:
  hosts: [web]
  tcp:
  - match: [{port: 9000}]
    route: [{destination: {host: web, subset: v2, port: {number: 9000}}}]
`);
    for (let i = 0; i < 5; i++) expect(await echo()).toBe('[web-v2] ping over L4');
    await policy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-admins, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/admin]}}]}]
`);
    expect(await echo()).toBeNull();
    const metrics = (await waypoint.admin('/metrics')).text;
    expect(metrics).toMatch(/istio_tcp_connections_opened_total\{[^}]*response_flags="-"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/istio_tcp_received_bytes_total\{[^}]*destination_workload="web-v2"[^}]*\} 60/);
    await policy('');
  });

  it('takes workload-addressed traffic for a pod that uses it, with policies attached to the Gateway', async () => {
    await routing('');
    await using direct = new MeshClient(pki, {
      identity: '/ns/shop/sa/sleep',
      waypoint: () => `${HOST}:${waypoint.hbonePort}`,
      waypointIdentity: 'spiffe://cluster.local/ns/shop/sa/waypoint',
      target: '127.20.1.2:8080',
    });
    resetPods();
    expect((await direct.get('/direct')).json()).toMatchObject({ pod: 'web-v2', path: '/direct' });
    // A pod that does not use this waypoint is not its to serve.
    await expect(
      client.pool.dial({
        target: '127.20.1.1:8080',
        via: `${HOST}:${waypoint.hbonePort}`,
        expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_HBONE_REFUSED', details: { status: 503 } });
    await policy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gateway-deny, namespace: shop}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/wl-deny*"]}}]}]
`);
    expect((await direct.get('/wl-deny')).status).toBe(403);
    expect((await direct.get('/wl-ok')).status).toBe(200);
    const metrics = (await waypoint.admin('/metrics')).text;
    expect(metrics).toMatch(
      /istio_requests_total\{[^}]*destination_workload="web-v2",[^}]*destination_service="unknown",[^}]*response_code="200"[^}]*\} [1-9]/,
    );
    await policy('');
  });

  it('speaks HTTP/2 with prior knowledge on the tunnel: HTTP/1.1 upstream on an http port, HTTP/2 with trailers on grpc', async () => {
    await routing('');
    const { connect } = await import('node:http2');
    const h2 = async (port: number, path: string) => {
      const tunnel = await client.pool.dial({
        target: `${VIP}:${port}`,
        via: `${HOST}:${waypoint.hbonePort}`,
        expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
      });
      const session = connect('http://web.shop.svc.cluster.local', { createConnection: () => tunnel as never });
      try {
        return await new Promise<{ status: number; text: string; trailers: Record<string, unknown> }>(
          (resolve, reject) => {
            const req = session.request({
              ':path': path,
              ':method': 'POST',
              te: 'trailers',
              'content-type': 'application/grpc',
            });
            let status = 0;
            let text = '';
            let trailers: Record<string, unknown> = {};
            req.on('response', (h) => (status = Number(h[':status'])));
            req.on('trailers', (t) => (trailers = t));
            req.setEncoding('utf8');
            req.on('data', (d: string) => (text += d));
            req.on('end', () => resolve({ status, text, trailers }));
            req.on('error', reject);
            req.end('payload');
          },
        );
      } finally {
        session.close();
      }
    };
    const viaH1 = await h2(80, '/h2');
    expect(viaH1.status).toBe(200);
    expect(JSON.parse(viaH1.text)).toMatchObject({ path: '/h2' });
    const viaH2 = await h2(81, '/pkg.Service/Method');
    expect(viaH2.status).toBe(200);
    expect(JSON.parse(viaH2.text)).toMatchObject({ path: '/pkg.Service/Method', protocol: 'h2', te: 'trailers' });
    expect(viaH2.trailers).toMatchObject({ 'grpc-status': '0', 'grpc-message': 'ok' });
    const metrics = (await waypoint.admin('/metrics')).text;
    expect(metrics).toMatch(
      /istio_requests_total\{[^}]*request_protocol="grpc",response_code="200",grpc_response_status="0"[^}]*\} 1/,
    );
  });

  it('drains on SIGTERM (a request in flight completes), and traffic recovers after a restart', async () => {
    expect((await client.get('/before')).status).toBe(200);
    for (const p of pods) p.behaviour = { delayMs: { '/in-flight': 800 } };
    const inFlight = client.get('/in-flight');
    await new Promise((r) => setTimeout(r, 200));
    const stopped = waypoint.stop('SIGTERM');
    expect((await inFlight).status).toBe(200);
    expect(await stopped).toBe(0);
    resetPods();
    client.reset();
    await expect(client.get('/down')).rejects.toThrow();
    await start();
    client.reset();
    const r = await eventually(async () => {
      const res = await client.get('/after');
      return res.status === 200 ? res : undefined;
    }, 'traffic after restart');
    expect(r.json().path).toBe('/after');
  });
});

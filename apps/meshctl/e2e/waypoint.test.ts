// Waypoints in the local mesh, end to end: `meshctl up` runs istiod, two ztunnels and the waypoint of a Gateway of
// class istio-waypoint; curl goes through the client pod's SOCKS5 port → ztunnel → waypoint → ztunnel → backend pods
// (plain HTTP servers on their pod IPs that count their hits). Covers the L7 behaviours issue 11 lists (splits,
// header routing, faults, retries, a per-try timeout, L7 DENY, a JWT-gated path, live edits, waypoint restart, a
// waypoint that is down reported loudly).
// Addresses in 127.30.0.0/16, istiod on 28010-28014.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const apps = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(apps, 'meshctl', 'bin', 'meshctl.mjs');

const CLIENT = '127.30.1.20:15080';
const WEB = 'http://127.30.2.10';
const API = 'http://127.30.2.11';
const LOCKED = 'http://127.30.2.12';
const WAYPOINT_IP = '127.30.3.1';
const BROKEN_IP = '127.30.3.2';
const NODES = { 'node-a': '127.30.0.1', 'node-b': '127.30.0.2' };
const ADDR = [
  '--grpc-addr',
  '127.30.0.100:28010',
  '--secure-grpc-addr',
  '127.30.0.100:28012',
  '--monitoring-addr',
  '127.30.0.100:28014',
];

const WORLD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: ${NODES['node-a']}}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: ${NODES['node-b']}}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  addresses: [{type: IPAddress, value: ${WAYPOINT_IP}}]
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: web}
  clusterIP: 127.30.2.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: web}
  clusterIP: 127.30.2.11
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-v1, namespace: shop}
spec: {selector: {app: web, version: v1}, clusterIP: 127.30.2.21, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: shop}
spec: {selector: {app: web, version: v2}, clusterIP: 127.30.2.22, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1, namespace: shop, labels: {app: web, version: v1}}
spec: {nodeName: node-a, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.30.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v2, namespace: shop, labels: {app: web, version: v2}}
spec: {nodeName: node-b, serviceAccountName: web, containers: [{name: web}]}
status: {podIP: 127.30.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {nodeName: node-a, serviceAccountName: client, containers: [{name: client}]}
status: {podIP: 127.30.1.20}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
`;

/** The VirtualService of `web`; `gen` goes into a response header so a test knows which version answered. */
const virtualService = (gen: string, split: { v1: number; v2: number }) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: web, subset: v2}}]
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 418}}
    route: [{destination: {host: web, subset: v1}}]
  - match: [{uri: {prefix: /slow}}]
    fault: {delay: {percentage: {value: 100}, fixedDelay: 1s}}
    route: [{destination: {host: web, subset: v1}}]
  - match: [{uri: {prefix: /flaky}}]
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: web, subset: v1}}]
  - match: [{uri: {prefix: /once}}]
    retries: {attempts: 0}
    route: [{destination: {host: web, subset: v1}}]
  - match: [{uri: {prefix: /pertry}}]
    retries: {attempts: 1, perTryTimeout: 200ms, retryOn: 5xx}
    route: [{destination: {host: web, subset: v1}}]
  - headers: {response: {set: {x-config: "${gen}"}}}
    route:
    - {destination: {host: web, subset: v1}, weight: ${split.v1}}
    - {destination: {host: web, subset: v2}, weight: ${split.v2}}
`;

const HTTP_ROUTE = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: api, port: 80}]
  rules:
  - backendRefs:
    - {name: web-v1, port: 80, weight: 90}
    - {name: web-v2, port: 80, weight: 10}
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-config, value: route}]}}]
`;

/** A second waypoint whose address is taken (by this test), for a Service with an L7 policy: it can never start. */
const BROKEN = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: broken, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  addresses: [{type: IPAddress, value: ${BROKEN_IP}}]
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: locked, namespace: shop, labels: {istio.io/use-waypoint: broken}}
spec:
  selector: {app: web}
  clusterIP: 127.30.2.12
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: locked-get-only, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: locked}]
  action: ALLOW
  rules: [{to: [{operation: {methods: [GET]}}]}]
`;

const jwtKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWT_POLICY = `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  jwtRules:
  - issuer: https://issuer.test
    jwks: '${JSON.stringify({ keys: [{ ...jwtKeys.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] })}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: secure-needs-jwt, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  action: DENY
  rules: [{from: [{source: {notRequestPrincipals: ["*"]}}], to: [{operation: {paths: ["/secure/*"]}}]}]
`;

/** An ES256 JWT for the test issuer (signed with `key`: the issuer's, or another to forge one). */
function jwt(claims: Record<string, unknown>, key: KeyObject = jwtKeys.privateKey): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'ES256', kid: 'k1', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const EXTRA_URL = 'http://127.30.2.13';
const EXTRA = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: extra, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  addresses: [{type: IPAddress, value: 127.30.3.3}]
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: extra-svc, namespace: shop, labels: {istio.io/use-waypoint: extra}}
spec:
  selector: {app: web}
  clusterIP: 127.30.2.13
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

interface Curl {
  code: number;
  stdout: string;
  stderr: string;
}

function curl(args: string[], timeoutS = 20): Promise<Curl> {
  return new Promise((resolve) =>
    execFile(
      'curl',
      ['-sS', '--max-time', String(timeoutS), '--socks5', CLIENT, ...args],
      { maxBuffer: 1 << 24 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** One request: status, body, headers. */
async function get(url: string, headers: string[] = []): Promise<{ status: number; body: string; head: string }> {
  const r = await curl(['-D', '-', '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url]);
  const lines = r.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  const text = lines.join('\n');
  const split = text.indexOf('\r\n\r\n');
  return { status, head: split >= 0 ? text.slice(0, split) : '', body: split >= 0 ? text.slice(split + 4) : text };
}

/** `n` requests on kept-alive connections (curl's URL globbing): how many answers each backend gave. */
async function counts(url: string, n: number): Promise<Map<string, number>> {
  const r = await curl([`${url}/[1-${n}]`, '-w', '\n'], 120);
  const seen = new Map<string, number>();
  for (const line of r.stdout.split('\n').filter(Boolean)) seen.set(line, (seen.get(line) ?? 0) + 1);
  return seen;
}

async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  ms = 30_000,
) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The sample backends: answer their name, count hits per path; `/flaky/<id>` fails with 503 twice, then answers. */
function backend(name: string, ip: string) {
  const hits = new Map<string, number>();
  const server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    if (path.startsWith('/pertry/') && n === 1) {
      // The first try hangs past the per-try timeout; the retry gets an answer.
      setTimeout(() => res.end(`${name} (late)\n`), 3_000);
      return;
    }
    if ((path.startsWith('/flaky/') || path.startsWith('/once/')) && n <= 2) {
      res.statusCode = 503;
      res.end(`${name} unavailable\n`);
      return;
    }
    res.end(`${name}\n`);
  });
  return {
    name,
    hits,
    listen: () => new Promise<void>((r) => server.listen(8080, ip, r)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const pct = (m: Map<string, number>, name: string) => {
  const total = [...m.values()].reduce((a, b) => a + b, 0);
  return (100 * (m.get(name) ?? 0)) / total;
};

describe('waypoints in the local mesh (meshctl up, real processes, curl through SOCKS5)', () => {
  let dir = '';
  let config = '';
  let state = '';
  let up: ChildProcess;
  let out = '';
  let exited: Promise<number | null>;
  const v1 = backend('web-v1', '127.30.1.10');
  const v2 = backend('web-v2', '127.30.1.11');
  let squatter: Server | undefined;

  beforeAll(async () => {
    for (const a of ['meshctl', 'istiod', 'ztunnel', 'waypoint'])
      expect(existsSync(join(apps, a, 'dist', 'main.js')), `apps/${a} must be built`).toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'meshctl-waypoint-'));
    config = join(dir, 'config');
    state = join(dir, 'state');
    await mkdir(config);
    await writeFile(join(config, 'world.yaml'), WORLD);
    await writeFile(join(config, 'web-vs.yaml'), virtualService('gen-1', { v1: 90, v2: 10 }));
    await writeFile(join(config, 'api-route.yaml'), HTTP_ROUTE);
    await writeFile(join(config, 'jwt.yaml'), JWT_POLICY);
    await v1.listen();
    await v2.listen();
    up = spawn(process.execPath, [bin, 'up', '--config', config, '--state-dir', state, ...ADDR], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
    await until(() => out.includes('mesh ready') || up.exitCode !== null, 'mesh ready', 90_000);
    expect(out, out).toContain('mesh ready');
  }, 120_000);

  afterAll(async () => {
    if (up && up.exitCode === null) {
      up.kill('SIGINT');
      await exited;
    }
    squatter?.close();
    await v1.close();
    await v2.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('starts the waypoint with the mesh and shows it in the ready table', () => {
    expect(out).toMatch(/waypoint\/shop\/waypoint\s+ready \(pid \d+\)/);
    expect(out).toMatch(
      new RegExp(
        `shop/waypoint\\s+${WAYPOINT_IP.replace(/\./g, '\\.')}:15008\\s+spiffe://cluster\\.local/ns/shop/sa/waypoint\\s+ready`,
      ),
    );
    expect(out).toContain('1 waypoint(s)');
  });

  it('splits a VirtualService 90/10 over 1,000 requests within ±3 percentage points', async () => {
    await until(async () => /x-config: gen-1/i.test((await get(`${WEB}/probe`)).head), 'the VirtualService');
    const seen = await counts(`${WEB}/split`, 1000);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.abs(pct(seen, 'web-v1') - 90)).toBeLessThanOrEqual(3);
    expect(Math.abs(pct(seen, 'web-v2') - 10)).toBeLessThanOrEqual(3);
  }, 120_000);

  it("reaches the pods over HBONE with the waypoint's identity, from the waypoint's address", async () => {
    // ztunnel logs a connection when it closes: the waypoint closes idle upstream tunnels after a few seconds.
    expect((await get(`${WEB}/hop`, ['end-user: jason'])).status).toBe(200);
    const line = await until(async () => {
      const log = await readFile(join(state, 'logs', 'ztunnel-node-b.log'), 'utf8');
      return log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, string>)
        .find((l) => l.direction === 'inbound' && l['src.identity'] === 'spiffe://cluster.local/ns/shop/sa/waypoint');
    }, 'an inbound connection from the waypoint on node-b');
    expect(line).toMatchObject({
      'src.workload': 'waypoint-waypoint',
      'dst.workload': 'web-v2',
      'dst.identity': 'spiffe://cluster.local/ns/shop/sa/web',
    });
    expect(line['src.addr']).toMatch(new RegExp(`^${WAYPOINT_IP.replace(/\./g, '\\.')}:`));
  }, 60_000);

  it('splits an HTTPRoute 90/10 over 1,000 requests within ±3 percentage points', async () => {
    await until(async () => /x-config: route/i.test((await get(`${API}/probe`)).head), 'the HTTPRoute');
    const seen = await counts(`${API}/split`, 1000);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.abs(pct(seen, 'web-v1') - 90)).toBeLessThanOrEqual(3);
  }, 120_000);

  it('routes on a header', async () => {
    for (let i = 0; i < 20; i++) expect((await get(`${WEB}/hdr`, ['end-user: jason'])).body).toBe('web-v2\n');
  }, 60_000);

  it('aborts 100% with the configured status without reaching the backend', async () => {
    const before = (v1.hits.get('/abort/1') ?? 0) + (v2.hits.get('/abort/1') ?? 0);
    for (let i = 0; i < 10; i++) expect((await get(`${WEB}/abort/1`)).status).toBe(418);
    expect((v1.hits.get('/abort/1') ?? 0) + (v2.hits.get('/abort/1') ?? 0)).toBe(before);
  }, 60_000);

  it('delays 100% by the configured 1 s (±20%)', async () => {
    const time = async (path: string) => {
      const r = await curl(['-o', '/dev/null', '-w', '%{time_total}', `${WEB}${path}`]);
      return Number(r.stdout) * 1000;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const fast: number[] = [];
    const slow: number[] = [];
    for (let i = 0; i < 3; i++) {
      fast.push(await time('/fast'));
      slow.push(await time('/slow'));
    }
    const added = median(slow) - median(fast);
    expect(added).toBeGreaterThanOrEqual(800);
    expect(added).toBeLessThanOrEqual(1200);
    expect(v1.hits.get('/slow')).toBe(3);
  }, 60_000);

  it('denies a path with an L7 AuthorizationPolicy (403) while other paths pass', async () => {
    const denied = await get(`${WEB}/admin/users`);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('RBAC: access denied');
    expect(v1.hits.get('/admin/users') ?? 0).toBe(0);
    expect(v2.hits.get('/admin/users') ?? 0).toBe(0);
    expect((await get(`${WEB}/users`)).status).toBe(200);
  }, 60_000);

  it('retries on 503: the backend sees every try', async () => {
    const ok = await get(`${WEB}/flaky/1`);
    expect(ok.status).toBe(200);
    expect(v1.hits.get('/flaky/1')).toBe(3);
    // The same failures with retries off: one try, the 503 comes back.
    const once = await get(`${WEB}/once/1`);
    expect(once.status).toBe(503);
    expect(v1.hits.get('/once/1')).toBe(1);
  }, 60_000);

  it('times out a hung try (per-try timeout) and retries it', async () => {
    const r = await get(`${WEB}/pertry/1`);
    expect([r.status, r.body]).toEqual([200, 'web-v1\n']);
    expect(v1.hits.get('/pertry/1')).toBe(2);
  }, 60_000);

  it('gates a path on a JWT: none → 403, valid → 200, forged → 401', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const good = jwt({ iss: 'https://issuer.test', sub: 'ana', exp });
    const forged = jwt(
      { iss: 'https://issuer.test', sub: 'ana', exp },
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    );
    expect((await get(`${WEB}/secure/a`)).status).toBe(403);
    expect((await get(`${WEB}/secure/a`, [`authorization: Bearer ${good}`])).status).toBe(200);
    expect((await get(`${WEB}/secure/a`, [`authorization: Bearer ${forged}`])).status).toBe(401);
    expect((await get(`${WEB}/open`)).status).toBe(200);
  }, 60_000);

  it('follows an edited VirtualService file live', async () => {
    await writeFile(join(config, 'web-vs.yaml'), virtualService('gen-2', { v1: 0, v2: 100 }));
    await until(async () => /x-config: gen-2/i.test((await get(`${WEB}/probe`)).head), 'the edited VirtualService');
    const seen = await counts(`${WEB}/live`, 50);
    expect(seen.get('web-v2')).toBe(50);
  }, 60_000);

  it('starts a waypoint for a Gateway added live and stops it when the Gateway goes', async () => {
    await writeFile(join(config, 'extra.yaml'), EXTRA);
    await until(() => /waypoint\/shop\/extra\s+ready/.test(out), 'the new waypoint', 45_000);
    const r = await until(async () => {
      const x = await get(`${EXTRA_URL}/via-extra`);
      return x.status === 200 ? x : undefined;
    }, 'traffic through the new waypoint');
    expect(r.body).toMatch(/^web-v[12]\n$/);
    await until(async () => {
      const log = await readFile(join(state, 'logs', 'waypoint-shop-extra.log'), 'utf8').catch(() => '');
      return log.includes('"path":"/via-extra"');
    }, "the new waypoint's access log");
    await rm(join(config, 'extra.yaml'));
    await until(() => /waypoint\/shop\/extra\s+stopped/.test(out), 'the new waypoint stopped');
  }, 90_000);

  it('restarts a waypoint that dies, and traffic recovers', async () => {
    const pid = Number(/waypoint\/shop\/waypoint\s+ready \(pid (\d+)\)/.exec(out)?.[1]);
    expect(pid).toBeGreaterThan(0);
    const mark = out.length;
    process.kill(pid, 'SIGKILL');
    await until(() => /waypoint\/shop\/waypoint\s+exited \(SIGKILL\); restarting/.test(out.slice(mark)), 'the restart');
    await until(() => /waypoint\/shop\/waypoint\s+ready \(pid \d+\)/.test(out.slice(mark)), 'the new waypoint');
    await until(async () => (await get(`${WEB}/after-restart`)).status === 200, 'traffic through the new waypoint');
    expect((await get(`${WEB}/after-restart`, ['end-user: jason'])).body).toBe('web-v2\n');
  }, 60_000);

  it('reports a waypoint that is down loudly (ztunnel metric and log, meshctl waypoint status), never bypassing it', async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter!.listen(15008, BROKEN_IP, r));
    await writeFile(join(config, 'broken.yaml'), BROKEN);
    await until(() => /waypoint\/shop\/broken\s+exited/.test(out), 'the broken waypoint failing');
    expect(out).toMatch(
      /waypoint\/shop\/broken\s+exited \(1\); restarting \(until it is back, ztunnels refuse its traffic/,
    );
    // Refused, not sent around the waypoint to the pods (which would answer 200).
    const r = await until(async () => {
      const x = await get(`${LOCKED}/secret`);
      return x.status === 0 || x.status >= 500 ? x : undefined;
    }, 'the refusal');
    expect(r.body).not.toContain('web-v');
    expect((v1.hits.get('/secret') ?? 0) + (v2.hits.get('/secret') ?? 0)).toBe(0);
    const metrics = await (await fetch(`http://${NODES['node-a']}:15020/metrics`)).text();
    expect(metrics).toMatch(/mesh_ztunnel_waypoint_unavailable_total\{waypoint="[^"]*broken[^"]*"\} [1-9]/);
    const log = await readFile(join(state, 'logs', 'ztunnel-node-a.log'), 'utf8');
    expect(log).toMatch(/ERR_ZTUNNEL_WAYPOINT_UNAVAILABLE.*refusing the connection instead of bypassing the waypoint/);
    const status = await new Promise<string>((resolve) =>
      execFile(
        process.execPath,
        [bin, 'waypoint', 'status', '--config-dir', config, '--state-dir', state, '-n', 'shop', '-o', 'json'],
        (_e, stdout) => resolve(stdout),
      ),
    );
    const rows = (JSON.parse(status) as { status: { name: string; waypoint: string; proxy: string }[] }).status;
    expect(rows.find((x) => x.name === 'locked')).toMatchObject({
      waypoint: 'shop/broken',
      proxy: expect.stringMatching(/^DOWN/),
    });
    expect(rows.find((x) => x.name === 'web')).toMatchObject({ waypoint: 'shop/waypoint', proxy: 'running' });
    // Removing the Gateway stops its (restarting) process.
    await rm(join(config, 'broken.yaml'));
    await until(() => /waypoint\/shop\/broken\s+stopped/.test(out), 'the broken waypoint stopped');
  }, 60_000);

  it('stops everything on SIGINT with exit 0', async () => {
    up.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toMatch(/waypoint\/shop\/waypoint\s+stopped[\s\S]*istiod\s+stopped/);
  }, 60_000);
});

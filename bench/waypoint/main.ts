// bench/waypoint: the waypoint (apps/waypoint, built) against nginx as a plain HTTP reverse proxy, side by side in one
// run on loopback.
//
//   waypoint: load generator ─HBONE─▶ waypoint ─HBONE─▶ zt-in (destination ztunnel stand-in) ─▶ backend
//   nginx:    load generator ─HTTP──▶ nginx ─HTTP (keepalive upstream)─▶ backend
//   direct:   load generator ─HTTP──▶ backend                                   (the baseline for added latency)
//
// The load generator speaks HTTP/1.1 keep-alive itself (raw, to keep its own cost low; over HBONE tunnels for the
// waypoint). Per path: requests/s at saturation (closed loop, --connections), then a fixed --rate (open loop) for
// p50/p99 latency minus the direct path's, CPU of the proxy process per 1,000 rps, and its RSS. nginx does no TLS, so
// its figures are what an L7 proxy costs without mTLS on either side; the waypoint's include mTLS in and out, routing
// (a VirtualService with a 90/10 split), authorization (one ALLOW policy), metrics and access logs (off by default
// here: --access-log). Usage: pnpm -s bench waypoint [--rounds 3] [--seconds 5] [--rate 1000] [--connections 32]
// [--node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'tsup';
import { createHbonePool } from '@mesh/hbone';
import { createTestPki } from '@mesh/hbone/testing';
import { cpuSeconds, rssMiB, startPeer, waitForPort, type Peer } from '../harness/proc.ts';
import { publish, type Cell } from '../harness/report.ts';
import { median, percentile } from '../harness/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const waypointBin = join(here, '..', '..', 'apps', 'waypoint', 'bin', 'waypoint.mjs');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    rate: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '32' },
    'access-log': { type: 'boolean', default: false },
    /** Extra node flags for the waypoint, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it. */
    'node-args': { type: 'string', default: '' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const connections = Number(values.connections);

if (!existsSync(join(dirname(waypointBin), '..', 'dist', 'main.js'))) {
  console.error('apps/waypoint is not built: run `pnpm exec nx run @mesh/app-waypoint:build` first');
  process.exit(2);
}
const nginxBinary = ['nginx', '/usr/sbin/nginx'].find((b) => spawnSync(b, ['-v']).status === 0);
if (!nginxBinary) {
  console.error('nginx is missing: apt-get install nginx-light (tools/bootstrap/peers.mjs lists it)');
  process.exit(2);
}

async function freePort(host: string): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// Addresses: the pod (backend + zt-in) and the proxies on their own loopback IPs (127.22/16 is this bench's).
const POD = '127.22.1.1';
const VIP = '127.22.0.10';
const PROXY = '127.22.0.2';
const loadBefore = loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
const dir = mkdtempSync(join(tmpdir(), 'bench-waypoint-'));
const pki = createTestPki();
const pod = pki.issue('/ns/bench/sa/backend');
const waypointSvid = pki.issue('/ns/bench/sa/waypoint');
const clientSvid = pki.issue('/ns/bench/sa/client');
writeFileSync(join(dir, 'root.pem'), pki.rootPem);
writeFileSync(join(dir, 'pod.pem'), pod.chainPem());
writeFileSync(join(dir, 'pod.key'), pod.keyPem());
mkdirSync(join(dir, 'waypoint-certs'));
writeFileSync(join(dir, 'waypoint-certs', 'cert-chain.pem'), waypointSvid.chainPem());
writeFileSync(join(dir, 'waypoint-certs', 'key.pem'), waypointSvid.keyPem());
writeFileSync(join(dir, 'waypoint-certs', 'root-cert.pem'), pki.rootPem);
mkdirSync(join(dir, 'config'));
writeFileSync(
  join(dir, 'config', 'mesh.yaml'),
  `apiVersion: v1
kind: Namespace
metadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node}
status: {addresses: [{type: InternalIP, address: 127.22.0.1}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: bench}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: bench, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: backend}
  clusterIP: ${VIP}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: backend-1, namespace: bench, labels: {app: backend, version: v1}}
spec: {nodeName: node, serviceAccountName: backend, containers: [{name: backend}]}
status: {podIP: ${POD}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend, namespace: bench}
spec:
  host: backend
  subsets: [{name: v1, labels: {version: v1}}, {name: v1b, labels: {app: backend}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend, namespace: bench}
spec:
  hosts: [backend]
  http:
  - route:
    - {destination: {host: backend, subset: v1}, weight: 90}
    - {destination: {host: backend, subset: v1b}, weight: 10}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-bench, namespace: bench}
spec:
  targetRefs: [{kind: Service, group: "", name: backend}]
  rules: [{from: [{source: {namespaces: [bench]}}]}]
`,
);

await build({
  config: false,
  entry: { roles: join(here, 'roles.ts') },
  outDir: dir,
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  noExternal: [/^@mesh\//],
  silent: true,
  esbuildOptions(options) {
    options.conditions = ['@mesh/source', ...(options.conditions ?? [])];
  },
});

const ports = {
  backend: 8080,
  ztIn: await freePort(POD),
  waypoint: await freePort(PROXY),
  admin: await freePort(PROXY),
  nginx: await freePort(PROXY),
};
const peers: Record<string, Peer> = {};
const cleanup = async () => {
  for (const peer of Object.values(peers)) await peer[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

writeFileSync(
  join(dir, 'nginx.conf'),
  `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  upstream backend { server ${POD}:${ports.backend}; keepalive 64; }
  server {
    listen ${PROXY}:${ports.nginx};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
);

peers.backend = startPeer(process.execPath, [join(dir, 'roles.js'), 'backend', POD, String(ports.backend)]);
peers.ztIn = startPeer(process.execPath, [join(dir, 'roles.js'), 'zt-in', POD, String(ports.ztIn), dir]);
peers.nginx = startPeer(nginxBinary, ['-c', join(dir, 'nginx.conf'), '-p', dir]);
peers.waypoint = startPeer(process.execPath, [
  ...values['node-args'].split(' ').filter(Boolean),
  waypointBin,
  '--waypoint',
  'bench/waypoint',
  '--config-dir',
  join(dir, 'config'),
  '--cert-dir',
  join(dir, 'waypoint-certs'),
  '--listen',
  `${PROXY}:${ports.waypoint}`,
  '--admin',
  `${PROXY}:${ports.admin}`,
  '--upstream-hbone-port',
  String(ports.ztIn),
  '--access-log',
  String(values['access-log']),
  '--log-level',
  'warn',
]);
await waitForPort(ports.backend, POD, 30_000);
await waitForPort(ports.ztIn, POD, 30_000);
await waitForPort(ports.nginx, PROXY, 30_000);
await waitForPort(ports.admin, PROXY, 30_000);

/** A minimal HTTP/1.1 keep-alive client on one connection: one request at a time, Content-Length bodies. */
class Conn {
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: ((status: number) => void) | null = null;
  #failed: ((error: Error) => void) | null = null;
  readonly #request: Buffer;

  constructor(
    readonly socket: Duplex,
    host: string,
  ) {
    this.#request = Buffer.from(`GET /bench HTTP/1.1\r\nhost: ${host}\r\nuser-agent: bench\r\n\r\n`);
    socket.on('data', (d: Buffer) => {
      this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, d]) : d;
      this.#parse();
    });
    socket.on('error', (e: Error) => this.#failed?.(e));
    socket.on('close', () => this.#failed?.(new Error('connection closed')));
  }

  #parse(): void {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buffer.length < end + 4 + length) return;
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    const status = Number(head.slice(9, 12));
    const w = this.#waiting;
    this.#waiting = this.#failed = null;
    w?.(status);
  }

  get(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failed = reject;
      this.socket.write(this.#request);
    });
  }
}

const pool = createHbonePool({ certificate: () => clientSvid, bundles: pki.bundles });
const tcp = (host: string, port: number) => () =>
  new Promise<Duplex>((resolve, reject) => {
    const s: Socket = connect({ host, port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });

interface Path {
  name: string;
  open: () => Promise<Duplex>;
  host: string;
  proc: Peer | null;
}
const paths: Path[] = [
  { name: 'direct (no proxy)', open: tcp(POD, ports.backend), host: 'backend', proc: null },
  { name: 'nginx (plain HTTP reverse proxy)', open: tcp(PROXY, ports.nginx), host: 'backend', proc: peers.nginx },
  {
    name: 'waypoint (HBONE in and out)',
    open: () =>
      pool.dial({
        target: `${VIP}:80`,
        via: `${PROXY}:${ports.waypoint}`,
        expectedIdentities: [waypointSvid.id],
        baggage: { namespace: 'bench', workloadName: 'client' },
      }),
    host: 'backend.bench.svc.cluster.local',
    proc: peers.waypoint,
  },
];

async function openConns(path: Path, n: number): Promise<Conn[]> {
  const conns = await Promise.all(Array.from({ length: n }, async () => new Conn(await path.open(), path.host)));
  for (const c of conns) if ((await c.get()) !== 200) throw new Error(`${path.name}: warm-up request failed`);
  return conns;
}

/** Closed loop on every connection for `seconds`: completed requests per second. */
async function saturate(path: Path): Promise<{ rps: number; errors: number }> {
  const conns = await openConns(path, connections);
  let done = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      while (performance.now() < deadline) {
        const status = await c.get().catch(() => 0);
        if (status === 200) done++;
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const c of conns) c.socket.destroy();
  return { rps: done / elapsed, errors };
}

/** Open loop at `rate` for `seconds`: latency samples, and the proxy's CPU seconds over the window. */
async function fixedRate(
  path: Path,
  runSeconds = seconds,
): Promise<{ latencies: number[]; cpu: number; achieved: number }> {
  const conns = await openConns(path, Math.max(32, Math.ceil(rate / 50)));
  const idle = [...conns];
  const latencies: number[] = [];
  let sent = 0;
  let dropped = 0;
  const cpu0 = path.proc ? cpuSeconds(path.proc.pid) : 0;
  const started = performance.now();
  const end = started + runSeconds * 1000;
  const inflight = new Set<Promise<void>>();
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      sent++;
      const c = idle.pop();
      if (!c) {
        dropped++; // every connection busy: counted, not queued (keeps the schedule honest)
        continue;
      }
      const t0 = performance.now();
      const p = c.get().then(
        () => {
          latencies.push(performance.now() - t0);
          idle.push(c);
        },
        () => {},
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = path.proc ? cpuSeconds(path.proc.pid) - cpu0 : 0;
  for (const c of conns) c.socket.destroy();
  if (dropped) console.error(`${path.name}: ${dropped} requests not sent (all connections busy)`);
  return { latencies, cpu, achieved: latencies.length / elapsed };
}

try {
  type Result = { rps: number; p50: number; p99: number; cpuPer1k: number; rss: number; achieved: number };
  const results = new Map<string, Result[]>(paths.map((p) => [p.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const path of paths) {
      // Fixed rate first, so that RSS is what the proxy holds at that rate (Node keeps heap it grew at saturation),
      // after a warm-up at the same rate (JIT, pools) that is not measured.
      if (round === 0) await fixedRate(path, 2);
      const fixed = await fixedRate(path);
      const rss = path.proc ? rssMiB(path.proc.pid) : 0;
      const sat = await saturate(path);
      if (sat.errors) console.error(`${path.name}: ${sat.errors} failed requests at saturation`);
      results.get(path.name)!.push({
        rps: sat.rps,
        p50: percentile(fixed.latencies, 50),
        p99: percentile(fixed.latencies, 99),
        cpuPer1k: path.proc ? (fixed.cpu / seconds) * (1000 / fixed.achieved) : 0,
        rss,
        achieved: fixed.achieved,
      });
    }
  }
  const med = (name: string, f: (r: Result) => number) => median(results.get(name)!.map(f));
  const direct = paths[0]!.name;
  const nginx = paths[1]!.name;
  const rows: Cell[][] = paths.map((p) => {
    const added50 = med(p.name, (r) => r.p50) - med(direct, (r) => r.p50);
    const added99 = med(p.name, (r) => r.p99) - med(direct, (r) => r.p99);
    return [
      p.name,
      Math.round(med(p.name, (r) => r.rps)),
      p.proc ? med(p.name, (r) => r.rps) / med(nginx, (r) => r.rps) : null,
      p.proc ? Math.round(added50 * 1000) : null,
      p.proc ? Math.round(added99 * 1000) : null,
      p.proc ? med(p.name, (r) => r.cpuPer1k) : null,
      p.proc ? med(p.name, (r) => r.cpuPer1k) / med(nginx, (r) => r.cpuPer1k) : null,
      p.proc ? med(p.name, (r) => r.rss) : null,
      Math.round(med(p.name, (r) => r.achieved)),
    ];
  });
  const wp = paths[2]!.name;
  const wpCpu = med(wp, (r) => r.cpuPer1k);
  const wpRss = med(wp, (r) => r.rss);
  publish({
    name: 'waypoint',
    title: `bench/waypoint: ${rounds} rounds × ${seconds}s, saturation with ${connections} connections, fixed ${rate} rps`,
    columns: [
      'path',
      'req/s (saturation)',
      'vs nginx',
      'added p50 µs',
      'added p99 µs',
      'vCPU per 1k rps',
      'vs nginx',
      'RSS MiB',
      'fixed-rate achieved',
    ],
    rows,
    notes: [
      `Istio publishes 0.25 vCPU and 60 MB per 1,000 rps for its waypoint: ours ${wpCpu.toFixed(3)} vCPU and ${wpRss.toFixed(0)} MiB RSS per 1,000 rps → ${wpCpu <= 0.25 ? 'beats' : 'misses'} the CPU figure, ${wpRss <= 60 ? 'beats' : 'misses'} the memory figure`,
      'nginx: plain HTTP both sides (no TLS), 1 worker, keepalive upstream; waypoint: mTLS (HBONE) in and out, a 90/10 VirtualService split, one ALLOW policy, Istio metrics on, access log ' +
        (values['access-log'] ? 'on' : 'off'),
      'the load generator (one Node process) runs on the same cores; at saturation it can be the bottleneck of the fast paths',
      `${spawnSync(nginxBinary, ['-v'], { encoding: 'utf8' }).stderr.trim()}, node ${process.version}, load average before ${loadBefore}`,
    ],
  });
} finally {
  await pool.destroy();
  await cleanup();
}

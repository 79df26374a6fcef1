// bench/ztunnel: the data plane as users run it — client → ztunnel (node-b, SOCKS5 on the client pod) → HBONE →
// ztunnel (node-a) → server pod — against a direct connection and a stunnel pair (mutual TLS 1.3) in the same run.
// The ztunnels and istiod are the built programs started by `meshctl up` (real xDS, real CA certificates).
//
// Per path: 1-stream throughput to a sink; HTTP/1.1 keep-alive requests (1 KiB responses, 4 connections) at a fixed
// 1,000 rps for --seconds: p50/p90/p99 latency and what it adds over direct; CPU per 1,000 rps per proxy process; and
// for ztunnel, RSS idle and with --open tunneled connections held open. Addresses in 127.14.0.0/16.
//
//   pnpm -s bench ztunnel [--seconds 10] [--rounds 3] [--bulk-seconds 3] [--open 1000]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'tsup';
import { createTestPki } from '@mesh/hbone/testing';
import { cpuSeconds, rssMiB, startPeer, waitForPort, type Peer } from '../harness/proc.ts';
import { publish, type Cell } from '../harness/report.ts';
import { median, percentile } from '../harness/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'bulk-seconds': { type: 'string', default: '3' },
    open: { type: 'string', default: '1000' },
    rps: { type: 'string', default: '1000' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const bulkSeconds = Number(values['bulk-seconds']);
const openCount = Number(values.open);
const rps = Number(values.rps);

const SERVER_IP = '127.14.1.10';
const CLIENT_IP = '127.14.1.20';
const SINK = 9000;
const HTTP = 8080;
const STUNNEL_CLIENT = { host: '127.14.0.50', port: 27450 };
const STUNNEL_SERVER = { host: '127.14.0.51', port: 27451 };

for (const app of ['meshctl', 'istiod', 'ztunnel'])
  if (spawnSync(process.execPath, [join(root, 'apps', app, 'bin', `${app}.mjs`), '--help']).status !== 0)
    throw new Error(`apps/${app} is not built: run \`pnpm exec nx run-many -t build\``);

const loadBefore = loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
const dir = mkdtempSync(join(tmpdir(), 'bench-ztunnel-'));
const peers: Peer[] = [];
const cleanup = async () => {
  for (const p of peers.reverse()) await p[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  // The app server, as a plain bundled script in its own process.
  await build({
    config: false,
    entry: { servers: join(here, 'servers.ts') },
    outDir: dir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    silent: true,
  });
  const servers = startPeer(process.execPath, [join(dir, 'servers.js'), SERVER_IP, String(SINK), String(HTTP)]);
  peers.push(servers);

  // The mesh: one node per ztunnel, the server pod on node-a and the client pod on node-b.
  const config = join(dir, 'config');
  mkdirSync(config);
  writeFileSync(
    join(config, 'mesh.yaml'),
    `apiVersion: v1
kind: Namespace
metadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 127.14.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 127.14.0.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: server-1, namespace: bench, labels: {app: server}}
spec: {nodeName: node-a, serviceAccountName: server, containers: [{name: server}]}
status: {podIP: ${SERVER_IP}}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: bench, labels: {app: client}}
spec: {nodeName: node-b, serviceAccountName: client, containers: [{name: client}]}
status: {podIP: ${CLIENT_IP}}
`,
  );
  const up = spawn(
    process.execPath,
    [
      join(root, 'apps', 'meshctl', 'bin', 'meshctl.mjs'),
      'up',
      '--config',
      config,
      '--state-dir',
      join(dir, 'state'),
      '--grpc-addr',
      '127.14.0.100:26410',
      '--secure-grpc-addr',
      '127.14.0.100:26412',
      '--monitoring-addr',
      '127.14.0.100:26414',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let upOut = '';
  up.stdout.on('data', (d: Buffer) => (upOut += d.toString()));
  up.stderr.on('data', (d: Buffer) => (upOut += d.toString()));
  const upExited = new Promise((resolve) => up.once('exit', resolve));
  peers.push({
    child: up,
    pid: up.pid!,
    output: () => upOut,
    async [Symbol.asyncDispose]() {
      if (up.exitCode === null) up.kill('SIGINT');
      await upExited;
    },
  });
  const deadline = Date.now() + 60_000;
  while (!upOut.includes('mesh ready')) {
    if (Date.now() > deadline || up.exitCode !== null) throw new Error(`meshctl up did not start: ${upOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pidOf = (name: string) => Number(new RegExp(`${name}\\s+ready \\(pid (\\d+)\\)`).exec(upOut)![1]);
  const ztunnels = { client: pidOf('ztunnel/node-b'), server: pidOf('ztunnel/node-a') };

  // The stunnel pair with certificates from a throwaway CA (same key type and TLS version as the mesh).
  const pki = createTestPki();
  const server = pki.issue('/ns/bench/sa/server');
  const client = pki.issue('/ns/bench/sa/client');
  writeFileSync(join(dir, 'root.pem'), pki.rootPem);
  writeFileSync(join(dir, 'server.pem'), server.chainPem());
  writeFileSync(join(dir, 'server.key'), server.keyPem());
  writeFileSync(join(dir, 'client.pem'), client.chainPem());
  writeFileSync(join(dir, 'client.key'), client.keyPem());
  const stunnelBinary = spawnSync('stunnel4', ['-version']).status === 0 ? 'stunnel4' : 'stunnel';
  const stunnelConf = (name: string, lines: string[]) => {
    const file = join(dir, `${name}.conf`);
    const common = [
      `CAfile = ${join(dir, 'root.pem')}`,
      'verifyChain = yes',
      'sslVersionMin = TLSv1.3',
      'socket = l:TCP_NODELAY=1',
      'socket = r:TCP_NODELAY=1',
    ];
    writeFileSync(file, ['foreground = yes', 'pid =', 'debug = 3', ...lines, ...common, ''].join('\n'));
    return file;
  };
  // stunnel forwards to one port per service: two servers, one for the sink and one for HTTP.
  const stunnels: Peer[] = [];
  for (const [name, target, offset] of [
    ['sink', SINK, 0],
    ['http', HTTP, 1],
  ] as const) {
    stunnels.push(
      startPeer(stunnelBinary, [
        stunnelConf(`server-${name}`, [
          `[${name}]`,
          `accept = ${STUNNEL_SERVER.host}:${STUNNEL_SERVER.port + offset * 10}`,
          `connect = ${SERVER_IP}:${target}`,
          `cert = ${join(dir, 'server.pem')}`,
          `key = ${join(dir, 'server.key')}`,
          'requireCert = yes',
        ]),
      ]),
      startPeer(stunnelBinary, [
        stunnelConf(`client-${name}`, [
          `[${name}]`,
          'client = yes',
          `accept = ${STUNNEL_CLIENT.host}:${STUNNEL_CLIENT.port + offset * 10}`,
          `connect = ${STUNNEL_SERVER.host}:${STUNNEL_SERVER.port + offset * 10}`,
          `cert = ${join(dir, 'client.pem')}`,
          `key = ${join(dir, 'client.key')}`,
        ]),
      ]),
    );
  }
  peers.push(...stunnels);
  await waitForPort(SINK, SERVER_IP);
  await waitForPort(HTTP, SERVER_IP);
  for (const offset of [0, 10]) await waitForPort(STUNNEL_CLIENT.port + offset, STUNNEL_CLIENT.host, 30_000);

  const tcp = (host: string, port: number) => () =>
    new Promise<Duplex>((resolve, reject) => {
      const s: Socket = connect({ host, port, noDelay: true, allowHalfOpen: true });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  /** A connection through the client pod's SOCKS5 port, handed over once ztunnel said the tunnel is up. */
  const socks = (port: number) => () =>
    new Promise<Duplex>((resolve, reject) => {
      const s: Socket = connect({ host: CLIENT_IP, port: 15080, noDelay: true, allowHalfOpen: true });
      s.once('error', reject);
      s.once('connect', () => {
        const ip = SERVER_IP.split('.').map(Number);
        s.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, ...ip, port >> 8, port & 255]));
        let got: Buffer = Buffer.alloc(0);
        const onData = (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length < 12) return;
          s.off('data', onData);
          s.pause();
          if (got[1] !== 0 || got[3] !== 0) return reject(new Error(`SOCKS5 refused: ${[...got.subarray(0, 4)]}`));
          if (got.length > 12) s.unshift(got.subarray(12));
          resolve(s);
        };
        s.on('data', onData);
      });
    });

  interface Path {
    name: string;
    sink: () => Promise<Duplex>;
    http: () => Promise<Duplex>;
    /** Proxy processes on the path (CPU per 1,000 rps is reported per process). */
    procs: number[];
  }
  const paths: Path[] = [
    { name: 'direct (no proxy)', sink: tcp(SERVER_IP, SINK), http: tcp(SERVER_IP, HTTP), procs: [] },
    {
      name: 'stunnel pair',
      sink: tcp(STUNNEL_CLIENT.host, STUNNEL_CLIENT.port),
      http: tcp(STUNNEL_CLIENT.host, STUNNEL_CLIENT.port + 10),
      procs: [stunnels[2]!.pid, stunnels[3]!.pid], // the HTTP pair
    },
    { name: 'ztunnel pair (HBONE)', sink: socks(SINK), http: socks(HTTP), procs: [ztunnels.client, ztunnels.server] },
  ];

  async function bulk(open: () => Promise<Duplex>): Promise<number> {
    const c = await open();
    c.resume();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const started = performance.now();
    const end = started + bulkSeconds * 1000;
    const count = await new Promise<number>((resolve, reject) => {
      const reply: Buffer[] = [];
      c.on('data', (d: Buffer) => reply.push(d));
      c.once('end', () => resolve(Number(Buffer.concat(reply).readBigUInt64BE(0))));
      c.once('error', reject);
      c.write('B');
      const pump = () => {
        while (performance.now() < end) if (!c.write(chunk)) return void c.once('drain', pump);
        c.end();
      };
      pump();
    });
    c.destroy();
    return (count * 8) / ((performance.now() - started) / 1000) / 1e9;
  }

  /** HTTP/1.1 keep-alive at a fixed rate over 4 connections; latency of each request in µs. */
  async function fixedRate(
    open: () => Promise<Duplex>,
    rate: number,
    durationS: number,
  ): Promise<{ lat: number[]; sent: number; late: number }> {
    const conns = 4;
    const lat: number[] = [];
    let sent = 0;
    let late = 0;
    const request = Buffer.from('GET / HTTP/1.1\r\nHost: server\r\n\r\n');
    await Promise.all(
      Array.from({ length: conns }, async (_, i) => {
        const c = await open();
        c.resume();
        let buf: Buffer = Buffer.alloc(0);
        let waiting: (() => void) | undefined;
        c.on('data', (d: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, d]) : d;
          for (;;) {
            const headEnd = buf.indexOf('\r\n\r\n');
            if (headEnd < 0) return;
            const length = Number(/content-length: (\d+)/i.exec(buf.subarray(0, headEnd).toString('latin1'))?.[1] ?? 0);
            if (buf.length < headEnd + 4 + length) return;
            buf = buf.subarray(headEnd + 4 + length);
            const w = waiting;
            waiting = undefined;
            w?.();
          }
        });
        const interval = (conns / rate) * 1000;
        const start = performance.now() + (i * interval) / conns;
        const end = start + durationS * 1000;
        for (let k = 0; ; k++) {
          const at = start + k * interval;
          if (at >= end) break;
          const wait = at - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          else if (wait < -interval) late++;
          const t0 = performance.now();
          await new Promise<void>((resolve) => {
            waiting = resolve;
            c.write(request);
          });
          lat.push((performance.now() - t0) * 1000);
          sent++;
        }
        c.destroy();
      }),
    );
    return { lat: lat.slice(50), sent, late };
  }

  interface Sample {
    gbps: number;
    p50: number;
    p90: number;
    p99: number;
    achievedRps: number;
    late: number;
    cpuPer1k: number[];
  }
  const results = new Map<string, Sample[]>(paths.map((p) => [p.name, []]));
  console.error('warming up…');
  for (const p of paths) {
    await bulk(p.sink);
    await fixedRate(p.http, rps, 1);
  }
  const rssIdle = { client: rssMiB(ztunnels.client), server: rssMiB(ztunnels.server) };
  for (let round = 1; round <= rounds; round++) {
    console.error(`round ${round}/${rounds}`);
    for (const p of paths) {
      const gbps = await bulk(p.sink);
      const cpu0 = p.procs.map(cpuSeconds);
      const t0 = performance.now();
      const r = await fixedRate(p.http, rps, seconds);
      const elapsed = (performance.now() - t0) / 1000;
      const achievedRps = r.sent / elapsed;
      const cpuPer1k = p.procs.map((pid, i) => (cpuSeconds(pid) - cpu0[i]!) / elapsed / (achievedRps / 1000));
      results.get(p.name)!.push({
        gbps,
        p50: percentile(r.lat, 50),
        p90: percentile(r.lat, 90),
        p99: percentile(r.lat, 99),
        achievedRps,
        late: r.late,
        cpuPer1k,
      });
    }
  }

  // Memory with many open tunnels: `openCount` connections through the mesh, held open (sink mode 'H').
  console.error(`opening ${openCount} tunneled connections…`);
  const held: Duplex[] = [];
  for (let i = 0; i < openCount; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, openCount - i) }, () => socks(SINK)()));
    for (const c of batch) {
      c.write('H');
      c.on('error', () => {});
      held.push(c);
    }
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const rssOpen = { client: rssMiB(ztunnels.client), server: rssMiB(ztunnels.server) };
  for (const c of held) c.destroy();

  const med = (name: string, pick: (s: Sample) => number) => median(results.get(name)!.map(pick));
  const direct = paths[0]!.name;
  const stunnel = paths[1]!.name;
  const r2 = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : null);
  const r3 = (n: number) => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null);
  const rows: Cell[][] = paths.map((p) => {
    const isDirect = p.name === direct;
    return [
      p.name,
      r2(med(p.name, (s) => s.gbps)),
      isDirect ? null : r2(med(p.name, (s) => s.gbps) / med(stunnel, (s) => s.gbps)),
      Math.round(med(p.name, (s) => s.achievedRps)),
      Math.round(med(p.name, (s) => s.p50)),
      Math.round(med(p.name, (s) => s.p90)),
      Math.round(med(p.name, (s) => s.p99)),
      isDirect ? null : Math.round(med(p.name, (s) => s.p50) - med(direct, (s) => s.p50)),
      isDirect ? null : Math.round(med(p.name, (s) => s.p90) - med(direct, (s) => s.p90)),
      isDirect ? null : Math.round(med(p.name, (s) => s.p99) - med(direct, (s) => s.p99)),
      p.procs.length ? r3(med(p.name, (s) => Math.max(...s.cpuPer1k))) : null,
      p.procs.length ? r3(med(p.name, (s) => s.cpuPer1k.reduce((a, b) => a + b, 0) / s.cpuPer1k.length)) : null,
    ];
  });
  const zt = paths[2]!.name;
  const ztAddedP90 = med(zt, (s) => s.p90) - med(direct, (s) => s.p90);
  const ztCpu = med(zt, (s) => s.cpuPer1k.reduce((a, b) => a + b, 0) / s.cpuPer1k.length);
  publish({
    name: 'ztunnel',
    title: `ztunnel pair (SOCKS5 → HBONE → app) vs stunnel pair vs direct — loopback, ${rps} rps HTTP/1.1 (1 KiB, 4 keep-alive connections), medians of ${rounds} interleaved rounds`,
    columns: [
      'path',
      '1-stream Gbit/s',
      '× stunnel',
      'achieved rps',
      'p50 µs',
      'p90 µs',
      'p99 µs',
      'added p50 µs',
      'added p90 µs',
      'added p99 µs',
      'max vCPU/1k rps per proxy',
      'mean vCPU/1k rps per proxy',
    ],
    rows,
    notes: [
      `load average ${loadBefore} before, ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} after: 2 vCPUs shared with other jobs and with this load generator.`,
      `ztunnel RSS idle (after the warm-up, no connection open): client side ${r2(rssIdle.client)} MiB, server side ${r2(rssIdle.server)} MiB; with ${openCount} open tunneled connections: ${r2(rssOpen.client)} / ${r2(rssOpen.server)} MiB (+${r2(((rssOpen.client - rssIdle.client + rssOpen.server - rssIdle.server) / 2 / openCount) * 1024)} KiB per connection per ztunnel).`,
      `Istio 1.24 publishes ~0.06 vCPU and ~12 MB per 1,000 rps per ztunnel and +0.17 ms p90 for two ztunnels (1.22): here ${r3(ztCpu)} vCPU per 1,000 rps per ztunnel (${r2(ztCpu / 0.06)}× Istio's) and +${r3(ztAddedP90 / 1000)} ms p90 (${r2(ztAddedP90 / 170)}× Istio's); Istio's figures are from bare-metal servers with separate client and server machines, ours share 2 vCPUs with the load generator.`,
      `Node ${process.version} (OpenSSL ${process.versions.openssl}), ${(spawnSync(stunnelBinary, ['-version'], { encoding: 'utf8' }).stderr.match(/stunnel \S+/) ?? ['stunnel ?'])[0]}; ${seconds} s at ${rps} rps per path per round, ${bulkSeconds} s bulk; the ztunnel path includes the SOCKS5 hop (ztunnel's explicit capture on loopback).`,
      'CPU: user+system of each proxy process during the fixed-rate run, divided by the achieved rate in thousands.',
    ],
  });
} finally {
  await cleanup();
}

// Real-process helpers for the waypoint end-to-end suites: a throwaway PKI written to files, backend "pods" (a plain
// Node HTTP server behind a real HBONE server, standing in for the destination's ztunnel), the built waypoint as a
// child process, and an HBONE client that sends HTTP/1.1 requests through it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHboneServer, createHbonePool, type HbonePool, type HboneServer } from '@mesh/hbone';
import { CertificateAuthority, readCacerts } from '@mesh/ca';
import { createTestPki, type TestPki } from '@mesh/hbone/testing';
import { X509Bundle, X509BundleSet } from '@mesh/spiffe';
import { TunnelHttpPool } from '../src/upstream.js';

const here = dirname(fileURLToPath(import.meta.url));
export const bin = join(here, '..', 'bin', 'waypoint.mjs');
export const istiodBin = join(here, '..', '..', 'istiod', 'bin', 'istiod.mjs');
export const meshctlBin = join(here, '..', '..', 'meshctl', 'bin', 'meshctl.mjs');

/** The port every backend pod's HBONE server listens on (one per pod IP, as ztunnel's 15008). */
export const POD_HBONE_PORT = 27008;

export function assertBuilt(...bins: string[]): void {
  for (const b of [bin, ...bins])
    if (!existsSync(join(dirname(b), '..', 'dist', 'main.js')))
      throw new Error(`${b} is not built: run nx run-many -t build (test:e2e depends on build)`);
}

export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

export async function writeSvidFiles(pki: TestPki, dir: string, identity: string): Promise<void> {
  const svid = pki.issue(identity);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cert-chain.pem'), svid.chainPem());
  await writeFile(join(dir, 'key.pem'), svid.keyPem());
  await writeFile(join(dir, 'root-cert.pem'), pki.rootPem);
}

export interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  peer: string;
}

/** A destination pod: an HTTP server on <ip>:<port> and an HBONE server on <ip>:27008 in front of it. */
export interface Pod extends AsyncDisposable {
  readonly ip: string;
  readonly name: string;
  readonly hits: Hit[];
  /** Status to answer with, by path prefix (default 200); `fail` makes every request a 503. */
  behaviour: { fail?: boolean; status?: Record<string, number>; delayMs?: Record<string, number> };
  close(): Promise<void>;
}

/** Issues SVIDs: the throwaway test PKI, or istiod's CA directory (see caIssuer). */
export type Issuer = Pick<TestPki, 'issue' | 'bundles'>;

export async function startPod(
  pki: Issuer,
  options: { ip: string; name: string; port: number; identity: string },
): Promise<Pod> {
  const hits: Hit[] = [];
  const pod = {
    ip: options.ip,
    name: options.name,
    hits,
    behaviour: {} as Pod['behaviour'],
  };
  let lastPeer = '';
  const http: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.push({ path, headers: req.headers, peer: lastPeer });
    const b = pod.behaviour;
    const delay = Object.entries(b.delayMs ?? {}).find(([p]) => path.startsWith(p))?.[1] ?? 0;
    const status = b.fail ? 503 : (Object.entries(b.status ?? {}).find(([p]) => path.startsWith(p))?.[1] ?? 200);
    const body = JSON.stringify({ pod: options.name, path, host: req.headers.host });
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-pod': options.name });
      res.end(body);
    }, delay);
  });
  http.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => http.listen(options.port, options.ip, resolve));
  // HTTP/2 cleartext (prior knowledge) on port 8081, gRPC-like: the answer ends with trailers.
  const h2 = createHttp2Server();
  h2.on('stream', (stream, headers) => {
    hits.push({ path: String(headers[':path']), headers: headers as IncomingHttpHeaders, peer: lastPeer });
    stream.respond(
      { ':status': 200, 'content-type': 'application/json', 'x-pod': options.name },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
    stream.end(JSON.stringify({ pod: options.name, path: headers[':path'], protocol: 'h2', te: headers.te ?? null }));
  });
  await new Promise<void>((resolve) => h2.listen(8081, options.ip, resolve));
  // A TCP echo on port 9000, for services forwarded at L4.
  const echo = createNetServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(9000, options.ip, resolve));
  const hbone: HboneServer = createHboneServer({
    certificate: () => pki.issue(options.identity),
    bundles: pki.bundles,
    handler: (r) => {
      lastPeer = r.peerIdentity;
      return { action: 'forward' };
    },
  });
  await hbone.listen({ host: options.ip, port: POD_HBONE_PORT });
  const close = async () => {
    await hbone.destroy();
    echo.close();
    h2.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  };
  return Object.assign(pod, { close, [Symbol.asyncDispose]: close });
}

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export interface JsonProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns a program that logs JSON lines on stdout; resolves once `ready` logged. */
export async function spawnJsonProcess(
  args: string[],
  ready: string,
  env?: Record<string, string>,
): Promise<JsonProcess & { ready: LogLine }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  let stderr = '';
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      try {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const w of [...waiters]) w(line);
      } catch {
        stderr += `${text}\n`;
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000) => {
    const found = lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; stderr: ${stderr.slice(-2000)}; log: ${JSON.stringify(lines.slice(-10))}`,
          ),
        );
      }, timeoutMs);
      const check = (line: LogLine) => {
        if (!match(line)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(line);
      };
      waiters.add(check);
      void exited.then((code) => {
        if (!waiters.has(check)) return;
        clearTimeout(timer);
        waiters.delete(check);
        reject(
          new Error(
            `${args[0]} exited (${code}) before ${what}: ${stderr.slice(-2000)} ${JSON.stringify(lines.slice(-5))}`,
          ),
        );
      });
    });
  };
  const readyLine = await waitForLog((l) => l.msg === ready, ready, 30_000);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { child, lines, waitForLog, stop, ready: readyLine, [Symbol.asyncDispose]: async () => void (await stop()) };
}

export interface WaypointProcess extends JsonProcess {
  readonly hbonePort: number;
  readonly adminPort: number;
  admin(path: string, init?: RequestInit): Promise<{ status: number; text: string }>;
}

export async function startWaypointProcess(options: {
  args: string[];
  host: string;
  hbonePort?: number;
  env?: Record<string, string>;
}): Promise<WaypointProcess> {
  const p = await spawnJsonProcess(
    [
      bin,
      '--listen',
      `${options.host}:${options.hbonePort ?? 0}`,
      '--admin',
      `${options.host}:0`,
      '--upstream-hbone-port',
      String(POD_HBONE_PORT),
      '--config-debounce',
      '50ms',
      ...options.args,
    ],
    'waypoint ready',
    options.env,
  );
  const adminPort = p.ready.admin as number;
  return {
    ...p,
    hbonePort: p.ready.hbonePort as number,
    adminPort,
    async admin(path, init) {
      const res = await fetch(`http://${options.host}:${adminPort}${path}`, {
        ...init,
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, text: await res.text() };
    },
  };
}

/** The built istiod on loopback (explicit free ports, never Istio's defaults), from a config directory. */
export async function startIstiod(options: {
  configDir: string;
  caDir: string;
}): Promise<JsonProcess & { ports: { grpc: number; secureGrpc: number; monitoring: number } }> {
  const p = await spawnJsonProcess(
    [
      istiodBin,
      '--config-dir',
      options.configDir,
      '--ca-dir',
      options.caDir,
      '--grpc-addr',
      '127.0.0.1:0',
      '--secure-grpc-addr',
      '127.0.0.1:0',
      '--monitoring-addr',
      '127.0.0.1:0',
      '--config-debounce',
      '50ms',
    ],
    'istiod ready',
  );
  return {
    ...p,
    ports: {
      grpc: p.ready.grpc as number,
      secureGrpc: p.ready.secureGrpc as number,
      monitoring: p.ready.monitoring as number,
    },
  };
}

/** Runs the built meshctl; resolves with its exit code and output. */
export function meshctl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [meshctlBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: () => { pod: string; path: string; host: string };
}

/**
 * A client workload: HTTP/1.1 over HBONE tunnels to the waypoint, with keep-alive (each connection of the agent is
 * one CONNECT stream), as ztunnel would send a captured connection to a service that uses the waypoint.
 */
export class MeshClient implements AsyncDisposable {
  readonly pool: HbonePool;
  #http = new TunnelHttpPool();

  constructor(
    pki: Issuer,
    readonly options: { identity: string; waypoint: () => string; waypointIdentity: string; target: string },
  ) {
    const svid = pki.issue(options.identity);
    this.pool = createHbonePool({ certificate: () => svid, bundles: pki.bundles });
  }

  async get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
    const res = await this.#http.request(
      'waypoint',
      () =>
        this.pool.dial({
          target: this.options.target,
          via: this.options.waypoint(),
          expectedIdentities: [this.options.waypointIdentity],
          baggage: { namespace: 'shop', workloadName: 'sleep', serviceName: 'sleep' },
        }),
      { method, path, headers: { host: 'web.shop.svc.cluster.local', ...headers }, body: null, timeoutMs: 20_000 },
    );
    let body = '';
    res.setEncoding('utf8');
    for await (const d of res) body += d as string;
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body,
      json: () => JSON.parse(body) as ReturnType<Reply['json']>,
    };
  }

  /** Forgets pooled connections (after the waypoint restarted). */
  reset(): void {
    this.#http.close();
    this.#http = new TunnelHttpPool();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#http.close();
    await this.pool.destroy();
  }
}

/** Polls `check` until it returns a value other than undefined. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { createTestPki, type TestPki };

/** An Issuer signing with a cacerts directory (istiod's CA), as the destination ztunnels would get certificates. */
export async function caIssuer(dir: string): Promise<Issuer> {
  const material = await readCacerts({ dir });
  const authority = CertificateAuthority.fromMaterial(material, { trustDomain: 'cluster.local' });
  const bundles = new X509BundleSet();
  let rootsPem = '';
  const issue = (identity: string | { namespace: string; serviceAccount: string }) => {
    const id =
      typeof identity === 'string'
        ? identity.startsWith('spiffe://')
          ? identity
          : `spiffe://cluster.local${identity}`
        : `spiffe://cluster.local/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
    const issued = authority.issue({ identity: id, caller: 'e2e' });
    if (!rootsPem) {
      rootsPem = issued.rootsPem;
      bundles.set(X509Bundle.parse('cluster.local', rootsPem));
    }
    return issued.svid!;
  };
  issue('/ns/default/sa/bootstrap');
  return { issue, bundles } as Issuer;
}

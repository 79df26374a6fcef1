// Real-process helpers for the ztunnel end-to-end suites: `meshctl up` (the built meshctl running the built istiod
// and ztunnels) on loopback addresses in 127.10.0.0/16 and 127.11.0.0/16, curl through the pods' SOCKS5 ports, and
// sample apps (HTTP servers on pod IPs that answer with their name and the client address they see).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as testing from '@mesh/tools/testing';
import type { LogLine } from '@mesh/tools/testing';

// The generic pieces live in @mesh/tools/testing (shared with the istiod and waypoint suites).
export { eventually, type LogLine } from '@mesh/tools/testing';

export const meshctlBin = testing.meshctlBin;
const ztunnelBin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ztunnel.mjs');

export function assertBuilt(): void {
  testing.assertBuilt(meshctlBin, testing.istiodBin, ztunnelBin);
}

export interface Mesh extends AsyncDisposable {
  readonly dir: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly child: ChildProcess;
  /** Everything meshctl printed so far. */
  output(): string;
  /** The JSON lines of one process's log (`istiod`, `ztunnel-node-a`). */
  log(name: string): Promise<LogLine[]>;
  writeConfig(file: string, text: string): Promise<void>;
  removeConfig(file: string): Promise<void>;
  /** SIGINT; resolves with meshctl's exit code. */
  stop(): Promise<number | null>;
}

export async function startMesh(options: {
  config: Record<string, string>;
  args?: string[];
  timeoutMs?: number;
}): Promise<Mesh> {
  const dir = await mkdtemp(join(tmpdir(), 'ztunnel-e2e-'));
  const configDir = join(dir, 'config');
  const stateDir = join(dir, 'state');
  await mkdir(configDir);
  for (const [file, text] of Object.entries(options.config)) await writeFile(join(configDir, file), text);
  const child = spawn(
    process.execPath,
    [meshctlBin, 'up', '--config', configDir, '--state-dir', stateDir, ...(options.args ?? [])],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh not ready: ${out}`)), options.timeoutMs ?? 60_000);
    const check = () => {
      if (out.includes('mesh ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`meshctl up exited (${code}) before ready: ${out}`));
    });
  });
  const stop = () => testing.stopChild(child, exited, 'SIGINT', 30_000);
  return {
    dir,
    configDir,
    stateDir,
    child,
    output: () => out,
    async log(name) {
      const text = await readFile(join(stateDir, 'logs', `${name}.log`), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine);
    },
    writeConfig: (file, text) => writeFile(join(configDir, file), text),
    removeConfig: (file) => rm(join(configDir, file), { force: true }),
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP app on a pod IP answering `<name> <client address>`. */
export async function startApp(name: string, host: string, port: number): Promise<Server & AsyncDisposable> {
  const server = createServer((req, res) => {
    if (req.url === '/slow') {
      // Holds the connection open (a live connection for policy tests) until the client goes away.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${name} streaming\n`);
      const t = setInterval(() => res.write('.'), 200);
      res.on('close', () => clearInterval(t));
      return;
    }
    res.end(`${name} ${req.socket.remoteAddress}\n`);
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return Object.assign(server, {
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  });
}

export interface CurlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** curl through a pod's SOCKS5 port (`--socks5` resolves locally; `hostname: true` lets the proxy resolve). */
export function curl(
  socks: string,
  url: string,
  options: { hostname?: boolean; timeoutS?: number; args?: string[] } = {},
): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      [
        '-sS',
        '--max-time',
        String(options.timeoutS ?? 5),
        options.hostname ? '--socks5-hostname' : '--socks5',
        socks,
        ...(options.args ?? []),
        url,
      ],
      { timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** Sums a Prometheus counter over the series whose labels include every given label. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

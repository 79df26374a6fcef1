// Real-process helpers for the istiod end-to-end suites: start the built istiod on free loopback ports, read its JSON
// log, wait with bounds, and clean up.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'istiod.mjs');
export const meshctlBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'meshctl', 'bin', 'meshctl.mjs');

export function assertBuilt(): void {
  for (const b of [bin, meshctlBin])
    if (!existsSync(join(dirname(b), '..', 'dist', 'main.js')))
      throw new Error(`${b} is not built: run nx run-many -t build (test:e2e depends on build)`);
}

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export interface IstiodProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  readonly ports: { grpc: number; secureGrpc: number; monitoring: number };
  readonly lines: LogLine[];
  /** Resolves with the first log line that matches (among those already logged unless `seen` is false). */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number, seen?: boolean): Promise<LogLine>;
  /** GET on the monitoring port. */
  get(path: string): Promise<{ status: number; text: string }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startIstiod(options: {
  configDir?: string;
  caDir: string;
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}): Promise<IstiodProcess> {
  const args = [
    bin,
    ...(options.configDir ? ['--config-dir', options.configDir] : []),
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
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
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

  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000, seen = false) => {
    if (seen) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
    }
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
            `istiod exited (${code}) before ${what}: ${stderr.slice(-2000)} ${JSON.stringify(lines.slice(-5))}`,
          ),
        );
      });
    });
  };

  const ready = await waitForLog((l) => l.msg === 'istiod ready', 'istiod ready', options.timeoutMs ?? 30_000, true);
  const ports = {
    grpc: ready.grpc as number,
    secureGrpc: ready.secureGrpc as number,
    monitoring: ready.monitoring as number,
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return {
    child,
    ports,
    lines,
    waitForLog: (match, what, timeoutMs, seen = true) => waitForLog(match, what, timeoutMs, seen),
    async get(path) {
      const res = await fetch(`http://127.0.0.1:${ports.monitoring}${path}`, { signal: AbortSignal.timeout(10_000) });
      return { status: res.status, text: await res.text() };
    },
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/** Polls `check` until it returns a value other than undefined, for at most `timeoutMs`. */
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

export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** Writes a file atomically enough for the watcher (write then the store rescans). */
export async function writeYaml(path: string, text: string): Promise<void> {
  await writeFile(path, text);
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

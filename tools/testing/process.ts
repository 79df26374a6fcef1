// Real-process helpers for end-to-end suites and benches: spawn a built program that logs JSON lines, wait for a log
// line with a bound and an error that says what the process printed, stop it with a signal (SIGKILL if it hangs),
// start istiod on loopback with throwaway ports, poll until something holds, and make temporary directories.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const apps = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'apps');
/** The built programs' launchers (each runs its app's dist/main.js). */
export const istiodBin = join(apps, 'istiod', 'bin', 'istiod.mjs');
export const meshctlBin = join(apps, 'meshctl', 'bin', 'meshctl.mjs');

/** Throws when a launcher's dist/main.js is missing, with what to run (e2e targets depend on build). */
export function assertBuilt(...bins: string[]): void {
  for (const b of bins)
    if (!existsSync(join(dirname(b), '..', 'dist', 'main.js')))
      throw new Error(`${b} is not built: run nx run-many -t build (test:e2e depends on build)`);
}

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export interface JsonProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  /** Every JSON line logged on stdout so far. */
  readonly lines: LogLine[];
  /**
   * Resolves with the first log line that matches, among those already logged unless `seen` is false; rejects after
   * `timeoutMs` (default 15 s) or when the process exits first, quoting its stderr and last log lines.
   */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number, seen?: boolean): Promise<LogLine>;
  /** Sends `signal` (default SIGTERM), SIGKILL after 15 s; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns `node <args>` (a program that logs JSON lines on stdout) and resolves once it logged `ready` (a message or a
 * predicate) within `readyTimeoutMs` (default 30 s). Lines of stdout that are not JSON count as stderr.
 */
export async function spawnJsonProcess(options: {
  args: string[];
  ready: string | ((line: LogLine) => boolean);
  env?: Record<string, string> | undefined;
  /** Names the process in errors (default: the script, args[0]). */
  name?: string;
  readyTimeoutMs?: number;
}): Promise<JsonProcess & { ready: LogLine }> {
  const { args } = options;
  const name = options.name ?? args[0];
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

  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000, seen = true) => {
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
            `${name} exited (${code}) before ${what}: ${stderr.slice(-2000)} ${JSON.stringify(lines.slice(-5))}`,
          ),
        );
      });
    });
  };

  const { ready } = options;
  const readyLine = await waitForLog(
    typeof ready === 'string' ? (l) => l.msg === ready : ready,
    typeof ready === 'string' ? ready : 'ready',
    options.readyTimeoutMs ?? 30_000,
  );
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, exited, signal, 15_000);
  return { child, lines, waitForLog, stop, ready: readyLine, [Symbol.asyncDispose]: async () => void (await stop()) };
}

/**
 * Sends `signal` unless the child already exited, SIGKILL after `killAfterMs`; resolves with the exit code.
 * `exited` must be a promise made when the child was spawned (a late `once('exit')` could miss the event).
 */
export async function stopChild(
  child: ChildProcess,
  exited: Promise<number | null>,
  signal: NodeJS.Signals,
  killAfterMs: number,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export interface IstiodProcess extends JsonProcess {
  readonly ports: { grpc: number; secureGrpc: number; monitoring: number };
  /** GET on the monitoring port. */
  get(path: string): Promise<{ status: number; text: string }>;
}

/**
 * The built istiod on 127.0.0.1 with ports the OS picks (never Istio's defaults, so suites run side by side), a CA
 * directory, optionally a config directory, and a 50 ms config debounce so file changes show quickly.
 */
export async function startIstiod(options: {
  configDir?: string | undefined;
  caDir: string;
  args?: string[] | undefined;
  env?: Record<string, string> | undefined;
  /** How long to wait for `istiod ready` (default 30 s). */
  timeoutMs?: number | undefined;
  /** The launcher (default: apps/istiod's). */
  bin?: string;
}): Promise<IstiodProcess & { ready: LogLine }> {
  const p = await spawnJsonProcess({
    args: [
      options.bin ?? istiodBin,
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
    ],
    ready: 'istiod ready',
    env: options.env,
    name: 'istiod',
    readyTimeoutMs: options.timeoutMs ?? 30_000,
  });
  const ports = {
    grpc: p.ready.grpc as number,
    secureGrpc: p.ready.secureGrpc as number,
    monitoring: p.ready.monitoring as number,
  };
  return {
    ...p,
    ports,
    async get(path) {
      const res = await fetch(`http://127.0.0.1:${ports.monitoring}${path}`, { signal: AbortSignal.timeout(10_000) });
      return { status: res.status, text: await res.text() };
    },
  };
}

/** Runs `node <args>` to completion (SIGKILL after `timeoutMs`, default 30 s); resolves with its exit code and output. */
export function runNode(
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls `check` every 50 ms until it returns a value other than undefined, for at most `timeoutMs`. */
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

/** A fresh directory under the OS temp dir, removed with everything in it on dispose. */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

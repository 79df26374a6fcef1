// A small process supervisor for `meshctl up`: runs child programs, writes each one's output to a log file, knows
// when each is ready (a JSON log line it prints), restarts one that exits unexpectedly (with backoff), and stops them
// in reverse start order. Which processes should exist is the caller's business (`reconcile(specs)`), so a provider
// can add e.g. one waypoint per Gateway without touching this file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { EventEmitter } from 'node:events';

export interface ProcessSpec {
  /** Unique and stable: `istiod`, `ztunnel/node-a`, `waypoint/ns/name`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** The process is ready when it prints a JSON line whose `msg` equals this. */
  readonly readyMessage: string;
  readonly logFile: string;
  /** Specs with the same name and a different fingerprint are restarted on reconcile. */
  readonly fingerprint?: string;
  /** Order: lower starts first and stops last (istiod 0, ztunnels 1, waypoints 2). */
  readonly tier: number;
}

export type ProcessState = 'starting' | 'ready' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ProcessStatus {
  readonly name: string;
  readonly state: ProcessState;
  readonly pid: number | undefined;
  readonly restarts: number;
  /** The JSON line that said ready (ports, pods…). */
  readonly readyLine: Record<string, unknown> | undefined;
  readonly lastExit: { code: number | null; signal: string | null } | undefined;
}

export interface SupervisorEvents {
  state: [status: ProcessStatus];
  /** Every JSON line a child prints, parsed. */
  line: [name: string, line: Record<string, unknown>];
}

interface Managed {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  state: ProcessState;
  restarts: number;
  readyLine: Record<string, unknown> | undefined;
  lastExit: { code: number | null; signal: string | null } | undefined;
  log: WriteStream;
  timer: NodeJS.Timeout | undefined;
  /** Resolves when the current child exits. */
  exited: Promise<void>;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
}

export interface SupervisorOptions {
  /** Restart backoff: initial and maximum delay. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** SIGTERM, then SIGKILL after this. */
  stopTimeoutMs?: number;
}

export class Supervisor extends EventEmitter<SupervisorEvents> implements AsyncDisposable {
  readonly #procs = new Map<string, Managed>();
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #stopTimeoutMs: number;
  #closed = false;

  constructor(options: SupervisorOptions = {}) {
    super();
    this.#initialMs = options.backoff?.initialMs ?? 500;
    this.#maxMs = options.backoff?.maxMs ?? 10_000;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  }

  /** Starts what is new or changed, stops what is no longer listed. */
  async reconcile(specs: readonly ProcessSpec[]): Promise<void> {
    const wanted = new Map(specs.map((s) => [s.name, s]));
    const gone = [...this.#procs.values()]
      .filter((m) => {
        const w = wanted.get(m.spec.name);
        return !w || (w.fingerprint ?? '') !== (m.spec.fingerprint ?? '');
      })
      .sort((a, b) => b.spec.tier - a.spec.tier);
    for (const m of gone) await this.#stop(m);
    for (const spec of [...wanted.values()].sort((a, b) => a.tier - b.tier))
      if (!this.#procs.has(spec.name)) this.#start(spec);
  }

  /** Resolves when `name` is ready; rejects if it fails or stops first, or after `timeoutMs`. */
  waitReady(name: string, timeoutMs = 30_000): Promise<void> {
    const m = this.#procs.get(name);
    if (!m) return Promise.reject(new Error(`${name} is not supervised`));
    if (m.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        m.waiters = m.waiters.filter((w) => w !== waiter);
        reject(new Error(`${name} was not ready within ${timeoutMs} ms (see ${m.spec.logFile})`));
      }, timeoutMs);
      const waiter = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      m.waiters.push(waiter);
    });
  }

  status(): ProcessStatus[] {
    return [...this.#procs.values()].map((m) => this.#status(m));
  }

  #status(m: Managed): ProcessStatus {
    return {
      name: m.spec.name,
      state: m.state,
      pid: m.child?.pid,
      restarts: m.restarts,
      readyLine: m.readyLine,
      lastExit: m.lastExit,
    };
  }

  #setState(m: Managed, state: ProcessState): void {
    m.state = state;
    this.emit('state', this.#status(m));
  }

  #start(spec: ProcessSpec): void {
    const m: Managed = {
      spec,
      child: undefined,
      state: 'starting',
      restarts: 0,
      readyLine: undefined,
      lastExit: undefined,
      log: createWriteStream(spec.logFile, { flags: 'a' }),
      timer: undefined,
      exited: Promise.resolve(),
      waiters: [],
    };
    m.log.on('error', () => {});
    this.#procs.set(spec.name, m);
    this.#spawn(m);
  }

  #spawn(m: Managed): void {
    const { spec } = m;
    m.readyLine = undefined;
    this.#setState(m, 'starting');
    const child = spawn(spec.command, [...spec.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...spec.env },
    });
    m.child = child;
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      m.log.write(chunk);
      buffer += chunk;
      // Lines are bounded: a child printing without newlines cannot grow this buffer past 1 MiB.
      if (buffer.length > 1 << 20) buffer = buffer.slice(-(1 << 16));
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const text = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (!text.startsWith('{')) continue;
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        this.emit('line', spec.name, line);
        if (line.msg === spec.readyMessage && m.state === 'starting' && m.child === child) {
          m.readyLine = line;
          this.#setState(m, 'ready');
          for (const w of m.waiters.splice(0)) w.resolve();
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => m.log.write(chunk));
    m.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        m.lastExit = { code, signal };
        if (m.child === child) m.child = undefined;
        resolve();
        if (m.state === 'stopping' || this.#closed) return;
        // Unexpected exit: restart with backoff. Waiters of the first start learn it failed.
        for (const w of m.waiters.splice(0))
          w.reject(new Error(`${spec.name} exited (${signal ?? code}) before it was ready; see ${spec.logFile}`));
        const delay = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(m.restarts, 10));
        m.restarts++;
        this.#setState(m, 'restarting');
        m.timer = setTimeout(() => {
          m.timer = undefined;
          if (!this.#closed && this.#procs.get(spec.name) === m) this.#spawn(m);
        }, delay);
      });
    });
    child.once('error', (error) => {
      m.log.write(`meshctl: cannot start ${spec.command}: ${error.message}\n`);
    });
  }

  async #stop(m: Managed): Promise<void> {
    this.#procs.delete(m.spec.name);
    if (m.timer) clearTimeout(m.timer);
    this.#setState(m, 'stopping');
    const child = m.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), this.#stopTimeoutMs);
      await m.exited;
      clearTimeout(kill);
    }
    for (const w of m.waiters.splice(0)) w.reject(new Error(`${m.spec.name} was stopped`));
    this.#setState(m, 'stopped');
    await new Promise<void>((resolve) => m.log.end(resolve));
  }

  /** Stops everything, highest tier first (waypoints, ztunnels, then istiod). */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#procs.values()].sort((a, b) => b.spec.tier - a.spec.tier);
    const tiers = [...new Set(all.map((m) => m.spec.tier))];
    for (const tier of tiers) await Promise.all(all.filter((m) => m.spec.tier === tier).map((m) => this.#stop(m)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

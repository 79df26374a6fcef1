import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoreError } from './errors.js';
import { readProgramOptions, runProgram, type ProgramLogger } from './program.js';

/** A fake process, a log that records lines, and a flush that completes only when told to. */
function harness() {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  const proc = {
    exitCode: undefined as number | string | null | undefined,
    on: (signal: string, listener: () => void) => listeners.set(signal, listener),
    exit: (code: number) => void exits.push(code),
  };
  const lines: Array<{ level: string; fields: object; message: string }> = [];
  const record = (level: string) => (fields: object, message: string) => void lines.push({ level, fields, message });
  const log: ProgramLogger = {
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    fatal: record('fatal'),
  };
  const flushes: Array<() => void> = [];
  const flushLog = (done: () => void) => void flushes.push(done);
  const signal = (name: string) => listeners.get(name)!();
  return { proc, log, lines, exits, flushes, flushLog, signal };
}

/** Lets pending promise callbacks run (vi.waitFor would move the fake clock). */
async function settle() {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function closable(close: () => Promise<void> = async () => {}) {
  return { close: vi.fn(close) };
}

describe('runProgram', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('closes on SIGTERM and exits 0 once the log is flushed', async () => {
    const h = harness();
    const program = closable();
    await runProgram({ name: 'demo', log: h.log, flushLog: h.flushLog, process: h.proc, start: async () => program });
    expect(h.exits).toEqual([]);
    h.signal('SIGTERM');
    await settle();
    expect(h.flushes).toHaveLength(1);
    expect(program.close).toHaveBeenCalledOnce();
    expect(h.proc.exitCode).toBe(0);
    expect(h.exits).toEqual([]);
    h.flushes[0]!();
    expect(h.exits).toEqual([0]);
    expect(h.lines).toEqual([{ level: 'info', fields: { signal: 'SIGTERM' }, message: 'signal received' }]);
  });

  it('exits after the timeout when the flush never completes', async () => {
    const h = harness();
    await runProgram({
      name: 'demo',
      log: h.log,
      flushLog: h.flushLog,
      process: h.proc,
      start: async () => closable(),
      exitTimeoutMs: 500,
    });
    h.signal('SIGINT');
    await settle();
    expect(h.flushes).toHaveLength(1);
    vi.advanceTimersByTime(499);
    expect(h.exits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.exits).toEqual([0]);
  });

  it('exits 1 when close fails, logging why', async () => {
    const h = harness();
    const failure = new Error('stuck');
    await runProgram({
      name: 'demo',
      log: h.log,
      flushLog: (done) => done(),
      process: h.proc,
      start: async () => closable(async () => Promise.reject(failure)),
    });
    h.signal('SIGTERM');
    await settle();
    expect(h.exits).toEqual([1]);
    expect(h.lines.at(-1)).toEqual({ level: 'error', fields: { err: failure }, message: 'shutdown failed' });
  });

  it('exits 1 at once on a second signal while closing', async () => {
    const h = harness();
    const program = closable(() => new Promise<void>(() => {}));
    await runProgram({
      name: 'demo',
      log: h.log,
      flushLog: (done) => done(),
      process: h.proc,
      start: async () => program,
    });
    h.signal('SIGTERM');
    h.signal('SIGINT');
    expect(h.exits).toEqual([1]);
    expect(program.close).toHaveBeenCalledOnce();
    expect(h.lines.at(-1)).toEqual({
      level: 'warn',
      fields: { signal: 'SIGINT' },
      message: 'second signal: exiting now',
    });
  });

  it('lets the program ask to be stopped', async () => {
    const h = harness();
    const program = closable();
    let quit: ((reason: string) => void) | undefined;
    await runProgram({
      name: 'demo',
      log: h.log,
      flushLog: (done) => done(),
      process: h.proc,
      start: async (stop) => {
        quit = stop;
        return program;
      },
    });
    quit!('quitquitquit');
    await settle();
    expect(h.exits).toEqual([0]);
    expect(h.lines[0]).toMatchObject({ fields: { signal: 'quitquitquit' } });
  });

  it('on a signal during start, exits 0 and closes the program once started', async () => {
    const h = harness();
    const program = closable();
    let started!: (value: typeof program) => void;
    const running = runProgram({
      name: 'demo',
      log: h.log,
      flushLog: (done) => done(),
      process: h.proc,
      start: () => new Promise((resolve) => (started = resolve)),
    });
    h.signal('SIGTERM');
    await settle();
    expect(h.exits).toEqual([0]);
    started(program);
    await running;
    expect(program.close).toHaveBeenCalledOnce();
  });

  it('logs a failed start as fatal (with the code of a MeshError) and exits 1', async () => {
    const h = harness();
    const plain = new Error('port in use');
    await runProgram({
      name: 'demo',
      log: h.log,
      flushLog: (done) => done(),
      process: h.proc,
      start: async () => Promise.reject(plain),
    });
    expect(h.exits).toEqual([1]);
    expect(h.lines).toEqual([
      { level: 'fatal', fields: { err: plain, code: undefined }, message: 'demo failed to start' },
    ]);

    const h2 = harness();
    const coded = new CoreError('ERR_CORE_TIMEOUT', 'took too long');
    await runProgram({
      name: 'demo',
      log: h2.log,
      flushLog: (done) => done(),
      process: h2.proc,
      start: async () => Promise.reject(coded),
    });
    expect(h2.exits).toEqual([1]);
    expect(h2.lines).toEqual([
      {
        level: 'fatal',
        fields: { err: coded, code: 'ERR_CORE_TIMEOUT' },
        message: 'ERR_CORE_TIMEOUT: took too long',
      },
    ]);
  });
});

describe('readProgramOptions', () => {
  /** A process whose exit throws (as the real one never returns), recording the code and stderr. */
  function fakeProcess() {
    const out = { stderr: '', exit: undefined as number | undefined };
    const process = {
      stderr: { write: (text: string) => void (out.stderr += text) },
      exit: (code: number): never => {
        out.exit = code;
        throw new Error(`exit ${code}`);
      },
    };
    return { out, process };
  }
  const usage = new Error('unknown option');
  const help = new Error('help shown');
  const usageExitCode = (error: unknown) => (error === help ? 0 : error === usage ? 2 : undefined);

  it('returns the parsed flags and the options', () => {
    const { process } = fakeProcess();
    expect(
      readProgramOptions({ parse: () => ({ port: '80' }), usageExitCode, resolve: (raw) => Number(raw.port), process }),
    ).toEqual({ raw: { port: '80' }, options: 80 });
  });

  it("exits with the parser's code, and rethrows what the parser does not know", () => {
    for (const [error, code] of [
      [help, 0],
      [usage, 2],
    ] as const) {
      const { out, process } = fakeProcess();
      const parse = () => {
        throw error;
      };
      expect(() => readProgramOptions({ parse, usageExitCode, resolve: () => 1, process })).toThrow(`exit ${code}`);
      expect(out).toEqual({ stderr: '', exit: code });
    }
    const { out, process } = fakeProcess();
    const bug = new TypeError('bug');
    const parse = () => {
      throw bug;
    };
    expect(() => readProgramOptions({ parse, usageExitCode, resolve: () => 1, process })).toThrow(bug);
    expect(out.exit).toBeUndefined();
  });

  it('prints why a value is invalid (with the code of a MeshError) and exits 2', () => {
    for (const [error, printed] of [
      [new CoreError('ERR_CORE_TIMEOUT', '--wait: too long'), 'ERR_CORE_TIMEOUT: --wait: too long\n'],
      [new RangeError('--port: out of range'), '--port: out of range\n'],
    ] as const) {
      const { out, process } = fakeProcess();
      const resolve = () => {
        throw error;
      };
      expect(() => readProgramOptions({ parse: () => ({}), usageExitCode, resolve, process })).toThrow('exit 2');
      expect(out).toEqual({ stderr: printed, exit: 2 });
    }
  });
});

// The process lifecycle every long-running mesh program shares: flags to options (exit 0 for help, 2 for bad flags),
// start, stop on SIGTERM/SIGINT, exit now on a second signal, exit 1 with a fatal log line when start fails, and exit
// only once the log is flushed. The process, the flag parser, the log and its flush are injected so this stays free
// of I/O and testable without signals.
import { MeshError } from './errors.js';

/** The slice of a logger (pino's shape) the lifecycle writes to. */
export interface ProgramLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  fatal(fields: object, message: string): void;
}

/** The slice of Node's `process` the lifecycle uses; pass `process` itself. */
export interface ProgramProcess {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  exit(code: number): void;
  exitCode?: number | string | null | undefined;
}

export interface ReadProgramOptions<Raw, Options> {
  /** Parses the command line; throws on usage errors, on --help and on --version. */
  parse(): Raw;
  /** The exit code for an error `parse` threw (0 after help or version, 2 for usage); undefined rethrows it. */
  usageExitCode(error: unknown): number | undefined;
  /** Turns parsed flags into options; throws when a value is invalid. */
  resolve(raw: Raw): Options;
  process: { exit(code: number): never; stderr: { write(text: string): unknown } };
}

/**
 * Flags to options, exiting as a command-line program should: with `usageExitCode` when parsing fails (the parser
 * has printed why), and with 2 after printing `CODE: message` (or the message) when a value is invalid.
 */
export function readProgramOptions<Raw, Options>(
  hooks: ReadProgramOptions<Raw, Options>,
): {
  raw: Raw;
  options: Options;
} {
  let raw: Raw;
  try {
    raw = hooks.parse();
  } catch (error) {
    const code = hooks.usageExitCode(error);
    if (code !== undefined) hooks.process.exit(code);
    throw error;
  }
  try {
    return { raw, options: hooks.resolve(raw) };
  } catch (error) {
    hooks.process.stderr.write(`${error instanceof MeshError ? `${error.code}: ` : ''}${(error as Error).message}\n`);
    return hooks.process.exit(2);
  }
}

export interface RunProgramOptions {
  /** The program's name, for the log line when start fails with something other than a MeshError. */
  name: string;
  log: ProgramLogger;
  /** Calls `done` once buffered log lines are written (pino writes asynchronously). */
  flushLog(done: () => void): void;
  process: ProgramProcess;
  /** Starts the program; `stop(reason)` lets it ask to be stopped (e.g. an admin quit endpoint). */
  start(stop: (reason: string) => void): Promise<{ close(): Promise<void> }>;
  /** How long exiting may wait for the log flush. Default 1000 ms. */
  exitTimeoutMs?: number;
}

/**
 * Runs a program until it is stopped. Resolves once start has settled; the process exits later, on a signal (0 when
 * close succeeds, 1 when it fails or on a second signal) or right away with 1 when start fails.
 */
export async function runProgram(options: RunProgramOptions): Promise<void> {
  const { log, process } = options;
  const exitTimeoutMs = options.exitTimeoutMs ?? 1_000;
  /** Exits once the log is flushed, or after `exitTimeoutMs` at most. */
  const exit = (code: number) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), exitTimeoutMs).unref();
    options.flushLog(() => process.exit(code));
  };
  let program: { close(): Promise<void> } | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    log.info({ signal }, 'signal received');
    // A stop before start has finished exits at once; the program started meanwhile is closed below.
    void (program?.close() ?? Promise.resolve()).then(
      () => exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    program = await options.start(stop);
    if (stopping) await program.close();
  } catch (error) {
    log.fatal(
      { err: error, code: error instanceof MeshError ? error.code : undefined },
      error instanceof MeshError ? `${error.code}: ${error.message}` : `${options.name} failed to start`,
    );
    exit(1);
  }
}

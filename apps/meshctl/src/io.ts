// Where a command reads and writes. Tests pass buffers; the program passes the process streams.
import { PassThrough, type Readable, type Writable } from 'node:stream';

export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Raw bytes in and out, for commands that pipe data (`meshctl hbone connect`). */
  readonly stdin: Readable;
  readonly stdoutBytes: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM for long-running commands. */
  readonly signal: AbortSignal;
}

export function processIO(signal: AbortSignal): CommandIO {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdin: process.stdin,
    stdoutBytes: process.stdout,
    env: process.env,
    signal,
  };
}

export interface BufferedIO extends CommandIO {
  readonly out: string[];
  readonly err: string[];
  /** Write here to feed stdin (end it for EOF). */
  readonly input: PassThrough;
  /** Everything written to stdoutBytes. */
  readonly bytes: Buffer[];
}

export function bufferedIO(
  env: Record<string, string | undefined> = {},
  signal: AbortSignal = new AbortController().signal,
): BufferedIO {
  const out: string[] = [];
  const err: string[] = [];
  const bytes: Buffer[] = [];
  const input = new PassThrough();
  const stdoutBytes = new PassThrough();
  stdoutBytes.on('data', (chunk: Buffer) => bytes.push(chunk));
  return {
    out,
    err,
    bytes,
    input,
    env,
    signal,
    stdin: input,
    stdoutBytes,
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
  };
}

/** Thrown by a command to end with an exit code after it has written its output (nothing more is printed). */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

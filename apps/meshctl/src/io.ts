// Where a command writes. Tests pass buffers; the program passes the process streams.
export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM for long-running commands. */
  readonly signal: AbortSignal;
}

export function processIO(signal: AbortSignal): CommandIO {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    signal,
  };
}

export interface BufferedIO extends CommandIO {
  readonly out: string[];
  readonly err: string[];
}

export function bufferedIO(
  env: Record<string, string | undefined> = {},
  signal: AbortSignal = new AbortController().signal,
): BufferedIO {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, env, signal, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

/** Thrown by a command to end with an exit code after it has written its output (nothing more is printed). */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

// ztunnel's entry point: flags and environment, start, and the process lifecycle (signals, exit codes).
import { CommanderError } from 'commander';
import { MeshError } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { createLogs } from './log.js';
import { createCommand, resolveOptions } from './options.js';
import { startZtunnel, type Ztunnel } from './ztunnel.js';

const command = createCommand().version(manifest.version, '-v, --version', 'print the version').exitOverride();
let raw: Record<string, string | undefined>;
try {
  command.parse(process.argv);
  raw = command.opts();
} catch (error) {
  if (error instanceof CommanderError)
    process.exit(error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2);
  throw error;
}

let options;
try {
  options = resolveOptions(raw);
} catch (error) {
  process.stderr.write(`${error instanceof MeshError ? `${error.code}: ` : ''}${(error as Error).message}\n`);
  process.exit(2);
}

const logs = createLogs({ level: options.logLevel });
const log = logs.scope('ztunnel');
/** Exits once the log is flushed (pino writes asynchronously), or after a second at most. */
const exit = (code: number) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
  logs.root.flush(() => process.exit(code));
};
let ztunnel: Ztunnel | undefined;
let stopping = false;
const stop = (signal: string) => {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    exit(1);
    return;
  }
  stopping = true;
  log.info({ signal }, 'signal received');
  void (ztunnel?.close() ?? Promise.resolve()).then(
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
  ztunnel = await startZtunnel(options, { logs, version: manifest.version, onQuit: () => stop('quitquitquit') });
  if (stopping) await ztunnel.close();
} catch (error) {
  log.fatal(
    { err: error, code: error instanceof MeshError ? error.code : undefined },
    error instanceof MeshError ? `${error.code}: ${error.message}` : 'ztunnel failed to start',
  );
  exit(1);
}

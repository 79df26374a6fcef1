// The waypoint's entry point: flags, start, and the process lifecycle (SIGTERM/SIGINT drain, exit codes).
import { CommanderError } from 'commander';
import { MeshError } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { createLogger } from './log.js';
import { createCommand, resolveOptions } from './options.js';
import { startWaypoint, type RunningWaypoint } from './waypoint.js';

const command = createCommand()
  .option('--seed <n>', 'seed the routing RNG (weighted splits, fault and mirror percentages) for reproducible tests')
  .version(manifest.version, '-v, --version', 'print the version')
  .exitOverride();
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
const seed = raw.seed === undefined ? undefined : Number(raw.seed);

const log = createLogger({ level: options.logLevel });
const exit = (code: number) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
  log.flush(() => process.exit(code));
};
let waypoint: RunningWaypoint | undefined;
let stopping = false;
const stop = (signal: string) => {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    exit(1);
    return;
  }
  stopping = true;
  log.info({ signal }, 'signal received');
  void (waypoint?.close() ?? Promise.resolve()).then(
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
  waypoint = await startWaypoint(
    { ...options, ...(seed !== undefined && Number.isFinite(seed) ? { seed } : {}) },
    { log, version: manifest.version },
  );
  if (stopping) await waypoint.close();
} catch (error) {
  log.fatal(
    { err: error, code: error instanceof MeshError ? error.code : undefined },
    error instanceof MeshError ? `${error.code}: ${error.message}` : 'waypoint failed to start',
  );
  exit(1);
}

// The waypoint's entry point: flags, start, and the process lifecycle (SIGTERM/SIGINT drain, exit codes).
import { CommanderError } from 'commander';
import { MeshError, runProgram } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { createLogger } from './log.js';
import { createCommand, resolveOptions } from './options.js';
import { startWaypoint } from './waypoint.js';

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
await runProgram({
  name: 'waypoint',
  log,
  flushLog: (done) => log.flush(done),
  process,
  start: () =>
    startWaypoint(
      { ...options, ...(seed !== undefined && Number.isFinite(seed) ? { seed } : {}) },
      { log, version: manifest.version },
    ),
});

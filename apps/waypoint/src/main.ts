// The waypoint's entry point: flags, start, and the process lifecycle (SIGTERM/SIGINT drain, exit codes).
import { CommanderError } from 'commander';
import { readProgramOptions, runProgram } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { createLogger } from './log.js';
import { createCommand, resolveOptions } from './options.js';
import { startWaypoint } from './waypoint.js';

const command = createCommand()
  .option('--seed <n>', 'seed the routing RNG (weighted splits, fault and mirror percentages) for reproducible tests')
  .version(manifest.version, '-v, --version', 'print the version')
  .exitOverride();
const { raw, options } = readProgramOptions({
  parse: () => command.parse(process.argv).opts<Record<string, string | undefined>>(),
  // commander has printed the help, the version or what is wrong with the command line.
  usageExitCode: (error) =>
    error instanceof CommanderError
      ? error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
        ? 0
        : 2
      : undefined,
  resolve: resolveOptions,
  process,
});
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

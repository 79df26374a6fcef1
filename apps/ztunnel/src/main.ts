// ztunnel's entry point: flags and environment, start, and the process lifecycle (signals, exit codes).
import { CommanderError } from 'commander';
import { readProgramOptions, runProgram } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { createLogs } from './log.js';
import { createCommand, resolveOptions } from './options.js';
import { startZtunnel } from './ztunnel.js';

const command = createCommand().version(manifest.version, '-v, --version', 'print the version').exitOverride();
const { options } = readProgramOptions({
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

const logs = createLogs({ level: options.logLevel });
await runProgram({
  name: 'ztunnel',
  log: logs.scope('ztunnel'),
  flushLog: (done) => logs.root.flush(done),
  process,
  start: (stop) => startZtunnel(options, { logs, version: manifest.version, onQuit: () => stop('quitquitquit') }),
});

// istiod's entry point: flags and environment, start, and the process lifecycle (signals, exit codes).
import { CommanderError } from 'commander';
import { MeshError, runProgram } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { startIstiod } from './istiod.js';
import { createLogger } from './log.js';
import { createCommand, resolveOptions } from './options.js';

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

const log = createLogger({ level: options.logLevel });
await runProgram({
  name: 'istiod',
  log,
  flushLog: (done) => log.flush(done),
  process,
  start: () => startIstiod(options, { log, version: manifest.version }),
});

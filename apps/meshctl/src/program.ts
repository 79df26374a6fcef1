// The meshctl command tree. Each command module registers itself; this file only assembles them and maps errors
// to the CLI contract: failures print `ERR_…: <message>` as the first stderr line and exit 1; usage errors exit 2.
import { Command, CommanderError } from 'commander';
import { MeshError } from '@mesh/core';
import manifest from '../package.json' with { type: 'json' };
import { registerAnalyze } from './commands/analyze.js';
import { registerCa } from './commands/ca.js';
import { registerCheck } from './commands/check.js';
import { registerHbone } from './commands/hbone.js';
import { registerSpiffe } from './commands/spiffe.js';
import { registerToken } from './commands/token.js';
import { registerUp } from './commands/up.js';
import { registerVersion } from './commands/version.js';
import { registerWaypoint } from './commands/waypoint.js';
import { ExitCode, type CommandIO } from './io.js';

export function createProgram(io: CommandIO): Command {
  const program = new Command('meshctl')
    .description('mesh: the Istio ambient mesh in TypeScript. Run the local mesh, check config, handle certificates.')
    .version(manifest.version, '-v, --version', 'print the meshctl version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  registerVersion(program, io, manifest.version);
  registerSpiffe(program, io);
  registerCa(program, io);
  registerCheck(program, io);
  registerAnalyze(program, io);
  registerHbone(program, io);
  registerToken(program, io);
  registerUp(program, io);
  registerWaypoint(program, io);
  const configure = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

/** Runs meshctl with `args` (without the node and script paths); resolves to the exit code. */
export async function runMeshctl(args: readonly string[], io: CommandIO): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof ExitCode) return error.code;
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof MeshError) {
      io.stderr(`${error.code}: ${error.message}\n`);
      return 1;
    }
    io.stderr(`meshctl: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

// meshctl analyze: validation and the ambient analyzers over a config, with stable codes (docs/analysis.md).
import { Option, type Command } from 'commander';
import { analysisCodes, createSimulator, type AnalysisLevel } from '@mesh/config';
import { ExitCode, type CommandIO } from '../io.js';
import {
  addMeshOptions,
  addOutputOption,
  meshOptions,
  writeOutput,
  type MeshOptions,
  type OutputFormat,
} from '../output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const RANK: Record<AnalysisLevel, number> = { Error: 0, Warning: 1, Info: 2 };

export function registerAnalyze(program: Command, io: CommandIO): void {
  addMeshOptions(
    addOutputOption(
      program
        .command('analyze')
        .description('validate a config and report what does not do what it says (codes in docs/analysis.md)')
        .requiredOption('--config <path>', 'a YAML/JSON file or a directory of them (repeatable)', collect)
        .addOption(
          new Option('--failure-threshold <level>', 'exit 1 when a message at or above this level is found')
            .choices(['Error', 'Warning', 'Info'])
            .default('Error'),
        ),
    ),
  ).action((options: MeshOptions & { config: string[]; output: OutputFormat; failureThreshold: AnalysisLevel }) => {
    const simulator = createSimulator({ paths: options.config, strict: false, ...meshOptions(options) });
    const messages = simulator.analyze();
    if (options.output === 'table' && messages.length === 0) {
      io.stdout(`No validation issues found when analyzing ${options.config.join(', ')}.\n`);
    } else {
      writeOutput(
        io,
        options.output,
        { messages: messages.map((m) => ({ ...m, documentation: `docs/analysis.md#${m.code.toLowerCase()}` })) },
        {
          rows: messages,
          columns: [
            { header: 'LEVEL', value: (m) => m.level },
            { header: 'CODE', value: (m) => m.code },
            { header: 'RESOURCE', value: (m) => m.resource },
            {
              header: 'ORIGIN',
              value: (m) =>
                m.file !== undefined ? `${m.file}${m.document !== undefined ? `#${m.document}` : ''}` : null,
            },
            { header: 'MESSAGE', value: (m) => `${m.path ? `${m.path}: ` : ''}${m.message}` },
          ],
        },
      );
    }
    const failing = messages.filter((m) => RANK[analysisCodes[m.code].level] <= RANK[options.failureThreshold]);
    if (failing.length > 0) throw new ExitCode(1);
  });
}

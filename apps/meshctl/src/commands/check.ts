// meshctl check: the mesh simulator from the command line (public, scriptable contract; keep stable).
//   meshctl check --config <file or dir> [--config …] --requests <file.jsonl> [-o jsonl|table] [--explain]
// One JSON request per line in, one JSON result per line out, same `id`, same order. Exit 0 when every request was
// evaluated, whatever the decisions; exit 1 with file/field errors when the config or a request is invalid (nothing
// is written to stdout then).
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import {
  ConfigError,
  createSimulator,
  formatIssue,
  formatMessage,
  parseCheckRequest,
  type CheckExplanation,
  type CheckRequest,
} from '@mesh/config';
import { MeshError } from '@mesh/core';
import type { CommandIO } from '../io.js';
import { addMeshOptions, meshOptions, renderTable, type MeshOptions } from '../output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface CheckOptions extends MeshOptions {
  config: string[];
  requests: string;
  output: 'jsonl' | 'table';
  explain?: boolean;
}

export function registerCheck(program: Command, io: CommandIO): void {
  const command = program
    .command('check')
    .description(
      'simulate requests against a config: would this connection be allowed, where would this request go, and why (JSONL in, JSONL out)',
    )
    .requiredOption('--config <path>', 'a YAML/JSON file or a directory of them (repeatable)', collect)
    .requiredOption('--requests <file>', 'requests, one JSON object per line (- for standard input)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['jsonl', 'table']).default('jsonl'))
    .option('--explain', 'add an "explain" key with the trace and the analysis messages that concern each request');
  addMeshOptions(command).action((options: CheckOptions) => {
    const simulator = createSimulator({ paths: options.config, ...meshOptions(options) });
    for (const issue of simulator.issues) io.stderr(`warning: ${formatIssue(issue)}\n`);
    const requests = readRequests(options.requests);
    const results: CheckExplanation[] = [];
    const errors: string[] = [];
    for (const { line, value, error } of requests) {
      const where = `${options.requests}:${line}`;
      if (error) {
        errors.push(`${where}: ${error}`);
        continue;
      }
      let request: CheckRequest;
      try {
        request = parseCheckRequest(value);
        results.push(simulator.explain(request));
      } catch (e) {
        if (MeshError.is(e, 'ERR_CONFIG_INVALID_REQUEST')) errors.push(`${where}: ${e.message}`);
        else throw e;
      }
    }
    if (errors.length > 0)
      throw new ConfigError('ERR_CONFIG_INVALID_REQUEST', `${errors.length} invalid request(s):\n${errors.join('\n')}`);
    if (options.output === 'table') {
      io.stdout(
        renderTable(results, [
          { header: 'ID', value: (r) => r.result.id },
          { header: 'KIND', value: (r) => ('decision' in r.result ? 'authz' : 'route') },
          { header: 'RESULT', value: (r) => ('decision' in r.result ? r.result.decision : r.result.status) },
          { header: 'POLICY/ROUTE', value: (r) => ('decision' in r.result ? r.result.policy : r.result.route) },
          {
            header: 'BACKEND',
            value: (r) =>
              'backends' in r.result && r.result.backends
                ? r.result.backends
                    .map(
                      (b) =>
                        `${b.host}:${b.port}${b.subset ? `/${b.subset}` : ''}${r.result && b.weight < 1 ? ` (${Math.round(b.weight * 1000) / 10}%)` : ''}`,
                    )
                    .join(', ')
                : null,
          },
          { header: 'REASON', value: (r) => r.result.reason },
        ]),
      );
      if (options.explain) for (const r of results) io.stdout(`\n${r.text}\n`);
      return;
    }
    for (const r of results) {
      const line = options.explain
        ? {
            ...r.result,
            explain: {
              text: r.text,
              resolved: r.resolved,
              messages: r.messages.map(formatMessage),
              ...(r.hints?.length ? { hints: r.hints } : {}),
            },
          }
        : r.result;
      io.stdout(`${JSON.stringify(line)}\n`);
    }
  });
}

function readRequests(path: string): { line: number; value?: unknown; error?: string }[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_READ_FAILED', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  const out: { line: number; value?: unknown; error?: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    try {
      out.push({ line: i + 1, value: JSON.parse(s) as unknown });
    } catch (e) {
      out.push({ line: i + 1, error: `not valid JSON: ${(e as Error).message}` });
    }
  });
  return out;
}

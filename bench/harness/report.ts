// Prints a benchmark's table and saves the same numbers as JSON under bench/results/ (not committed).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Cell = string | number | null;

export interface Report {
  /** e.g. "ca". */
  name: string;
  title: string;
  columns: string[];
  rows: Cell[][];
  /** Free-form facts: peer versions, settings, targets and whether they were met. */
  notes?: string[];
}

const format = (cell: Cell) =>
  cell === null
    ? '-'
    : typeof cell === 'number'
      ? Number.isInteger(cell)
        ? cell.toLocaleString('en-US')
        : cell.toLocaleString('en-US', { maximumFractionDigits: Math.abs(cell) < 10 ? 2 : 0 })
      : cell;

export function renderReport(report: Report): string {
  const cells = report.rows.map((row) => row.map(format));
  const widths = report.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    `${report.title}`,
    '',
    line(report.columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    ...(report.notes?.length ? ['', ...report.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

export function publish(report: Report): void {
  process.stdout.write(renderReport(report));
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' };
  writeFileSync(join(dir, `${report.name}-${stamp}.json`), `${JSON.stringify({ ...report, machine }, null, 2)}\n`);
}

// Reads every project's error catalog (src/errors.ts, export `errorCodes`) and renders docs/errors.md from them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface CodeDoc {
  summary: string;
  fix: string;
}

export interface ProjectCatalog {
  /** Package name, e.g. @mesh/spiffe. */
  name: string;
  /** Directory relative to the repository root, e.g. packages/spiffe. */
  dir: string;
  /** The code prefix this project owns, e.g. ERR_SPIFFE_. */
  prefix: string;
  codes: Record<string, CodeDoc>;
}

export async function collectCatalogs(root: string): Promise<ProjectCatalog[]> {
  const catalogs: ProjectCatalog[] = [];
  for (const group of ['packages', 'apps']) {
    const groupDir = join(root, group);
    if (!existsSync(groupDir)) continue;
    for (const entry of readdirSync(groupDir).sort()) {
      const errorsFile = join(groupDir, entry, 'src', 'errors.ts');
      if (!existsSync(errorsFile)) continue;
      const manifest = JSON.parse(readFileSync(join(groupDir, entry, 'package.json'), 'utf8')) as { name: string };
      const mod = (await import(pathToFileURL(errorsFile).href)) as { errorCodes?: Record<string, CodeDoc> };
      if (!mod.errorCodes) throw new Error(`${relative(root, errorsFile)} does not export errorCodes`);
      catalogs.push({
        name: manifest.name,
        dir: `${group}/${entry}`,
        prefix: `ERR_${entry.replace(/-/g, '_').toUpperCase()}_`,
        codes: { ...mod.errorCodes },
      });
    }
  }
  return catalogs;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderErrorsDoc(catalogs: ProjectCatalog[]): string {
  const lines = [
    '# Error codes',
    '',
    'Every error a mesh package or program throws is a `MeshError` (from `@mesh/core`) with a stable `code`:',
    '`ERR_<PACKAGE>_<WHAT>`. Codes never change meaning; a removed code is never reused. Match on `code`',
    '(`MeshError.is(err, "ERR_…")`), not on messages. CLIs print `ERR_…: <message>` as the first line of stderr.',
    '',
    "This file is generated from each project's `src/errors.ts` by `pnpm gen:errors`; a test fails when the two",
    'disagree, when a code is declared but never thrown, or when code throws a code no catalog declares.',
    '',
  ];
  for (const catalog of catalogs) {
    const codes = Object.entries(catalog.codes);
    if (codes.length === 0) continue;
    lines.push(`## ${catalog.name}`, '', '| Code | What happened | What to do |', '|---|---|---|');
    for (const [code, doc] of codes) lines.push(`| \`${code}\` | ${cell(doc.summary)} | ${cell(doc.fix)} |`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'gen' && entry.name !== 'node_modules') walk(path);
      } else if (/\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) out.push(path);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Problems that make the catalogs untrustworthy as documentation. */
export function lintCatalogs(root: string, catalogs: ProjectCatalog[]): string[] {
  const problems: string[] = [];
  const declared = new Map<string, string>();
  for (const catalog of catalogs) {
    for (const [code, doc] of Object.entries(catalog.codes)) {
      if (!code.startsWith(catalog.prefix) || !/^ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/.test(code)) {
        problems.push(`${catalog.dir}: ${code} must be upper snake case and start with ${catalog.prefix}`);
      }
      if (declared.has(code)) problems.push(`${code} is declared by both ${declared.get(code)} and ${catalog.dir}`);
      declared.set(code, catalog.dir);
      for (const key of ['summary', 'fix'] as const) {
        if (!doc[key]?.trim().endsWith('.'))
          problems.push(`${catalog.dir}: ${code}.${key} must be a sentence ending in "."`);
      }
    }
  }
  const used = new Set<string>();
  for (const catalog of catalogs) {
    for (const file of sourceFiles(join(root, catalog.dir, 'src'))) {
      if (file.endsWith('/errors.ts')) continue;
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/['"`](ERR_[A-Z0-9_]+)['"`]/g)) {
        used.add(match[1]!);
        if (!declared.has(match[1]!))
          problems.push(`${relative(root, file)} uses ${match[1]}, which no catalog declares`);
      }
    }
  }
  // Codes thrown from the catalog file itself (helpers next to the table) count as used.
  for (const catalog of catalogs) {
    const text = readFileSync(join(root, catalog.dir, 'src', 'errors.ts'), 'utf8');
    const body = text.slice(text.indexOf('defineErrorCatalog(') + 1);
    for (const match of body.matchAll(/new \w+Error\(\s*['"`](ERR_[A-Z0-9_]+)['"`]/g)) used.add(match[1]!);
  }
  for (const [code, dir] of declared)
    if (!used.has(code)) problems.push(`${dir}: ${code} is declared but never thrown`);
  return problems;
}

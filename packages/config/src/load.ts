// Parsing: YAML (multi-document) and JSON text into validated objects, with the file and document index of each.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from './errors.js';
import type { ConfigObject } from './resources.js';
import { formatIssue, validateObject, type ConfigIssue, type ValidateOptions } from './validate.js';

export interface ParsedDocument {
  object: unknown;
  file?: string;
  /** 0-based index of the YAML document in its file (the items of a `kind: List` share it). */
  document: number;
}

export interface LoadResult {
  objects: ConfigObject[];
  /** Every error and warning; objects with errors are left out of `objects`. */
  issues: ConfigIssue[];
}

/** The extensions a directory store reads. */
export const CONFIG_EXTENSIONS: ReadonlySet<string> = new Set(['.yaml', '.yml', '.json']);

/**
 * Splits YAML or JSON text into documents (JSON is YAML). Empty documents are skipped; `kind: List` is flattened.
 * Syntax errors are returned as issues naming the line and column, never thrown.
 */
export function parseDocuments(
  text: string,
  options: { file?: string } = {},
): {
  documents: ParsedDocument[];
  issues: ConfigIssue[];
} {
  const documents: ParsedDocument[] = [];
  const issues: ConfigIssue[] = [];
  const file = options.file !== undefined ? { file: options.file } : {};
  parseAllDocuments(text).forEach((doc, document) => {
    const error = doc.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      issues.push({
        severity: 'error',
        path: '',
        message: `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${error.message.split('\n')[0]}`,
        ...file,
        document,
      });
      return;
    }
    const object: unknown = doc.toJS({ maxAliasCount: 100 });
    if (object === null || object === undefined) return;
    const o = object as { kind?: unknown; items?: unknown };
    if (o.kind === 'List' && Array.isArray(o.items)) {
      for (const item of o.items) documents.push({ object: item, ...file, document });
    } else documents.push({ object, ...file, document });
  });
  return { documents, issues };
}

/** Parses and validates text. */
export function loadText(text: string, options: { file?: string } & ValidateOptions = {}): LoadResult {
  const { documents, issues } = parseDocuments(text, options);
  const objects: ConfigObject[] = [];
  for (const d of documents) {
    const r = validateObject(
      d.object,
      { ...(d.file !== undefined ? { file: d.file } : {}), document: d.document },
      options,
    );
    issues.push(...r.issues);
    if (r.object) objects.push(r.object);
  }
  return { objects, issues };
}

/** The config files under a path: the path itself if it is a file, else every .yaml/.yml/.json below it, sorted. */
export function listConfigFiles(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_READ_FAILED', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  if (!stat.isDirectory()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (CONFIG_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(full);
    }
  };
  walk(path);
  return out.sort();
}

/** Reads and validates files and directories (synchronously; for CLIs and tests). */
export function loadFiles(paths: readonly string[], options: ValidateOptions = {}): LoadResult {
  const objects: ConfigObject[] = [];
  const issues: ConfigIssue[] = [];
  for (const path of paths) {
    for (const file of listConfigFiles(path)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (cause) {
        throw new ConfigError('ERR_CONFIG_READ_FAILED', `cannot read ${file}: ${(cause as Error).message}`, { cause });
      }
      const r = loadText(text, { ...options, file });
      objects.push(...r.objects);
      issues.push(...r.issues);
    }
  }
  return { objects, issues };
}

/** Throws ERR_CONFIG_INVALID when `issues` has errors. */
export function assertNoErrors(issues: readonly ConfigIssue[]): void {
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length > 0)
    throw new ConfigError('ERR_CONFIG_INVALID', errors.map(formatIssue).join('\n'), { details: { issues: errors } });
}

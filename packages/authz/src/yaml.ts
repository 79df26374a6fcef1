// Multi-document YAML (and `kind: List`) into objects with their origin, for validation messages that point at them.
import { parseAllDocuments } from 'yaml';
import { AuthzError } from './errors.js';

export interface LoadedDocument {
  object: unknown;
  file?: string;
  /** 0-based index of the document in the file (items of a `kind: List` share their document's index). */
  document?: number;
}

/**
 * Parses YAML text with one or more documents. Empty documents are skipped; `kind: List` is flattened. Throws
 * ERR_AUTHZ_INVALID_YAML with file, document, line and column on a syntax error.
 */
export function parseYaml(text: string, options: { file?: string } = {}): LoadedDocument[] {
  const out: LoadedDocument[] = [];
  parseAllDocuments(text).forEach((doc, document) => {
    const error = doc.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      const where = `${options.file ?? '<yaml>'}${pos ? `:${pos.line}:${pos.col}` : ''}`;
      throw new AuthzError(
        'ERR_AUTHZ_INVALID_YAML',
        `${where} (document ${document}): ${error.message.split('\n')[0]}`,
        {
          details: {
            ...(options.file !== undefined ? { file: options.file } : {}),
            document,
            ...(pos ? { line: pos.line, column: pos.col } : {}),
          },
        },
      );
    }
    const object: unknown = doc.toJS();
    if (object === null || object === undefined) return;
    const origin = { ...(options.file !== undefined ? { file: options.file } : {}), document };
    const o = object as { kind?: unknown; items?: unknown };
    if (o.kind === 'List' && Array.isArray(o.items)) {
      for (const item of o.items) out.push({ object: item, ...origin });
    } else {
      out.push({ object, ...origin });
    }
  });
  return out;
}

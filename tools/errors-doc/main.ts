// pnpm gen:errors — regenerates docs/errors.md from the error catalogs (and reports catalog problems).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectCatalogs, lintCatalogs, renderErrorsDoc } from './catalog.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = join(root, 'docs', 'errors.md');
const catalogs = await collectCatalogs(root);
const problems = lintCatalogs(root, catalogs);
for (const problem of problems) console.error(`warning: ${problem}`);
const rendered = renderErrorsDoc(catalogs);
if (process.argv.includes('--write')) {
  writeFileSync(target, rendered);
  const count = catalogs.reduce((n, c) => n + Object.keys(c.codes).length, 0);
  console.log(`docs/errors.md: ${count} codes from ${catalogs.length} projects`);
} else if (readFileSync(target, 'utf8') !== rendered) {
  console.error('docs/errors.md is out of date: run `pnpm gen:errors`');
  process.exit(1);
}

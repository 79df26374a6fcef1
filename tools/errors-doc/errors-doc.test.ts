// docs/errors.md and the error catalogs in code must agree, and the catalogs must match what the code throws.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectCatalogs, lintCatalogs, renderErrorsDoc } from './catalog.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('docs/errors.md', async () => {
  const catalogs = await collectCatalogs(root);

  it('is generated from the catalogs (run `pnpm gen:errors` after changing one)', () => {
    expect(readFileSync(join(root, 'docs', 'errors.md'), 'utf8')).toBe(renderErrorsDoc(catalogs));
  });

  it('catalogs are well formed, unique, and match what the code throws', () => {
    expect(lintCatalogs(root, catalogs)).toEqual([]);
  });

  it('every error class declares its own brand', () => {
    for (const catalog of catalogs) {
      const text = readFileSync(join(root, catalog.dir, 'src', 'errors.ts'), 'utf8');
      const classes = [...text.matchAll(/class (\w+) extends MeshError/g)].map((m) => m[1]);
      for (const name of classes) {
        expect(text, `${catalog.dir}: ${name}`).toContain(
          `static override readonly brand: string = '${catalog.name}.${name}'`,
        );
      }
    }
  });
});

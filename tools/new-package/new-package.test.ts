// The generator produces a package that follows the house layout and passes its own checks' preconditions.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPackage } from './main.ts';

describe('new-package', () => {
  const roots: string[] = [];
  const tempRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'mesh-new-package-'));
    roots.push(root);
    return root;
  };
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  it('creates a library with dual exports, tags, error catalog and a runnable README example', () => {
    const root = tempRoot();
    const created = createPackage({
      name: 'rate-limit',
      layer: 'domain',
      description: 'Rate limiting decisions.',
      root,
    });
    expect(created).toEqual(
      expect.arrayContaining([
        'packages/rate-limit/package.json',
        'packages/rate-limit/src/errors.ts',
        'packages/rate-limit/src/index.ts',
        'packages/rate-limit/README.md',
        'packages/rate-limit/eslint.config.mjs',
        'packages/rate-limit/vitest.config.ts',
        'packages/rate-limit/tsup.config.ts',
      ]),
    );
    const manifest = JSON.parse(readFileSync(join(root, 'packages/rate-limit/package.json'), 'utf8'));
    expect(manifest.name).toBe('@mesh/rate-limit');
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.engines.node).toBe('>=20.19');
    expect(manifest.nx.tags).toEqual(['layer:domain', 'pkg:rate-limit']);
    // types first inside each condition; the source condition ahead of them
    expect(Object.keys(manifest.exports['.'])).toEqual(['@mesh/source', 'import', 'require']);
    expect(Object.keys(manifest.exports['.'].import)[0]).toBe('types');
    expect(Object.keys(manifest.exports['.'].require)[0]).toBe('types');
    expect(manifest.scripts['test:build']).toContain('attw --pack');
    const errors = readFileSync(join(root, 'packages/rate-limit/src/errors.ts'), 'utf8');
    expect(errors).toContain("static override readonly brand: string = '@mesh/rate-limit.RateLimitError'");
    const readme = readFileSync(join(root, 'packages/rate-limit/README.md'), 'utf8');
    expect(readme).toMatch(/```ts\n[\s\S]*RateLimitError[\s\S]*```/);
    expect(readFileSync(join(root, 'packages/rate-limit/src/index.ts'), 'utf8')).toContain('rateLimitErrorCodes');
  });

  it('creates a private app with a bin that refuses to run unbuilt', () => {
    const root = tempRoot();
    createPackage({ name: 'gateway', layer: 'app', description: 'An ingress gateway.', root });
    const manifest = JSON.parse(readFileSync(join(root, 'apps/gateway/package.json'), 'utf8'));
    expect(manifest.private).toBe(true);
    expect(manifest.nx.tags).toContain('type:app');
    expect(existsSync(join(root, 'apps/gateway/bin/gateway.mjs'))).toBe(true);
  });

  it('leaves existing files alone and validates its input', () => {
    const root = tempRoot();
    createPackage({ name: 'x', layer: 'runtime', description: 'X.', root });
    expect(createPackage({ name: 'x', layer: 'runtime', description: 'X.', root })).toEqual([]);
    expect(() => createPackage({ name: 'Bad_Name', layer: 'runtime', description: 'X.', root })).toThrow(/kebab-case/);
    expect(() => createPackage({ name: 'y', layer: 'nope' as never, description: 'X.', root })).toThrow(
      /invalid layer/,
    );
  });
});

// Creates a package or app with the house layout in one command:
//   pnpm new-package <name> --layer base|api|domain|runtime|app --description "<one line>"
// Existing files are left alone, so it can also fill in what an older package lacks.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const layers = ['base', 'api', 'domain', 'runtime', 'app'] as const;
export type Layer = (typeof layers)[number];

export interface NewPackageOptions {
  name: string;
  layer: Layer;
  description: string;
  /** Repository root; defaults to this checkout. */
  root?: string;
}

const pascal = (name: string) => name.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
const upper = (name: string) => name.replace(/-/g, '_').toUpperCase();

function libraryFiles({ name, layer, description }: NewPackageOptions): Record<string, string> {
  const tags = [`layer:${layer}`, `pkg:${name}`];
  const manifest = {
    name: `@mesh/${name}`,
    version: '0.0.0',
    description,
    license: 'Apache-2.0',
    type: 'module',
    exports: {
      '.': {
        '@mesh/source': './src/index.ts',
        import: { types: './dist/index.d.ts', default: './dist/index.js' },
        require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
      },
      './package.json': './package.json',
    },
    main: './dist/index.cjs',
    module: './dist/index.js',
    types: './dist/index.d.ts',
    files: ['dist', 'src', '!src/**/*.test.ts', 'README.md', 'CHANGELOG.md'],
    sideEffects: false,
    engines: { node: '>=20.19' },
    repository: { type: 'git', url: 'git+https://github.com/mesh-dev/mesh.git', directory: `packages/${name}` },
    publishConfig: { access: 'public', provenance: true },
    scripts: {
      build: 'tsup',
      typecheck: 'tsc -p tsconfig.json',
      lint: 'eslint .',
      test: 'vitest run',
      'test:build': 'publint --strict && attw --pack . --profile node16 && node ../../tools/build/smoke-import.mjs',
    },
    dependencies: name === 'core' ? {} : { '@mesh/core': 'workspace:^' },
    nx: { tags },
  };
  const Pascal = pascal(name);
  return {
    'package.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'tsconfig.json': `${JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src', 'test', '*.config.ts'] }, null, 2)}\n`,
    'tsup.config.ts': `import { libraryBuild } from '../../tools/build/tsup.ts';\n\nexport default libraryBuild({ entry: { index: 'src/index.ts' } });\n`,
    'vitest.config.ts': `import { meshProject } from '../../tools/vitest.shared.ts';\n\nexport default meshProject(import.meta.url);\n`,
    'eslint.config.mjs': `import { meshEslintConfig } from '../../tools/eslint/config.mjs';\n\nexport default meshEslintConfig(import.meta.url);\n`,
    'src/errors.ts': [
      `import { defineErrorCatalog, MeshError } from '@mesh/core';`,
      ``,
      `/** Every error code @mesh/${name} throws; docs/errors.md is generated from this table. */`,
      `export const errorCodes = defineErrorCatalog({});`,
      ``,
      `export type ${Pascal}ErrorCode = keyof typeof errorCodes;`,
      ``,
      `export class ${Pascal}Error extends MeshError<${Pascal}ErrorCode> {`,
      `  static override readonly brand: string = '@mesh/${name}.${Pascal}Error';`,
      `}`,
      ``,
    ].join('\n'),
    'src/index.ts': `export { ${Pascal}Error, errorCodes as ${name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())}ErrorCodes, type ${Pascal}ErrorCode } from './errors.js';\n`,
    'README.md': [
      `# @mesh/${name}`,
      ``,
      description,
      ``,
      `Status: experimental. Node >= 20.19. Layer: ${layer} (see docs/ARCHITECTURE.md).`,
      ``,
      '```sh',
      `npm install @mesh/${name}`,
      '```',
      ``,
      `## Example`,
      ``,
      '```ts',
      `import assert from 'node:assert/strict';`,
      `import { ${Pascal}Error } from '@mesh/${name}';`,
      ``,
      `assert.equal(typeof ${Pascal}Error, 'function');`,
      '```',
      ``,
      `Errors carry stable \`ERR_${upper(name)}_*\` codes, listed in [docs/errors.md](../../docs/errors.md).`,
      ``,
    ].join('\n'),
  };
}

function appFiles({ name, description }: NewPackageOptions): Record<string, string> {
  const manifest = {
    name: `@mesh/app-${name}`,
    version: '0.0.0',
    private: true,
    description,
    type: 'module',
    bin: { [name]: `./bin/${name}.mjs` },
    engines: { node: '>=20.19' },
    scripts: {
      build: 'tsup',
      typecheck: 'tsc -p tsconfig.json',
      lint: 'eslint .',
      test: 'vitest run',
    },
    dependencies: { '@mesh/core': 'workspace:^' },
    nx: { tags: ['type:app', `app:${name}`] },
  };
  return {
    'package.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'tsconfig.json': `${JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src', 'test', '*.config.ts'] }, null, 2)}\n`,
    'tsup.config.ts': `import { appBuild } from '../../tools/build/tsup.ts';\n\nexport default appBuild({ entry: { main: 'src/main.ts' } });\n`,
    'vitest.config.ts': `import { meshProject } from '../../tools/vitest.shared.ts';\n\nexport default meshProject(import.meta.url);\n`,
    'eslint.config.mjs': `import { meshEslintConfig } from '../../tools/eslint/config.mjs';\n\nexport default meshEslintConfig(import.meta.url);\n`,
    [`bin/${name}.mjs`]: [
      `#!/usr/bin/env node`,
      `// Runs the built program; \`pnpm build\` (or the README's first command) produces dist/.`,
      `import { existsSync } from 'node:fs';`,
      ``,
      `const entry = new URL('../dist/main.js', import.meta.url);`,
      `if (!existsSync(entry)) {`,
      `  console.error('${name} is not built yet: run \`pnpm build\` (or \`npm run setup\`) from the repository root.');`,
      `  process.exit(1);`,
      `}`,
      `await import(entry.href);`,
      ``,
    ].join('\n'),
    'src/main.ts': `console.log('${name}');\n`,
    'README.md': `# ${name}\n\n${description}\n\nA thin program: it wires @mesh packages together and owns flags and process lifecycle, nothing reusable.\n`,
  };
}

export function createPackage(options: NewPackageOptions): string[] {
  if (!/^[a-z][a-z0-9-]*$/.test(options.name)) throw new Error(`invalid name "${options.name}": use kebab-case`);
  if (!layers.includes(options.layer)) throw new Error(`invalid layer "${options.layer}": one of ${layers.join(', ')}`);
  const root = options.root ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = join(root, options.layer === 'app' ? 'apps' : 'packages', options.name);
  const files = options.layer === 'app' ? appFiles(options) : libraryFiles(options);
  const created: string[] = [];
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content, { mode: path.startsWith('bin/') ? 0o755 : 0o644 });
    created.push(relative(root, target));
  }
  return created;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { layer: { type: 'string' }, description: { type: 'string' } },
  });
  const [name] = positionals;
  if (!name || !values.layer || !values.description) {
    console.error('usage: pnpm new-package <name> --layer base|api|domain|runtime|app --description "<one line>"');
    process.exit(2);
  }
  const created = createPackage({ name, layer: values.layer as Layer, description: values.description });
  console.log(created.length ? created.map((f) => `created ${f}`).join('\n') : 'nothing to create: every file exists');
  console.log('next: pnpm install, then add a changeset (pnpm changeset) for the new package.');
}

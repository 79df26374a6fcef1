// Shared ESLint flat config. Each project has a one-line eslint.config.mjs that calls meshEslintConfig(import.meta.url);
// the project's layer comes from the nx tags in its package.json, so the layering table lives in one place (below) and
// the tags in one place (package.json).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import nxPlugin from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * The layering table of docs/ARCHITECTURE.md as nx dependency constraints.
 * `pkg:spiffe` is the one domain package other domain packages may use (for identity types).
 */
export const dependencyConstraints = [
  { sourceTag: 'layer:base', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'layer:api', onlyDependOnLibsWithTags: ['layer:base'] },
  { sourceTag: 'layer:domain', onlyDependOnLibsWithTags: ['layer:base', 'layer:api', 'pkg:spiffe'] },
  { sourceTag: 'layer:runtime', onlyDependOnLibsWithTags: ['layer:base', 'layer:api', 'layer:domain'] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['layer:base', 'layer:api', 'layer:domain', 'layer:runtime'] },
  { sourceTag: 'scope:internal', onlyDependOnLibsWithTags: ['*'] },
];

// e2e/ holds the apps' end-to-end suites and their helpers: test code, so it may use internal tooling (@mesh/tools).
const testFiles = ['**/*.test.ts', '**/test/**/*.ts', '**/testing/**/*.ts', '**/e2e/**/*.ts'];
const toolingFiles = ['*.config.ts', '*.config.mjs', 'eslint.config.mjs'];

/** Modules that do I/O or read ambient time; domain code gets these injected instead. */
const domainBannedModules = [
  'net',
  'tls',
  'http',
  'https',
  'http2',
  'dns',
  'dgram',
  'fs',
  'fs/promises',
  'child_process',
  'cluster',
  'worker_threads',
  'timers',
  'timers/promises',
].flatMap((name) => [name, `node:${name}`]);

const deepImportPatterns = [
  {
    group: ['@mesh/*/src/*', '@mesh/*/src', '@mesh/*/dist/*', '@mesh/*/dist'],
    message: 'Import a package through its exports map, never its src/ or dist/.',
  },
  {
    group: ['**/packages/*/src/**', '**/apps/*/src/**'],
    message: 'Import another project by its package name, never by a relative path.',
  },
];

function readTags(projectDir) {
  const manifest = JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8'));
  return manifest.nx?.tags ?? [];
}

/**
 * @param {string} configUrl import.meta.url of the project's eslint.config.mjs
 */
export function meshEslintConfig(configUrl) {
  const projectDir = dirname(fileURLToPath(configUrl));
  const tags = readTags(projectDir);
  const isDomain = tags.includes('layer:domain');
  const isApi = tags.includes('layer:api');

  const boundaries = (allowInternal) => [
    'error',
    {
      enforceBuildableLibDependency: false,
      banTransitiveDependencies: true,
      checkDynamicDependenciesExceptions: [],
      depConstraints: allowInternal
        ? dependencyConstraints.map((c) => ({
            ...c,
            onlyDependOnLibsWithTags: c.onlyDependOnLibsWithTags.includes('*')
              ? c.onlyDependOnLibsWithTags
              : [...c.onlyDependOnLibsWithTags, 'scope:internal'],
          }))
        : dependencyConstraints,
    },
  ];

  const configs = [
    { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'src/gen/**', '.readme-examples/**', '**/fixtures/**'] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
      files: ['**/*.ts', '**/*.mts', '**/*.mjs'],
      plugins: { '@nx': nxPlugin },
      languageOptions: {
        ecmaVersion: 2023,
        sourceType: 'module',
        parserOptions: { tsconfigRootDir: projectDir },
        globals: {
          process: 'readonly',
          Buffer: 'readonly',
          console: 'readonly',
          URL: 'readonly',
          setTimeout: 'readonly',
          clearTimeout: 'readonly',
          setInterval: 'readonly',
          clearInterval: 'readonly',
          setImmediate: 'readonly',
          queueMicrotask: 'readonly',
          AbortController: 'readonly',
          AbortSignal: 'readonly',
          TextEncoder: 'readonly',
          TextDecoder: 'readonly',
          structuredClone: 'readonly',
          performance: 'readonly',
          fetch: 'readonly',
        },
      },
      rules: {
        '@nx/enforce-module-boundaries': boundaries(false),
        'no-restricted-imports': ['error', { patterns: deepImportPatterns }],
        '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
        '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
        'no-constant-condition': ['error', { checkLoops: false }],
      },
    },
    {
      files: testFiles,
      rules: {
        '@nx/enforce-module-boundaries': boundaries(true),
        '@typescript-eslint/no-non-null-assertion': 'off',
      },
    },
    {
      files: toolingFiles,
      rules: { '@nx/enforce-module-boundaries': 'off' },
    },
  ];

  if (isDomain) {
    configs.push({
      files: ['src/**/*.ts'],
      ignores: testFiles,
      rules: {
        'no-restricted-imports': [
          'error',
          {
            paths: domainBannedModules.map((name) => ({
              name,
              message: 'Domain packages make decisions without I/O: take what you need as an injected parameter.',
            })),
            patterns: [
              ...deepImportPatterns,
              {
                group: ['@mesh/api', '@mesh/api/*'],
                message: 'Domain packages touch wire types only in their src/xds/ converter modules.',
              },
            ],
          },
        ],
        'no-restricted-globals': [
          'error',
          ...['setTimeout', 'setInterval', 'setImmediate', 'fetch'].map((name) => ({
            name,
            message: 'Domain code is pure: inject a clock or scheduler instead.',
          })),
        ],
        'no-restricted-properties': [
          'error',
          { object: 'Math', property: 'random', message: 'Take an injected Rng (see @mesh/core).' },
          { object: 'Date', property: 'now', message: 'Take an injected Clock (see @mesh/core).' },
          { object: 'performance', property: 'now', message: 'Take an injected Clock (see @mesh/core).' },
        ],
        'no-restricted-syntax': [
          'error',
          {
            selector: "NewExpression[callee.name='Date'][arguments.length=0]",
            message: 'Take an injected Clock (see @mesh/core).',
          },
        ],
      },
    });
    // The converter modules are where a domain package meets the wire format.
    configs.push({
      files: ['src/xds/**/*.ts'],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            paths: domainBannedModules.map((name) => ({ name, message: 'Converters are pure too.' })),
            patterns: deepImportPatterns,
          },
        ],
      },
    });
  }

  if (isApi) {
    configs.push({
      files: ['src/**/*.ts'],
      ignores: testFiles,
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              ...deepImportPatterns,
              {
                regex: '^(?!(protobufjs|long|@mesh/core)(/|$)|\\.|node:buffer$)',
                message: '@mesh/api depends on protobufjs (and the error base) only.',
              },
            ],
          },
        ],
      },
    });
  }

  return configs;
}
